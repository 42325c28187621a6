// quant.dynamic: int8 weights with activations quantized at run time, as ONNX Runtime's
// quantize_dynamic writes it: each MatMul/Gemm with a constant 2-D float weight becomes
//   DynamicQuantizeLinear(x) -> MatMulInteger(x_q, W_q, x_zp, W_zp) -> Cast(float)
//   -> Mul(x_scale * W_scale) [-> Add(bias)]
// with W symmetric int8 per output column (or per tensor). No calibration data: the activation
// range is each batch's own. Meant for transformers and MLPs, where ranges vary by input.
// Embedding tables (Gather by token ids) become int8 rows dequantized after the lookup
// (quant/embedding_weights.h), as quantize_dynamic also does.
#include <ATen/ATen.h>

#include <optional>
#include <set>

#include "nncompress/core/format.h"
#include "nncompress/passes/cleanup/opset_upgrade.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass.h"
#include "nncompress/passes/quant/embedding_weights.h"
#include "nncompress/passes/quant/matmul_weights.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;

using Layer = ConstantWeightMatMul;

struct Rewriter {
  ir::Graph& graph;
  bool per_channel;
  double qmax;

  // Returns the largest weight scale.
  double rewrite(const Layer& l) {
    const std::string id = l.node->name.empty() ? l.node->output(0)->name() : l.node->name;
    const at::Tensor absmax = per_channel ? l.weight.abs().amax(0) : l.weight.abs().max().reshape({});
    const at::Tensor scale = at::where(absmax > 0, absmax / qmax, at::ones_like(absmax));
    const at::Tensor wq = at::round(l.weight / scale).clamp(-qmax, qmax).to(at::kChar);
    ir::Value* w_q = add_constant(graph, id + "_W_q", wq, ir::DataType::Int8);
    ir::Value* w_zp = add_constant(graph, id + "_W_zp", at::zeros(scale.sizes(), at::kChar), ir::DataType::Int8);
    ir::Value* w_scale = add_constant(graph, id + "_W_scale", scale, ir::DataType::Float);
    ir::Node* dq = add_op(graph, "DynamicQuantizeLinear", id + "_x_dq", {l.node->input(0)}, {}, 3);
    ir::Node* mm = add_op(graph, "MatMulInteger", id + "_int", {dq->output(0), w_q, dq->output(2), w_zp});
    ir::Node* cast = add_op(graph, "Cast", id + "_float", {mm->output(0)}, {ir::Attribute::make_int("to", 1)});
    ir::Node* scales = add_op(graph, "Mul", id + "_scale", {dq->output(1), w_scale});
    ir::Node* last = add_op(graph, "Mul", id + "_out", {cast->output(0), scales->output(0)});
    if (l.bias) last = add_op(graph, "Add", id + "_bias", {last->output(0), l.bias});
    ir::Value* w = l.node->input(1);
    graph.move_output(l.node, 0, last, 0);
    graph.erase_node(l.node);
    if (w->uses().empty() && !w->is_graph_output()) graph.remove_initializer(w);  // shared weights stay
    return scale.max().item<double>();
  }
};

PassResult apply(ir::Model& model, const PassContext&, const OptionValues& v) {
  const std::vector<std::string> keep_names = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  const std::set<std::string> keep(keep_names.begin(), keep_names.end());
  std::vector<Layer> layers;
  for (const auto& n : model.graph.nodes())
    if (!keep.count(n->name))
      if (std::optional<Layer> l = constant_weight_matmul(n.get())) layers.push_back(*l);
  PassResult result;
  const std::vector<ir::Node*> lookups =
      v.boolean("float-embeddings") ? std::vector<ir::Node*>() : embedding_lookups(model.graph, keep);
  if (layers.empty() && lookups.empty()) {
    result.unchanged = "no MatMul or Gemm with a constant 2-D float weight, and no embedding table" +
                       std::string(keep.empty() ? "" : " outside keep");
    result.summary = "nothing quantized: " + result.unchanged;
    return result;
  }
  if (model.opset_version("") < 11) {  // DynamicQuantizeLinear
    const int64_t from = model.opset_version("");
    upgrade_opset(model, 11);
    result.notes.push_back(format("opset %lld raised to 11 for DynamicQuantizeLinear", static_cast<long long>(from)));
  }
  const bool full_range = v.boolean("full-range");
  Rewriter rw{model.graph, !v.boolean("per-tensor"), full_range ? 127.0 : 63.0};
  nlohmann::json rows = nlohmann::json::array();
  result.table.header = {"layer", "op", "weights", "max weight scale"};
  int64_t weights = 0;
  for (const Layer& l : layers) {
    const std::string name = l.node->name, op = l.node->op_type();
    const int64_t count = l.weight.numel();
    const double max_scale = rw.rewrite(l);
    weights += count;
    rows.push_back({{"name", name}, {"op", op}, {"weights", count}, {"max_scale", max_scale}});
    result.table.rows.push_back({name, op, with_commas(count), format("%.3g", max_scale)});
  }
  result.details = {{"layers", rows}, {"weights", weights}, {"weight_bits", full_range ? 8 : 7},
                    {"per_channel", rw.per_channel}};
  result.summary = format("%zu MatMul/Gemm layers int8 with dynamic activations", layers.size());
  result.notes.push_back(format("%zu layers, %s weights int8 (%d-bit, %s); activations quantized per batch at run time",
                                layers.size(), with_commas(weights).c_str(), full_range ? 8 : 7,
                                rw.per_channel ? "per output column" : "per tensor"));
  quantize_embeddings(model.graph, lookups, result);
  model.graph.sort_topologically();
  model.graph.remove_dangling_values();
  return result;
}

}  // namespace

const PassInfo& quant_dynamic_pass() {
  static const PassInfo info{
      "quant.dynamic",
      "int8 MatMul/Gemm weights, activations quantized at run time (ONNX Runtime's quantize_dynamic form)",
      "nothing (no calibration)",
      {option("full-range", K::Boolean, "false",
              "8-bit weights in [-127, 127] (default 7 bits: ONNX Runtime's u8s8 kernels on CPUs without VNNI saturate on "
              "full-range weights)"),
       option("per-tensor", K::Boolean, "false", "one weight scale per tensor instead of per output column"),
       option("float-embeddings", K::Boolean, "false", "leave embedding tables (Gather by token ids) in float"),
       option("keep", K::List, "", "nodes left in float: names, globs (matmul*) or op:TYPE").also("exclude")},
      nullptr,
      nullptr,
      apply,
      /*must_be_last=*/true,
  };
  return info;
}

}  // namespace nncompress::passes
