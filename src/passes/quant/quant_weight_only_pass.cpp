// quant.weight-only: block-wise 4- or 8-bit weights for MatMul/Gemm layers, activations left in
// float. Each weight becomes the standard ONNX form
//   W_q (UINT4/INT4 or UINT8/INT8, [K, N]) -> DequantizeLinear(axis 0, block_size B) -> MatMul
// (opset 21), which ONNX Runtime fuses into its MatMulNBits kernel for 4 bits and B a power of
// two >= 16. A Gemm becomes MatMul + Add. Weights by round-to-nearest or by GPTQ on calibration
// data (passes/quant/blockwise.h). Meant for transformers and LLM-style MLPs, whose size is in
// these weights.
#include <ATen/ATen.h>

#include <map>
#include <set>

#include "nncompress/core/error.h"
#include "nncompress/core/format.h"
#include "nncompress/passes/cleanup/opset_upgrade.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass.h"
#include "nncompress/passes/quant/blockwise.h"
#include "nncompress/passes/quant/calibration.h"
#include "nncompress/passes/quant/embedding_weights.h"
#include "nncompress/passes/quant/matmul_weights.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;
using Layer = ConstantWeightMatMul;

Needs needs(const OptionValues& v) {
  Needs n;
  n.calibration_data = v.text("algorithm") == "gptq";
  return n;
}

std::vector<std::string> check(const OptionValues& v, const OptionNamer& name) {
  const int64_t bits = v.integer("bits");
  if (bits != 4 && bits != 8) return {name("bits") + " must be 4 or 8 (the integer types DequantizeLinear reads)"};
  return {};
}

// The weight of `l` in the stored form: codes as UINT (with zero points) or, symmetric, as INT.
void rewrite(ir::Graph& g, const Layer& l, const BlockwiseWeights& q, const BlockwiseOptions& o) {
  const std::string id = l.node->name.empty() ? l.node->output(0)->name() : l.node->name;
  const bool four = o.bits == 4;
  std::vector<ir::Value*> dq_inputs;
  if (o.symmetric) {
    const at::Tensor signed_codes = q.codes.to(at::kChar) - (1 << (o.bits - 1));
    dq_inputs = {add_constant(g, id + "_W_q", signed_codes, four ? ir::DataType::Int4 : ir::DataType::Int8),
                 add_constant(g, id + "_W_scale", q.scales, ir::DataType::Float)};
  } else {
    const ir::DataType type = four ? ir::DataType::UInt4 : ir::DataType::UInt8;
    dq_inputs = {add_constant(g, id + "_W_q", q.codes, type), add_constant(g, id + "_W_scale", q.scales, ir::DataType::Float),
                 add_constant(g, id + "_W_zp", q.zero_points, type)};
  }
  ir::Node* dq = add_op(g, "DequantizeLinear", id + "_W", dq_inputs,
                        {ir::Attribute::make_int("axis", 0), ir::Attribute::make_int("block_size", o.block)});
  ir::Value* w = l.node->input(1);
  if (l.node->op_type() == "MatMul") {
    g.set_input(l.node, 1, dq->output(0));
  } else {  // Gemm(x, W[, C]) -> MatMul(x, W as [K, N]) [+ C], the MatMul under the Gemm's name
    const std::string name = l.node->name;
    ir::Node* matmul = add_op(g, "MatMul", id + "_matmul", {l.node->input(0), dq->output(0)});
    ir::Node* last = l.bias ? add_op(g, "Add", id + "_bias", {matmul->output(0), l.bias}) : matmul;
    g.move_output(l.node, 0, last, 0);
    g.erase_node(l.node);
    if (!name.empty()) matmul->name = name;  // reports follow the layer by name
  }
  if (w->uses().empty() && !w->is_graph_output()) g.remove_initializer(w);
}

