#include "prune_pass_common.h"

#include <ATen/ATen.h>

#include "nncompress/core/format.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

std::string arrow(int64_t before, int64_t after) { return with_commas(before) + " -> " + with_commas(after); }

}  // namespace

void describe_channels(const ChannelPruneReport& report, PassResult& result) {
  nlohmann::json layers = nlohmann::json::array(), left = nlohmann::json::array();
  result.table.header = {"layer", "op", "channels", "params"};
  for (const LayerChange& l : report.layers) {
    layers.push_back({{"name", l.node}, {"op", l.op}, {"channels_before", l.channels_before},
                      {"channels_after", l.channels_after}, {"params_before", l.params_before},
                      {"params_after", l.params_after}});
    result.table.rows.push_back({l.node, l.op, arrow(l.channels_before, l.channels_after), arrow(l.params_before, l.params_after)});
  }
  for (const auto& [node, why] : report.unprunable) {
    left.push_back({{"node", node}, {"reason", why}});
    result.notes.push_back("left alone: " + node + ": " + why);
  }
  // Runtimes compute channels in blocks: ONNX Runtime converts a convolution to its blocked layout
  // only when its channel counts are multiples of 16 on AVX-512 CPUs (8 on AVX2), and tensor cores
  // want multiples of 8. Without them the pruned reference detector ran 0.90x the original's speed
  // in ONNX Runtime (docs/benchmarks.md).
  int unaligned = 0;
  for (const LayerChange& l : report.layers)
    unaligned += l.channels_before % 8 == 0 && l.channels_after % 8 != 0 && l.channels_after < l.channels_before;
  if (unaligned > 0)
    result.notes.push_back(format("%d layers now have channel counts that are not multiples of 8 (they were): runtimes' "
                                  "blocked kernels (ONNX Runtime: 16 on AVX-512 CPUs; tensor cores: 8) may run them slower "
                                  "than before; --round-to 16 keeps multiples",
                                  unaligned));
  result.details.update({{"granularity", "channels"}, {"groups_pruned", report.groups_pruned}, {"layers", layers},
                         {"unprunable", left}, {"unaligned_layers", unaligned}});
  // With a target: the fraction of MACs or params predicted to remain.
  if (report.predicted_fraction < 1.0) result.details["predicted_fraction"] = report.predicted_fraction;
}

void describe_sparsity(const std::vector<SparsityRow>& rows, const ir::Model& model, PassResult& result) {
  nlohmann::json layers = nlohmann::json::array();
  result.table.header = {"layer", "op", "non-zero weights", "params"};
  for (const SparsityRow& r : rows) {
    const ir::Value* w = model.graph.find_value(r.weight);
    const int64_t now = w && w->has_initializer() ? runtime::to_aten(*w->initializer()).ne(0).sum().item<int64_t>() : 0;
    layers.push_back({{"name", r.node}, {"op", r.op}, {"nonzeros_before", r.nonzeros_before}, {"nonzeros_after", now},
                      {"params_before", r.elements}, {"params_after", r.elements}});
    result.table.rows.push_back({r.node, r.op, arrow(r.nonzeros_before, now), with_commas(r.elements)});
  }
  result.details.update({{"granularity", "weights"}, {"groups_pruned", 0}, {"layers", layers},
                         {"unprunable", nlohmann::json::array()}});
}

OptionSpec sparse_format_option() {
  return option("sparse-format", OptionKind::Text, "dense", "store weights >= 50% zero as ONNX sparse initializers (onnx)")
      .one_of({"dense", "onnx"});
}

void store_as_asked(ir::Model& model, const OptionValues& values) {
  if (values.text("sparse-format") == "onnx") mark_sparse_storage(model);
}

}  // namespace nncompress::passes
