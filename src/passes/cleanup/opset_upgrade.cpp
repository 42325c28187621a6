#include "nncompress/passes/cleanup/opset_upgrade.h"

#include <ATen/ATen.h>

#include <map>
#include <set>
#include <string>

#include "nncompress/core/error.h"
#include "nncompress/onnx/version_convert.h"
#include "nncompress/passes/cleanup/normalize.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// The IR version each opset first needs (onnx/helper.py's VERSION_TABLE).
int64_t ir_version_for(int64_t opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  return 7;
}

// Ops whose meaning (not just their type lists) changed between opset 13 and 21, with the
// version that changed it. Rewriting them is not built, so models using them are refused.
const std::map<std::string, int64_t>& unconverted_changes() {
  static const std::map<std::string, int64_t> changes = {
      {"RoiAlign", 16},  // default coordinate_transformation_mode
      {"DFT", 20},       // dft_length and axis became inputs
      {"GridSample", 20},  // mode names
      {"GroupNormalization", 21},  // scale and bias per channel instead of per group
  };
  return changes;
}

bool takes_axes_input_from_18(const std::string& op) {
  static const std::set<std::string> ops = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                                            "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
  return ops.count(op) > 0;
}

// Through ONNX's version converter, whose adapters write Clip bounds and shapes as Constant nodes:
// those become initializers again, as at intake.
void convert_with_onnx(ir::Model& model, int64_t target) {
  model = onnxio::convert_version(model, target);
  lift_constants(model.graph);
  drop_unused_initializers(model.graph);
}

}  // namespace

void upgrade_opset(ir::Model& model, int64_t target) {
  if (model.opset_version("") >= target) return;
  if (model.opset_version("") < 13) convert_with_onnx(model, std::min<int64_t>(target, 13));
  const int64_t from = model.opset_version("");
  if (from >= target) return;
  ir::Graph& g = model.graph;
  for (const auto& n : g.nodes()) {
    // Subgraphs are opaque bytes in the IR: their nodes could not be rewritten.
    for (const ir::Attribute& a : n->attributes())
      if (a.kind == ir::AttributeKind::Graph || a.kind == ir::AttributeKind::Graphs)
        throw bad_input("raising the opset of models with subgraphs (" + n->describe() + ") is not supported");
    if (!n->domain().empty() && n->domain() != "ai.onnx") continue;
    auto it = unconverted_changes().find(n->op_type());
    if (it != unconverted_changes().end() && from < it->second && target >= it->second)
      throw bad_input(n->op_type() + " (node " + n->describe() + ") changed meaning at opset " +
                      std::to_string(it->second) + "; raising the opset of models that use it is not supported");
  }
  for (const auto& n : g.nodes()) {
    if ((!n->domain().empty() && n->domain() != "ai.onnx") || !takes_axes_input_from_18(n->op_type())) continue;
    if (from >= 18 || target < 18 || !n->has_attribute("axes")) continue;
    const std::vector<int64_t> axes = n->attr_ints("axes", {});
    ir::Value* axes_value = g.add_initializer(g.unique_name(n->name.empty() ? "reduce_axes" : n->name + "_axes"),
                                              runtime::from_aten(at::tensor(axes, at::kLong), ir::DataType::Int64));
    g.set_input(n.get(), 1, axes_value);
    n->remove_attribute("axes");
  }
  for (ir::OpsetImport& o : model.opset_imports)
    if (o.domain.empty() || o.domain == "ai.onnx") o.version = target;
  model.ir_version = std::max(model.ir_version, ir_version_for(target));
}

void convert_opset(ir::Model& model, int64_t target) {
  const int64_t from = model.opset_version("");
  if (from == target) return;
  if (target < from || target <= onnxio::kNewestConvertibleOpset)
    convert_with_onnx(model, std::min(target, onnxio::kNewestConvertibleOpset));
  upgrade_opset(model, target);
}

}  // namespace nncompress::passes