// Bits stored per weight: the codes, a float scale per block and, asymmetric, a zero point.
double bits_per_weight(const BlockwiseOptions& o, int64_t k) {
  const double blocks_per_column = static_cast<double>((k + o.block - 1) / o.block);
  return o.bits + blocks_per_column * (32.0 + (o.symmetric ? 0.0 : o.bits)) / static_cast<double>(k);
}

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  const std::vector<std::string> keep_names = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  const std::set<std::string> keep(keep_names.begin(), keep_names.end());
  std::vector<Layer> layers;
  int shared = 0;
  for (const auto& n : model.graph.nodes()) {
    if (keep.count(n->name)) continue;
    std::optional<Layer> l = constant_weight_matmul(n.get());
    if (!l) continue;
    // A weight several nodes read (tied embeddings) would need one grid for all of them.
    if (l->node->input(1)->uses().size() > 1) ++shared;
    else layers.push_back(*l);
  }
  PassResult result;
  if (layers.empty()) {
    result.unchanged = "no MatMul or Gemm with a constant 2-D float weight of its own" +
                       std::string(keep.empty() ? "" : " outside keep");
    result.summary = "nothing quantized: " + result.unchanged;
    return result;
  }
  const BlockwiseOptions o{static_cast<int>(v.integer("bits")), v.integer("block"), v.boolean("symmetric")};
  const bool gptq = v.text("algorithm") == "gptq";
  std::map<std::string, Gram> grams;
  if (gptq) {
    std::vector<std::string> inputs;
    for (const Layer& l : layers) inputs.push_back(l.node->input(0)->name());
    CalibrationOptions co;
    co.preprocess = c.preprocess;
    co.batch = c.batch;
    if (c.progress_bar) co.progress = c.progress_bar("input statistics");
    grams = gram_matrices(model, inputs, data::first_samples(*c.calibration, v.integer("calib-limit")), co);
  }
  if (model.opset_version("") < 21) {  // DequantizeLinear's block_size and 4-bit types
    const int64_t from = model.opset_version("");
    upgrade_opset(model, 21);
    result.notes.push_back(format("opset %lld raised to 21 for block-wise DequantizeLinear", static_cast<long long>(from)));
  }

  nlohmann::json rows = nlohmann::json::array();
  result.table.header = {"layer", "op", "weights", "bits/weight", "relative error"};
  int64_t weights = 0;
  double stored_bits = 0;
  for (const Layer& l : layers) {
    const int64_t k = l.weight.size(0);
    if (gptq && grams.at(l.node->input(0)->name()).xtx.size(0) != k)
      throw bad_input("GPTQ: the input of " + l.node->describe() + " does not have the weight's " + std::to_string(k) +
                      " rows in its last dimension");
    const BlockwiseWeights q = gptq ? quantize_gptq(l.weight, grams.at(l.node->input(0)->name()).xtx,
                                                    grams.at(l.node->input(0)->name()).rows, o, v.number("damp"))
                                    : quantize_rtn(l.weight, o);
    // How far the stored weight is from the float one (GPTQ trades this for output error).
    const double error = (q.dequantized(o.block) - l.weight).norm().item<double>() /
                         std::max(l.weight.norm().item<double>(), 1e-30);
    const double bpw = bits_per_weight(o, k);
    const std::string name = l.node->name, op = l.node->op_type();
    rewrite(model.graph, l, q, o);
    weights += l.weight.numel();
    stored_bits += bpw * static_cast<double>(l.weight.numel());
    rows.push_back({{"name", name}, {"op", op}, {"weights", l.weight.numel()}, {"bits_per_weight", bpw},
                    {"relative_error", error}});
    result.table.rows.push_back({name, op, with_commas(l.weight.numel()), format("%.3f", bpw), format("%.4f", error)});
  }
  model.graph.sort_topologically();
  model.graph.remove_dangling_values();
  const double mean_bits = stored_bits / static_cast<double>(weights);
  result.details = {{"layers", rows},     {"weights", weights},           {"bits", o.bits},
                    {"block", o.block},   {"symmetric", o.symmetric},     {"algorithm", v.text("algorithm")},
                    {"bits_per_weight", mean_bits}, {"shared_weights_left_float", shared}};
  result.summary = format("%zu MatMul/Gemm layers %d-bit block-wise (%s, block %lld)", layers.size(), o.bits,
                          v.text("algorithm").c_str(), static_cast<long long>(o.block));
  result.notes.push_back(format("%zu layers, %s weights at %.3f bits each (codes, scales%s); activations stay float",
                                layers.size(), with_commas(weights).c_str(), mean_bits, o.symmetric ? "" : ", zero points"));
  if (shared > 0) result.notes.push_back(format("%d MatMul/Gemm reading a weight shared with other nodes left in float", shared));
  if (!v.boolean("float-embeddings")) {  // int8 per table: a Gather's rows cannot follow the blocks
    quantize_embeddings(model.graph, embedding_lookups(model.graph, keep), result);
    model.graph.sort_topologically();
    model.graph.remove_dangling_values();
  }
  return result;
}

}  // namespace

const PassInfo& quant_weight_only_pass() {
  static const PassInfo info{
      "quant.weight-only",
      "block-wise 4/8-bit MatMul/Gemm weights, activations float (DequantizeLinear opset 21; RTN or GPTQ)",
      "calibration data for algorithm gptq (labels not needed)",
      // One flag per option name: the range of focused's --bits, which check() narrows to 4 or 8.
      {option("bits", K::Integer, "4", "bits per weight code: 4 or 8").at_least(3).at_most(8),
       option("block", K::Integer, "32",
              "weights per scale along the reduction dimension (a power of two >= 16 lets ONNX Runtime use MatMulNBits)")
           .at_least(1).at_most(1 << 20),
       option("algorithm", K::Text, "rtn", "rtn: round to nearest; gptq: GPTQ error compensation on calibration data")
           .one_of({"rtn", "gptq"}),
       option("symmetric", K::Boolean, "false", "signed codes without zero points (default: unsigned with a zero point per block)"),
       option("damp", K::Number, "0.01", "GPTQ dampening: this fraction of the mean Hessian diagonal is added to it")
           .at_least(0, false).at_most(1),
       option("calib-limit", K::Integer, "128", "GPTQ: input statistics from the first N samples").at_least(1),
       option("float-embeddings", K::Boolean, "false", "leave embedding tables (Gather by token ids) in float (default: int8)"),
       option("keep", K::List, "", "nodes left in float: names, globs (matmul*) or op:TYPE").also("exclude")},
      needs,
      check,
      apply,
      /*must_be_last=*/true,
  };
  return info;
}

}  // namespace nncompress::passes
