// `nncompress prune MODEL -o OUT --method channels|magnitude|autoprune [...] [--data D [--epochs N]]`:
// structured (channels removed for real, scored by a criterion or by AutoPrune) or unstructured
// (magnitude, or AutoPrune's trained auxiliary parameters) pruning, optional fine-tuning with
// pruned weights kept at zero, a per-layer table, sizes and accuracy before/after.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <ATen/ATen.h>

#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "nncompress/analysis/cost.h"
#include "nncompress/analysis/storage.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/passes/prune/autoprune.h"
#include "nncompress/passes/prune/channel_pruning.h"
#include "nncompress/passes/prune/magnitude_pruning.h"
#include "nncompress/runtime/tensor_convert.h"
#include "nncompress/train/trainer.h"

namespace nncompress::cli {

namespace {

struct PruneCommand {
  std::string model, output, method = "channels", val, sparse_format = "dense", granularity = "weights";
  passes::ChannelPruneOptions channels;
  passes::MagnitudePruneOptions magnitude;
  passes::AutoPruneOptions autoprune;
  DataOptions data;
  int epochs = 0;
  double lr = 0.01;
  uint64_t seed = 0;
  bool gradual = false;
  bool distill = false;
  bool sparsity_given = false;
  bool json = false;
};

// The fine-tuning run after (or, for AutoPrune, during) pruning.
train::TrainOptions training_options(const PruneCommand& o, const runtime::Executor* teacher) {
  train::TrainOptions t;
  t.epochs = o.epochs;
  t.lr = o.lr;
  t.seed = o.seed;
  t.batch = o.data.batch;
  t.preprocess = preprocess_of(o.data);
  t.teacher = teacher;
  t.progress = training_progress(o.epochs);
  t.epoch_done = epoch_log(o.epochs);
  return t;
}

// A per-layer row of the table, whatever the method.
struct Row {
  std::string name, op;
  int64_t before = 0, after = 0;  // channels (channels) or non-zero weights (magnitude)
  int64_t params_before = 0, params_after = 0;
};

std::vector<Row> channel_rows(const passes::ChannelPruneReport& report) {
  std::vector<Row> rows;
  for (const auto& l : report.layers) rows.push_back({l.node, l.op, l.channels_before, l.channels_after, l.params_before, l.params_after});
  return rows;
}

struct Sizes {
  uint64_t dense = 0;     // float bytes of all initializers, zeros included
  int64_t csr = 0;        // weights of rank >= 2 in CSR, other tensors dense
  int64_t relative = 0;   // weights of rank >= 2 with 4-bit relative indices, other tensors dense
  int64_t nonzeros = 0;
};

Sizes sizes_of(const ir::Model& model) {
  Sizes s;
  for (const ir::Value* v : model.graph.initializers()) {
    const ir::Tensor& t = *v->initializer();
    s.dense += t.byte_size();
    if (!ir::is_floating_point(t.dtype())) {
      s.csr += t.byte_size();
      s.relative += t.byte_size();
      continue;
    }
    const at::Tensor a = runtime::to_aten(t);
    s.nonzeros += a.ne(0).sum().item<int64_t>();
    const bool matrix = t.dims().size() >= 2;
    s.csr += matrix ? analysis::csr_bytes(a, ir::bit_width(t.dtype())) : t.byte_size();
    s.relative += matrix ? analysis::relative_index_bytes(a, 4, ir::bit_width(t.dtype())) : t.byte_size();
  }
  return s;
}

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

}  // namespace

void register_prune(CLI::App& app, Action& action) {
  auto o = std::make_shared<PruneCommand>();
  CLI::App* cmd = app.add_subcommand("prune", "Prune a model: remove channels for real, or zero the smallest weights");
  cmd->add_option("model", o->model, "Input .onnx file")->required();
  cmd->add_option("-o,--output", o->output, "Output .onnx file (never the input)")->required();
  cmd->add_option("--method", o->method,
                  "channels: structured, real removal; magnitude: unstructured; autoprune: learned while training "
                  "(needs --data and --epochs; unstructured, or structured with --granularity channels)")
      ->check(CLI::IsMember({"channels", "magnitude", "autoprune"}))
      ->capture_default_str();
  cmd->add_option("--criterion", o->channels.criterion, "Channel importance (channels)")
      ->check(CLI::IsMember({"l1", "l2", "bn-scale", "fpgm", "taylor"}))
      ->capture_default_str();
  cmd->add_option("--ratio", o->channels.ratio, "Fraction of each prunable group's channels to remove (channels)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--target-macs", o->channels.target_macs, "Prune globally to keep this fraction of the MACs (channel pruning)")
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--target-params", o->channels.target_params, "Prune globally to keep this fraction of the params (channel pruning)")
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--keep", o->channels.keep, "Node names left alone");
  cmd->add_flag("!--prune-first-conv", o->channels.keep_first_conv, "Allow pruning the first convolution's channels");
  cmd->add_option("--round-to", o->channels.round_to, "Keep channel counts multiples of N (channel pruning)")->check(CLI::PositiveNumber);
  cmd->add_option("--sparsity", o->magnitude.sparsity,
                  "Fraction of weights to zero (magnitude; autoprune: a target, else lambda decides)")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  cmd->add_option("--lambda", o->autoprune.lambda, "Regularization pull on the auxiliary parameters (autoprune)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--aux-lr", o->autoprune.aux_lr, "Step size of the auxiliary parameters (autoprune)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--aux-init", o->autoprune.aux_init, "Initial auxiliary parameters (autoprune)")
      ->check(CLI::IsMember({"magnitude", "constant"}))
      ->capture_default_str();
  cmd->add_option("--search-fraction", o->autoprune.search_fraction,
                  "Share of the training steps in which the auxiliaries train (autoprune; default 2/3 per weight, 1/3 "
                  "per channel); the rest fine-tunes under fixed masks")
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--granularity", o->granularity,
                  "autoprune: one auxiliary per weight (unstructured) or per channel (structured, real removal; "
                  "--target-macs/--target-params/--round-to apply)")
      ->check(CLI::IsMember({"weights", "channels"}))
      ->capture_default_str();
  cmd->add_flag("--gradual", o->gradual, "Reach --sparsity gradually while fine-tuning (AGP schedule; needs --epochs)");
  cmd->add_flag("--per-layer", o->magnitude.per_layer, "One threshold per layer instead of a global one (magnitude)");
  cmd->add_option("--sparse-format", o->sparse_format, "Store weights >= 50% zero as ONNX sparse initializers (onnx)")
      ->check(CLI::IsMember({"dense", "onnx"}))
      ->capture_default_str();
  add_data_options(cmd, o->data, false);
  cmd->add_option("--val", o->val, "Data for accuracy before/after (default: --data)");
  cmd->add_option("--epochs", o->epochs, "Fine-tune for N epochs on --data after pruning (pruned weights stay zero)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", o->lr, "Fine-tuning learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for shuffling and augmentation while fine-tuning")->capture_default_str();
  cmd->add_flag("--distill", o->distill, "Fine-tune by distillation from the unpruned model (works without labels)");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([&action, o, cmd] {
    o->sparsity_given = cmd->count("--sparsity") > 0;
    action = [o] {
      check_output_path(o->model, o->output);
      if (o->epochs > 0 && o->data.path.empty()) throw bad_input("--epochs needs --data (training data)");
      if (o->gradual && (o->method != "magnitude" || o->epochs == 0))
        throw bad_input("--gradual works with --method magnitude and --epochs");
      if (o->method == "autoprune" && o->epochs == 0) throw bad_input("--method autoprune trains: give --data and --epochs");
      if (o->granularity == "channels" && o->method != "autoprune") throw bad_input("--granularity is an option of --method autoprune");
      if (o->granularity == "channels" && o->sparsity_given)
        throw bad_input("structured AutoPrune takes --target-macs or --target-params, not --sparsity");
      // Channel pruning, by a criterion or by AutoPrune, removes channels: its table counts them.
      const bool channels = o->method == "channels" || o->granularity == "channels";
      ir::Model model = onnxio::load_model(o->model);
      const Teacher teacher(o->model, o->distill);
      std::optional<data::Dataset> train_data, val_data;
      if (!o->data.path.empty()) train_data = data::load_dataset(o->data.path, o->data.limit);
      if (!o->val.empty()) val_data = data::load_dataset(o->val);
      const data::Dataset* measure = val_data ? &*val_data : train_data ? &*train_data : nullptr;

      const std::optional<double> top1_before = top1_of(model, o->data, measure);
      const ir::TypeMap types = onnxio::infer_shapes(model);
      const analysis::ModelCost cost_before = analysis::compute_cost(model.graph, types);
      const Sizes size_before = sizes_of(model);
      std::vector<Row> rows;
      std::vector<std::pair<std::string, std::string>> skipped;
      std::vector<std::pair<std::string, at::Tensor>> masks;
      int groups_pruned = 0;
      if (o->method == "channels") {
        o->channels.data = train_data ? &*train_data : nullptr;
        o->channels.preprocess = preprocess_of(o->data);
        o->channels.batch = o->data.batch;
        const passes::ChannelPruneReport r = passes::prune_channels(model, types, o->channels);
        groups_pruned = r.groups_pruned;
        rows = channel_rows(r);
        skipped = r.unprunable;
      } else if (o->method == "autoprune" && channels) {
        o->autoprune.keep = o->channels.keep;
        o->autoprune.keep_first_conv = o->channels.keep_first_conv;
        o->autoprune.target_macs = o->channels.target_macs;
        o->autoprune.target_params = o->channels.target_params;
        o->autoprune.round_to = o->channels.round_to;
        o->autoprune.train = training_options(*o, teacher.get());
        const passes::ChannelAutoPruneResult r = passes::prune_autoprune_channels(
            model, types, *train_data, val_data ? &*val_data : nullptr, o->autoprune);
        groups_pruned = r.report.groups_pruned;
        rows = channel_rows(r.report);
        skipped = r.report.unprunable;
        for (const auto& p : r.trace)
          spdlog::debug("autoprune step {}: the open channels keep {:.3f} (goal {:.3f})", p.step, p.kept, p.goal);
        spdlog::info("autoprune: {} channels closed during the search came back", r.recovered);
      } else if (o->method == "autoprune") {
        o->autoprune.keep = o->channels.keep;
        o->autoprune.target_sparsity = o->sparsity_given ? o->magnitude.sparsity : 0;
        o->autoprune.train = training_options(*o, teacher.get());
        const passes::AutoPruneResult r =
            passes::prune_autoprune(model, *train_data, val_data ? &*val_data : nullptr, o->autoprune);
        for (const auto& l : r.layers) rows.push_back({l.node, l.op, l.nonzeros_before, 0, l.elements, l.elements});
        spdlog::info("autoprune: final lambda {:.4g}, {} weights pruned during the search came back", r.final_lambda,
                     r.recovered);
      } else {
        o->magnitude.keep = o->channels.keep;
        // Gradual: start from the dense weights (sparsity 0 now, the target reached by the schedule).
        passes::MagnitudePruneOptions now = o->magnitude;
        if (o->gradual) now.sparsity = 0;
        passes::MagnitudePruneResult r = passes::prune_magnitude(model, now);
        for (const auto& l : r.layers) rows.push_back({l.node, l.op, l.nonzeros_before, 0, l.elements, l.elements});
        masks = std::move(r.masks);
      }
      if (o->epochs > 0 && o->method != "autoprune") {
        train::TrainOptions t = training_options(*o, teacher.get());
        t.masks = masks;
        if (o->gradual) t.gradual_final_sparsity = o->magnitude.sparsity;
        train::fine_tune(model, *train_data, val_data ? &*val_data : nullptr, t);
      }
      if (!channels)  // non-zeros as they are now, after any fine-tuning
        for (Row& r : rows)
          for (const auto& n : model.graph.nodes())
            if (n->name == r.name && n->input(1) && n->input(1)->has_initializer())
              r.after = runtime::to_aten(*n->input(1)->initializer()).ne(0).sum().item<int64_t>();
      if (o->sparse_format == "onnx") passes::mark_sparse_storage(model);
      const analysis::ModelCost cost_after = analysis::compute_cost(model.graph, onnxio::infer_shapes(model));
      const Sizes size_after = sizes_of(model);
      const std::optional<double> top1_after = top1_of(model, o->data, measure);
      const uint64_t file_bytes = onnxio::save_model(model, o->output);

      if (o->json) {
        nlohmann::json layers = nlohmann::json::array();
        for (const Row& r : rows)
          layers.push_back({{"name", r.name}, {"op", r.op}, {channels ? "channels_before" : "nonzeros_before", r.before},
                            {channels ? "channels_after" : "nonzeros_after", r.after}, {"params_before", r.params_before},
                            {"params_after", r.params_after}});
        nlohmann::json left = nlohmann::json::array();
        for (const auto& [node, why] : skipped) left.push_back({{"node", node}, {"reason", why}});
        std::cout << nlohmann::json{{"output", o->output}, {"method", o->method},
                                    {"granularity", channels ? "channels" : "weights"}, {"groups_pruned", groups_pruned},
                                    {"params_before", cost_before.params}, {"params_after", cost_after.params},
                                    {"nonzeros_before", size_before.nonzeros}, {"nonzeros_after", size_after.nonzeros},
                                    {"macs_before", cost_before.macs}, {"macs_after", cost_after.macs},
                                    {"dense_bytes_before", size_before.dense}, {"dense_bytes_after", size_after.dense},
                                    {"file_bytes", file_bytes}, {"csr_bytes", size_after.csr},
                                    {"relative_index_bytes", size_after.relative},
                                    {"top1_before", optional_json(top1_before)}, {"top1_after", optional_json(top1_after)},
                                    {"layers", layers}, {"unprunable", left}}
                         .dump(2)
                  << std::endl;
        return int(kOk);
      }
      std::printf("%-44s %-6s %24s %26s\n", "layer", "op", channels ? "channels" : "non-zero weights", "params");
      for (const Row& r : rows)
        std::printf("%-44s %-6s %11s -> %-10s %11s -> %-11s\n", r.name.c_str(), r.op.c_str(), with_commas(r.before).c_str(),
                    with_commas(r.after).c_str(), with_commas(r.params_before).c_str(), with_commas(r.params_after).c_str());
      for (const auto& [node, why] : skipped) spdlog::info("left alone: {}: {}", node, why);
      std::printf("\nparams %s -> %s, non-zeros %s -> %s (%.1fx fewer), MACs %s -> %s\n", with_commas(cost_before.params).c_str(),
                  with_commas(cost_after.params).c_str(), with_commas(size_before.nonzeros).c_str(),
                  with_commas(size_after.nonzeros).c_str(),
                  static_cast<double>(size_before.nonzeros) / std::max<int64_t>(1, size_after.nonzeros),
                  human_count(static_cast<double>(cost_before.macs)).c_str(), human_count(static_cast<double>(cost_after.macs)).c_str());
      std::printf("bytes: dense %s -> %s, file %s, CSR %s, relative-index (4-bit) %s\n", human_bytes(size_before.dense).c_str(),
                  human_bytes(size_after.dense).c_str(), human_bytes(file_bytes).c_str(), human_bytes(size_after.csr).c_str(),
                  human_bytes(size_after.relative).c_str());
      if (top1_before && top1_after)
        std::printf("top-1 %.2f%% -> %.2f%%%s\n", 100 * *top1_before, 100 * *top1_after,
                    o->epochs > 0 ? "" : " (no fine-tuning)");
      spdlog::info("wrote {} ({})", o->output, human_bytes(file_bytes));
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
