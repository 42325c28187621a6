// `nncompress sensitivity MODEL --data D --method quant|prune [--bits ...|--sparsities ...]`:
// each Conv/Gemm/MatMul layer changed alone (quantized to each bit width, or magnitude-pruned to
// each sparsity), with the accuracy (or top-1 agreement without labels) and the KL divergence
// from the original outputs per layer and setting. quant.mixed allocates bits from the same
// measurements.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "nncompress/core/error.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/sensitivity.h"

namespace nncompress::cli {

namespace {

struct SensitivityCommand {
  std::string model, method = "quant";
  std::vector<double> bits = {2, 3, 4, 5, 6, 8}, sparsities = {0.3, 0.5, 0.7, 0.8, 0.9, 0.95};
  std::vector<std::string> keep;
  DataOptions data;
  ModelOptions model_options;
  bool json = false;
};

void print_table(const passes::SensitivityResult& r, bool quant) {
  const bool labeled = r.base_top1.has_value();
  std::printf("%s per layer, each layer changed alone: %s on %lld samples", quant ? "bits" : "sparsity",
              labeled ? "top-1" : "top-1 agreement with the original", static_cast<long long>(r.samples));
  if (labeled) std::printf(" (original model %.2f%%)", 100 * *r.base_top1);
  std::printf("\n\n");
  std::printf("%-44s %11s", "layer", "weights");
  for (const auto& p : r.layers.front().points) std::printf(quant ? " %7.0f" : " %7.2f", p.setting);
  std::printf("\n");
  for (const auto& l : r.layers) {
    std::printf("%-44s %11s", l.node.c_str(), with_commas(l.elements).c_str());
    for (const auto& p : l.points) std::printf(" %6.2f%%", 100 * (labeled ? *p.top1 : p.agreement));
    std::printf("\n");
  }
}

}  // namespace

void register_sensitivity(CLI::App& app, Action& action) {
  auto o = std::make_shared<SensitivityCommand>();
  CLI::App* cmd = app.add_subcommand("sensitivity", "Measure how much each layer's accuracy depends on its bits or sparsity");
  cmd->add_option("model", o->model, "Input .onnx file")->required();
  cmd->add_option("--method", o->method, "quant: weights quantized to each of --bits; prune: magnitude-pruned to each of --sparsities")
      ->check(CLI::IsMember({"quant", "prune"}))
      ->capture_default_str();
  cmd->add_option("--bits", o->bits, "Bit widths to try (2-8)")->check(CLI::Range(2, 8))->delimiter(',')->capture_default_str();
  cmd->add_option("--sparsities", o->sparsities, "Sparsities to try")->check(CLI::Range(0.0, 0.999))->delimiter(',')->capture_default_str();
  cmd->add_option("--keep,--exclude", o->keep, "Nodes left out: names, globs (conv*) or op:TYPE")->delimiter(',');
  o->data.batch = 256;  // sensitivity runs many evaluations: large batches are faster
  add_data_options(cmd, o->data, true);
  add_model_options(cmd, o->model_options);
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([&action, o] {
    action = [o] {
      for (double b : o->bits)
        if (b != static_cast<int>(b)) throw bad_input("--bits takes whole bit widths, got " + std::to_string(b));
      ir::Model model = load_user_model(o->model, o->model_options);
      const data::Dataset data = load_data(o->data.path, o->data, o->data.limit);
      const bool quant = o->method == "quant";
      const std::vector<passes::PrunableWeight> layers =
          passes::prunable_weights(model.graph, passes::resolve_node_patterns(model.graph, o->keep, "--keep"));
      if (layers.empty()) throw bad_input("the model has no float Conv/Gemm/MatMul weights to analyze");
      passes::SensitivityOptions so;
      so.batch = batch_for(model, o->data.batch);
      so.preprocess = preprocess_of(o->data);
      so.progress = progress_bar("sensitivity");
      const passes::SensitivityResult r =
          passes::measure_sensitivity(model, layers, quant ? o->bits : o->sparsities,
                                      quant ? passes::quantize_weights_transform() : passes::prune_weights_transform(), data, so);
      if (!o->json) {
        print_table(r, quant);
        return int(kOk);
      }
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& l : r.layers) {
        nlohmann::json points = nlohmann::json::array();
        for (const auto& p : l.points)
          points.push_back({{quant ? "bits" : "sparsity", p.setting}, {"kl", p.kl}, {"agreement", p.agreement},
                            {"top1", p.top1 ? nlohmann::json(*p.top1) : nlohmann::json(nullptr)}});
        rows.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.elements}, {"points", points}});
      }
      std::cout << nlohmann::json{{"model", o->model}, {"method", o->method}, {"samples", r.samples},
                                  {"base_top1", r.base_top1 ? nlohmann::json(*r.base_top1) : nlohmann::json(nullptr)},
                                  {"layers", rows}}
                       .dump(2)
                << std::endl;
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
