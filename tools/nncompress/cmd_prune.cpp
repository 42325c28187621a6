// `nncompress prune MODEL -o OUT --method channels [--criterion C] [--ratio R] [--data D]`:
// structured channel pruning with real removal, a per-layer table, and accuracy before/after.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "nncompress/analysis/cost.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/passes/prune/channel_pruning.h"

namespace nncompress::cli {

namespace {

struct PruneCommand {
  std::string model, output, method = "channels";
  passes::ChannelPruneOptions prune;
  DataOptions data;
  bool json = false;
};

std::optional<double> accuracy(const ir::Model& model, const DataOptions& d, const data::Dataset& data) {
  const runtime::Executor exec(model);
  eval::EvalOptions o;
  o.batch = d.batch;
  o.preprocess = preprocess_of(d);
  return eval::evaluate(exec, data, o).top1;
}

}  // namespace

void register_prune(CLI::App& app, Action& action) {
  auto o = std::make_shared<PruneCommand>();
  CLI::App* cmd = app.add_subcommand("prune", "Prune a model: remove channels for real (structured pruning)");
  cmd->add_option("model", o->model, "Input .onnx file")->required();
  cmd->add_option("-o,--output", o->output, "Output .onnx file (never the input)")->required();
  cmd->add_option("--method", o->method, "Pruning method (magnitude and autoprune are planned, not built yet)")
      ->check(CLI::IsMember({"channels"}))
      ->capture_default_str();
  cmd->add_option("--criterion", o->prune.criterion, "Channel importance")
      ->check(CLI::IsMember({"l1", "l2", "bn-scale", "fpgm"}))
      ->capture_default_str();
  cmd->add_option("--ratio", o->prune.ratio, "Fraction of each prunable group's channels to remove")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--keep", o->prune.keep, "Node names whose output channels stay");
  cmd->add_flag("!--prune-first-conv", o->prune.keep_first_conv, "Allow pruning the first convolution's channels");
  cmd->add_option("--round-to", o->prune.round_to, "Keep channel counts multiples of N")->check(CLI::PositiveNumber);
  add_data_options(cmd, o->data, false);
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([&action, o] {
    action = [o] {
      ensure_distinct_output(o->model, o->output);
      ir::Model model = onnxio::load_model(o->model);
      std::optional<data::Dataset> data;
      if (!o->data.path.empty()) data = data::load_dataset(o->data.path, o->data.limit);
      const std::optional<double> top1_before = data ? accuracy(model, o->data, *data) : std::nullopt;
      const ir::TypeMap types = onnxio::infer_shapes(model);
      const analysis::ModelCost cost_before = analysis::compute_cost(model.graph, types);
      const passes::ChannelPruneReport report = passes::prune_channels(model, types, o->prune);
      const analysis::ModelCost cost_after = analysis::compute_cost(model.graph, onnxio::infer_shapes(model));
      const std::optional<double> top1_after = data ? accuracy(model, o->data, *data) : std::nullopt;
      const uint64_t bytes = onnxio::save_model(model, o->output);

      auto pct = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
      if (o->json) {
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& l : report.layers)
          layers.push_back({{"name", l.node}, {"op", l.op}, {"channels_before", l.channels_before},
                            {"channels_after", l.channels_after}, {"params_before", l.params_before},
                            {"params_after", l.params_after}});
        nlohmann::json skipped = nlohmann::json::array();
        for (const auto& [node, why] : report.unprunable) skipped.push_back({{"node", node}, {"reason", why}});
        std::cout << nlohmann::json{{"output", o->output},     {"file_bytes", bytes},
                                    {"groups_pruned", report.groups_pruned},
                                    {"params_before", cost_before.params}, {"params_after", cost_after.params},
                                    {"macs_before", cost_before.macs},     {"macs_after", cost_after.macs},
                                    {"top1_before", pct(top1_before)},     {"top1_after", pct(top1_after)},
                                    {"layers", layers},                    {"unprunable", skipped}}
                         .dump(2)
                  << std::endl;
        return int(kOk);
      }
      std::printf("%-40s %-6s %20s %24s\n", "layer", "op", "channels", "params");
      for (const auto& l : report.layers)
        std::printf("%-40s %-6s %9lld -> %-8lld %11s -> %-11s\n", l.node.c_str(), l.op.c_str(),
                    static_cast<long long>(l.channels_before), static_cast<long long>(l.channels_after),
                    with_commas(l.params_before).c_str(), with_commas(l.params_after).c_str());
      for (const auto& [node, why] : report.unprunable) spdlog::info("left alone: {}: {}", node, why);
      std::printf("\n%d groups pruned; params %s -> %s (%.1f%%), MACs %s -> %s (%.1f%%)\n", report.groups_pruned,
                  with_commas(cost_before.params).c_str(), with_commas(cost_after.params).c_str(),
                  100.0 * cost_after.params / std::max<int64_t>(1, cost_before.params), human_count(cost_before.macs).c_str(),
                  human_count(cost_after.macs).c_str(), 100.0 * cost_after.macs / std::max<int64_t>(1, cost_before.macs));
      if (top1_before && top1_after)
        std::printf("top-1 %.2f%% -> %.2f%% (no fine-tuning)\n", 100 * *top1_before, 100 * *top1_after);
      spdlog::info("wrote {} ({})", o->output, human_bytes(bytes));
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
