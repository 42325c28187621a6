#include "nncompress/passes/quant/int8.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/opset_upgrade.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/passes/cleanup/fold_batchnorm.h"
#include "nncompress/passes/cleanup/hard_swish.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/passes/prune/magnitude_pruning.h"
#include "nncompress/passes/quant/smoothquant.h"
#include "nncompress/runtime/clip_range.h"
#include "nncompress/runtime/constant_value.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"
#include "shared_scales.h"

namespace nncompress::passes {

namespace {


// Conv, Gemm or MatMul with a constant float weight.
bool weighted(const ir::Node& n) {
  if (!n.in_default_domain() || (n.op_type() != "Conv" && n.op_type() != "Gemm" && n.op_type() != "MatMul")) return false;
  const ir::Value* w = n.input(1);
  return w && w->has_initializer() && w->initializer()->dtype() == ir::DataType::Float && w->initializer()->dims().size() >= 2;
}

bool is_activation(const ir::Value* v) { return v && !v->has_initializer(); }

bool scalar_constant(const ir::Value* v) {
  return v && v->has_initializer() && !v->is_graph_input() && v->initializer()->dtype() == ir::DataType::Float &&
         v->initializer()->numel() == 1;
}

// True when `v` is a graph output or becomes one through ops that only move values (a detector's
// head convolutions, concatenated and reshaped into its raw output). Such tensors are the model's
// raw answers and stay float: one 8-bit range over a detector's class logits (background logits
// reach -500) rounds the decisive values near 0 away (mAP 77% -> 0.1%, docs/benchmarks.md).
bool raw_output(const ir::Value* v) {
  static const std::set<std::string> layout = {"Concat",    "Reshape",  "Flatten", "Transpose", "Squeeze",
                                               "Unsqueeze", "Identity", "Split",   "Slice"};
  std::vector<const ir::Value*> todo{v};
  std::set<const ir::Value*> seen{v};  // each value once: no blow-up on graphs that fan out
  while (!todo.empty()) {
    const ir::Value* x = todo.back();
    todo.pop_back();
    if (x->is_graph_output()) return true;
    for (const ir::Use& u : x->uses())
      if (u.node->in_default_domain() && layout.count(u.node->op_type()))
        for (const ir::Value* o : u.node->outputs())
          if (o && seen.insert(o).second) todo.push_back(o);
  }
  return false;
}

// Layers whose outputs are assembled into a model output (a detector's head: box distributions and
// class logits concatenated) read float activations (their weights are still int8 per channel): an
// int8 input there cost the reference detector 4 mAP points. A classifier's last layer, whose
// output is the model output itself, is quantized as before.
bool float_input_layer(const ir::Node& n) {
  const ir::Value* y = n.output(0);
  return weighted(n) && y && !y->is_graph_output() && raw_output(y);
}

struct Selection {
  bool symmetric;
  std::set<std::string> keep;
  bool activation_matmuls = false;

  bool matmul_of_activations(const ir::Node& n) const {
    return activation_matmuls && n.op_type() == "MatMul" && is_activation(n.input(0)) && is_activation(n.input(1));
  }

  bool quantized(const ir::Node& n, int depth = 0) const {
    if (keep.count(n.name) || !n.in_default_domain()) return false;
    const std::string& op = n.op_type();
    // Add/Mul by a constant stays float (a bias vector would lose precision as uint8) unless the
    // constant is a scalar after a quantized op, which is written exactly. Residual Adds of two
    // activations are quantized.
    if ((op == "Add" || op == "Mul") && scalar_after_quantized(n, depth)) return true;
    if (op == "Add") return is_activation(n.input(0)) && is_activation(n.input(1));
    if (float_input_layer(n)) return false;
    if (weighted(n) || op == "AveragePool" || op == "GlobalAveragePool" || matmul_of_activations(n)) return true;
    if (op == "MaxPool") return n.outputs().size() == 1 || !n.output(1);  // not with indices
    if (op == "Split" || op == "Resize") return moves_values(n);
    if (op == "Relu") return symmetric;
    if (op == "HardSigmoid") return integer_gate(n);
    if (op == "Sigmoid") return integer_sigmoid(n);
    // A Concat of activations (C2f and CSP blocks, FPN/PAN necks): ONNX Runtime's QLinearConcat
    // rather than DequantizeLinear per input, a float Concat and a QuantizeLinear.
    if (op == "Concat")
      return !n.inputs().empty() && std::all_of(n.inputs().begin(), n.inputs().end(), is_activation) &&
             !n.output(0)->is_graph_output() && !raw_output(n.output(0));
    // A product gated by a HardSigmoid (hard-swish, squeeze-excitation) or a Sigmoid (SiLU, YOLO's
    // activation): ONNX Runtime's QLinearMul.
    if (op == "Mul")
      return is_activation(n.input(0)) && is_activation(n.input(1)) &&
             (gated(n.input(0)) || gated(n.input(1)) ||
              ((sigmoid_gate(n.input(0)) || sigmoid_gate(n.input(1))) && !feeds_float_layer(n.output(0))));
    return false;
  }

  // A Sigmoid between Q/DQ pairs, which ONNX Runtime runs as QLinearSigmoid (a 256-entry table):
  // uint8 only, like the gates; left float when its result is a model output or assembled into
  // one, or when its product (SiLU) feeds a layer kept float for the model output.
  bool integer_sigmoid(const ir::Node& n) const {
    const ir::Value* y = n.output(0);
    if (symmetric || !is_activation(n.input(0)) || y->is_graph_output() || raw_output(y)) return false;
    return std::none_of(y->uses().begin(), y->uses().end(), [&](const ir::Use& u) {
      return u.node->op_type() == "Mul" && u.node->outputs().size() == 1 && feeds_float_layer(u.node->output(0));
    });
  }

  // `v` is read by a layer that reads float activations (float_input_layer), so `v` is not
  // quantized by its producer either.
  static bool feeds_float_layer(const ir::Value* v) {
    return v && std::any_of(v->uses().begin(), v->uses().end(), [](const ir::Use& u) { return float_input_layer(*u.node); });
  }

  // Split (C2f blocks) and nearest or linear Resize (FPN/PAN necks) only move values or mix them
  // convexly: their outputs get their input's quantization (see quantize_int8), which ONNX Runtime
  // needs to run them on the uint8 data instead of between DequantizeLinear and
  // QuantizeLinear. Not where an output is, or becomes, a model output.
  bool moves_values(const ir::Node& n) const {
    if (!is_activation(n.input(0))) return false;
    if (n.op_type() == "Resize" && n.attr_string("mode", "nearest") == "cubic") return false;
    return std::none_of(n.outputs().begin(), n.outputs().end(),
                        [](const ir::Value* v) { return !v || v->is_graph_output() || raw_output(v); });
  }

  bool sigmoid_gate(const ir::Value* v) const {
    const ir::Node* p = v->producer();
    return p && p->op_type() == "Sigmoid" && !keep.count(p->name) && p->in_default_domain() && integer_sigmoid(*p);
  }

  // Add or Mul of a quantized op's output and a float scalar constant (an affine block, x * a + b):
  // uint8 only, the constant encoded exactly (Rewriter::exact_scalar), ONNX Runtime's QLinearAdd
  // and QLinearMul.
  // Chains of them are followed back at most 16 steps (no deep recursion on hostile graphs).
  bool scalar_after_quantized(const ir::Node& n, int depth) const {
    if (symmetric || n.inputs().size() != 2 || depth > 16) return false;
    const int c = scalar_constant(n.input(0)) ? 0 : scalar_constant(n.input(1)) ? 1 : -1;
    if (c < 0) return false;
    const ir::Value* x = n.input(1 - c);
    return is_activation(x) && x->producer() && quantized(*x->producer(), depth + 1);
  }

  // A HardSigmoid that becomes an integer Add (see Rewriter::integer_hard_sigmoid): uint8 only,
  // since its QuantizeLinear's range [0, 255] is the clip.
  bool integer_gate(const ir::Node& n) const {
    return !symmetric && n.attr_float("alpha", 0.2f) > 0 && n.attr_float("beta", 0.5f) != 0 &&
           is_activation(n.input(0)) && !n.output(0)->is_graph_output();
  }

  // `v` comes out of an integer HardSigmoid, whose quantization its rewrite fixes (scale 1/255).
  bool gated(const ir::Value* v) const {
    const ir::Node* p = v->producer();
    return p && p->op_type() == "HardSigmoid" && !keep.count(p->name) && p->in_default_domain() && integer_gate(*p);
  }

  // The activation inputs of a quantized op that get Q/DQ.
  std::vector<ir::Value*> activation_inputs(const ir::Node& n) const {
    if (n.op_type() == "Add" || n.op_type() == "Mul" || matmul_of_activations(n)) return {n.input(0), n.input(1)};
    if (n.op_type() == "Concat") return {n.inputs().begin(), n.inputs().end()};
    return {n.input(0)};
  }
};

// Every non-constant tensor entering or leaving a quantized op, except the raw outputs.
std::vector<ir::Value*> quantizable_tensors(const ir::Graph& graph, const Selection& sel) {
  std::vector<ir::Value*> out;
  std::set<ir::Value*> seen;
  auto add = [&](ir::Value* v) {
    if (is_activation(v) && !raw_output(v) && !sel.gated(v) && seen.insert(v).second) out.push_back(v);
  };
  for (const ir::Node* n : graph.topological_order()) {
    if (!sel.quantized(*n)) continue;
    for (ir::Value* v : sel.activation_inputs(*n)) add(v);
    if (n->op_type() == "Split")
      for (ir::Value* v : n->outputs()) add(v);
    else
      add(n->output(0));
  }
  return out;
}

// A Relu or Clip(0, hi) right after a quantized op, alone on its output: in asymmetric mode the
// uint8 QuantizeLinear after that op (zero point 0, range within [0, hi]) clamps exactly as it
// does, so it is removed and ONNX Runtime sees the DQ -> Conv -> Q pattern it runs as one integer
// convolution (MobileNetV2's Relu6 is such a Clip). Sets its upper bound in `hi` (infinity for Relu).
struct RemovableActivation {
  ir::Node* node;
  double hi;
};
std::vector<RemovableActivation> removable_activations(const ir::Model& model, const Selection& sel) {
  std::vector<RemovableActivation> out;
  for (const auto& n : model.graph.nodes()) {
    if ((n->op_type() != "Relu" && n->op_type() != "Clip") || !n->in_default_domain() || sel.keep.count(n->name)) continue;
    const ir::Value* x = n->input(0);
    if (!x || !x->producer() || !sel.quantized(*x->producer()) || x->uses().size() != 1 || x->is_graph_output() ||
        n->output(0)->is_graph_output())
      continue;
    double hi = std::numeric_limits<double>::infinity();
    if (n->op_type() == "Clip") {
      const std::optional<runtime::ClipRange> r = runtime::clip_range(*n, model.opset_version(""), [&](size_t i) {
        return runtime::constant_value(model, *n->input(i));
      });
      if (!r || r->lo != 0.0 || !(r->hi > 0.0)) continue;
      hi = r->hi;
    }
    out.push_back({n.get(), hi});
  }
  return out;
}

// Keeps the values whose tensors are floating point, found by running one sample.
std::vector<ir::Value*> float_only(const ir::Model& model, const std::vector<ir::Value*>& values, const data::Dataset& data,
                                   const CalibrationOptions& o) {
  const runtime::Executor exec(model);
  std::vector<std::string> names;
  for (const ir::Value* v : values) names.push_back(v->name());
  std::unordered_map<std::string, at::Tensor> captured;
  at::NoGradGuard no_grad;
  exec.run(data::prepare_inputs(data, 0, 1, exec.inputs(), o.preprocess), names, &captured);
  std::vector<ir::Value*> out;
  for (ir::Value* v : values)
    if (auto it = captured.find(v->name()); it != captured.end() && it->second.scalar_type() == at::kFloat) out.push_back(v);
  return out;
}

struct QParams {
  float scale = 1;
  int64_t zero_point = 0;
};

QParams activation_params(const Range& r, bool symmetric) {
  QParams q;
  if (symmetric) {
    const double amax = std::max(std::abs(r.lo), std::abs(r.hi));
    q.scale = amax > 0 ? static_cast<float>(amax / 127.0) : 1.0f;
    return q;
  }
  const double lo = std::min(r.lo, 0.0), hi = std::max(r.hi, 0.0);
  q.scale = hi > lo ? static_cast<float>((hi - lo) / 255.0) : 1.0f;
  q.zero_point = std::clamp<int64_t>(std::llround(-lo / q.scale), 0, 255);
  return q;
}

// Names its tensors short and numbered (a<k> for the k-th quantized activation, w<i>/b<i> for
// layer i's weight and bias): derived from exported names such as
// "/features/features.1/conv/conv.0/conv.0.0/Conv_output_0", repeated in every Q/DQ node, the names
// alone were ~10% of MobileNetV2's int8 file. The layers keep their node names.
class Rewriter {
 public:
  Rewriter(ir::Model& model, bool symmetric) : graph_(model.graph), symmetric_(symmetric) {}

  ir::Value* constant(const std::string& base, const at::Tensor& value, ir::DataType type) {
    return add_constant(graph_, base, value, type);
  }

  // T -> QuantizeLinear -> DequantizeLinear, read by every former reader of T.
  void quantize_activation(ir::Value* t, const QParams& q) {
    const ir::DataType zp_type = symmetric_ ? ir::DataType::Int8 : ir::DataType::UInt8;
    const std::string id = "a" + std::to_string(activations_++);
    ir::Value* scale = constant(id + "_scale", at::scalar_tensor(q.scale, at::kFloat), ir::DataType::Float);
    ir::Value* zp = constant(id + "_zp", at::scalar_tensor(q.zero_point, at::kLong), zp_type);
    const std::string qname = graph_.unique_name(id + "_q");
    const std::string dqname = graph_.unique_name(id + "_dq");
    ir::Node* dq_node = graph_.add_node({"DequantizeLinear", dqname, "", {nullptr, scale, zp}, {dqname}, {}, {}, ""});
    graph_.replace_all_uses(t, dq_node->output(0));
    ir::Node* q_node = graph_.add_node({"QuantizeLinear", qname, "", {t, scale, zp}, {qname}, {}, {}, ""});
    graph_.set_input(dq_node, 0, q_node->output(0));
    scales_[t] = q.scale;
  }

  // A constant weight replaced by int8 codes read through DequantizeLinear; returns the scales.
  // `layer` numbers its tensors' names (w<layer>, w<layer>_scale, ...).
  at::Tensor quantize_weight(ir::Node* n, size_t layer, int64_t axis, bool per_channel, double qmax) {
    ir::Value* w = n->input(1);
    const at::Tensor weight = runtime::to_aten(*w->initializer()).to(at::kFloat);
    at::Tensor amax;
    if (per_channel) {
      std::vector<int64_t> dims;
      for (int64_t d = 0; d < weight.dim(); ++d)
        if (d != axis) dims.push_back(d);
      amax = weight.abs().amax(dims);
    } else {
      amax = weight.abs().max().reshape({});
    }
    const at::Tensor scale = at::where(amax > 0, amax / qmax, at::ones_like(amax));
    std::vector<int64_t> shape(weight.dim(), 1);
    if (per_channel) shape[axis] = -1;
    const at::Tensor codes = at::round(weight / scale.reshape(shape)).clamp(-qmax, qmax);
    const std::string id = "w" + std::to_string(layer);
    ir::Value* q = constant(id, codes, ir::DataType::Int8);
    ir::Value* s = constant(id + "_scale", scale, ir::DataType::Float);
    ir::Value* zp = constant(id + "_zp", at::zeros(scale.sizes(), at::kLong), ir::DataType::Int8);
    dequantize_into(n, 1, id + "_dq", {q, s, zp}, per_channel ? axis : -1);
    return scale;
  }

  // The bias as int32 codes with scale input_scale x weight_scale, without the optional zero
  // point (0 for int32: a vector of zeros would cost 4 bytes per channel); false when out of range.
  bool quantize_bias(ir::Node* n, size_t layer, float input_scale, const at::Tensor& weight_scale) {
    ir::Value* b = n->input(2);
    const at::Tensor bias = runtime::to_aten(*b->initializer()).to(at::kFloat);
    const at::Tensor scale = weight_scale.to(at::kFloat) * input_scale;  // float32 product, as runtimes compute it
    const at::Tensor codes = at::round(bias / scale);
    if (codes.abs().max().item<double>() > 2147483647.0) return false;
    const std::string id = "b" + std::to_string(layer);
    ir::Value* q = constant(id, codes, ir::DataType::Int32);
    ir::Value* s = constant(id + "_scale", scale, ir::DataType::Float);
    dequantize_into(n, 2, id + "_dq", {q, s}, scale.dim() == 1 ? 0 : -1);
    return true;
  }

  // HardSigmoid(x) = clip(x + beta/alpha, 0, 1/alpha) * alpha in integer ops ONNX Runtime runs:
  // x's DequantizeLinear + a uint8 constant -> Add -> QuantizeLinear with scale 1/(255 alpha),
  // whose uint8 range [0, 255] is the clip -> DequantizeLinear with scale 1/255, the * alpha (the
  // pair's scales differ on purpose). ORT fuses the Add into QLinearAdd and the readers' Muls into
  // QLinearMul. False (node left in float) when x was not quantized.
  bool integer_hard_sigmoid(ir::Node* n) {
    ir::Value* x = n->input(0);
    if (!x->producer() || x->producer()->op_type() != "DequantizeLinear") return false;
    const double alpha = n->attr_float("alpha", 0.2f), offset = n->attr_float("beta", 0.5f) / alpha;
    const std::string id = "g" + std::to_string(gates_++);
    ir::Value* k_dq = exact_scalar(id + "_k", offset);
    ir::Value* zp = constant(id + "_zp", at::scalar_tensor(0, at::kLong), ir::DataType::UInt8);
    ir::Value* clip_scale = constant(id + "_scale", at::scalar_tensor(1.0 / (255.0 * alpha), at::kFloat), ir::DataType::Float);
    ir::Value* out_scale = constant(id + "_out_scale", at::scalar_tensor(1.0 / 255.0, at::kFloat), ir::DataType::Float);
    ir::Value* sum = add(id + "_add", "Add", {x, k_dq});
    ir::Value* q = add(id + "_q", "QuantizeLinear", {sum, clip_scale, zp});
    graph_.replace_all_uses(n->output(0), add(id + "_dq", "DequantizeLinear", {q, out_scale, zp}));
    graph_.erase_node(n);
    return true;
  }

  // The float constant input of a quantized scalar Add/Mul read through DequantizeLinear.
  void dequantize_scalar(ir::Node* n) {
    const size_t i = scalar_constant(n->input(0)) ? 0 : 1;
    ir::Value* old = n->input(i);
    const float value = runtime::to_aten(*old->initializer()).item<float>();
    graph_.set_input(n, i, exact_scalar("c" + std::to_string(scalars_++), value));
    if (old->uses().empty()) graph_.remove_initializer(old);
  }

  // The scale of an activation already quantized, or 0.
  float scale_of(const ir::Value* t) const {
    auto it = scales_.find(t);
    return it == scales_.end() ? 0.0f : it->second;
  }

 private:
  // DequantizeLinear of a uint8 code giving exactly `value`: code 1 with zero point 0 and scale
  // value, or code 0 with zero point 1 and scale -value (0 as code 0, scale 1).
  ir::Value* exact_scalar(const std::string& id, double value) {
    const int64_t code = value > 0 ? 1 : 0, zero_point = value < 0 ? 1 : 0;
    ir::Value* q = constant(id, at::scalar_tensor(code, at::kLong), ir::DataType::UInt8);
    ir::Value* s = constant(id + "_scale", at::scalar_tensor(value == 0 ? 1.0 : std::abs(value), at::kFloat), ir::DataType::Float);
    ir::Value* zp = constant(id + "_zp", at::scalar_tensor(zero_point, at::kLong), ir::DataType::UInt8);
    return add(id + "_dq", "DequantizeLinear", {q, s, zp});
  }

  // A new node named `name` with one output of the same name.
  ir::Value* add(const std::string& base, const std::string& op, std::vector<ir::Value*> inputs) {
    return add_op(graph_, op, base, std::move(inputs))->output(0);
  }

  void dequantize_into(ir::Node* n, size_t index, const std::string& base, const std::vector<ir::Value*>& dq_inputs,
                       int64_t axis) {
    ir::Value* old = n->input(index);
    const std::string name = graph_.unique_name(base);
    std::vector<ir::Attribute> attrs;
    if (axis >= 0) attrs.push_back(ir::Attribute::make_int("axis", axis));
    ir::Node* dq = graph_.add_node({"DequantizeLinear", name, "", dq_inputs, {name}, attrs, {}, ""});
    graph_.set_input(n, index, dq->output(0));
    if (old->uses().empty()) graph_.remove_initializer(old);
  }

  ir::Graph& graph_;
  bool symmetric_;
  size_t activations_ = 0;  // numbers the activations' Q/DQ names (a<k>)
  size_t gates_ = 0;        // numbers the integer HardSigmoids' names (g<k>)
  size_t scalars_ = 0;      // numbers the scalar constants' names (c<k>)
  std::map<const ir::Value*, float> scales_;
};

bool bias_quantizable(const ir::Node& n) {
  const ir::Value* b = n.input(2);
  if (!b || !b->has_initializer() || b->initializer()->dtype() != ir::DataType::Float || b->initializer()->dims().size() != 1)
    return false;
  if (n.op_type() == "Gemm") return n.attr_float("alpha", 1.0f) == 1.0f && n.attr_float("beta", 1.0f) == 1.0f;
  return n.op_type() == "Conv";
}

}  // namespace

Int8Result quantize_int8(ir::Model& model, const data::Dataset& data, const Int8Options& o) {
  Int8Result result;
  result.nothing_to_quantize = std::none_of(model.graph.nodes().begin(), model.graph.nodes().end(), [&](const auto& n) {
    return weighted(*n) && std::find(o.keep.begin(), o.keep.end(), n->name) == o.keep.end();
  });
  if (result.nothing_to_quantize) return result;  // activations alone in int8 would only add Q/DQ pairs
  if (model.opset_version("") < 13 && (o.per_channel || model.opset_version("") < 10)) {
    // Per-channel scales (DequantizeLinear's axis) exist from opset 13 on, Q/DQ from 10.
    const int64_t from = model.opset_version("");
    try {
      upgrade_opset(model, 13);
      result.opset_raised_from = from;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::BadInput || from < 10) throw;
      result.per_tensor_reason = e.what();
    }
  }
  const int64_t opset = model.opset_version("");
  if (opset < 10)
    throw bad_input("int8 quantization needs ONNX opset 10 or newer (the model has " + std::to_string(opset) +
                    " and could not be raised)");
  ir::Graph& graph = model.graph;
  result.folded_batchnorms = fold_batchnorm(graph);
  result.folded_affines = fold_affine_into_conv(graph);
  if (!o.symmetric) {
    result.folded_gates = fold_hard_sigmoid_into_conv(model, o.keep);
    result.hard_swishes = expand_hard_swish(model);
  }
  make_constants_private(graph);
  result.padding = pad_channels_for_int8(model, o.pad_channels, o.keep, data, o.calibration.preprocess);
  if (o.smooth_alpha > 0) {
    const SmoothQuantResult smoothed = smooth_quant(model, data, o.smooth_alpha, o.calibration);
    result.smoothed_norms = smoothed.norms;
    result.smoothed_layers = smoothed.layers;
  }
  const Selection sel{o.symmetric, std::set<std::string>(o.keep.begin(), o.keep.end()), o.activation_matmuls};

  // Calibrate on the float graph, Relu/Clip outputs included: a removed one's range becomes its
  // producer's.
  const std::vector<RemovableActivation> removable =
      o.symmetric ? std::vector<RemovableActivation>() : removable_activations(model, sel);
  std::vector<ir::Value*> candidates = quantizable_tensors(graph, sel);
  for (const RemovableActivation& r : removable) candidates.push_back(r.node->output(0));
  candidates = float_only(model, candidates, data, o.calibration);
  std::vector<std::string> names;
  for (const ir::Value* v : candidates) names.push_back(v->name());
  CalibrationOptions calibration = o.calibration;
  calibration.symmetric = o.symmetric;
  std::map<std::string, Range> ranges = calibrate(model, names, data, calibration);

  std::set<std::string> clamped;  // tensors whose uint8 range now does a removed Relu's or Clip's work
  for (const RemovableActivation& r : removable) {
    ir::Value* x = r.node->input(0);
    auto it = ranges.find(r.node->output(0)->name());
    if (it == ranges.end()) continue;
    ranges[x->name()] = {0.0, std::clamp(it->second.hi, 0.0, r.hi)};
    clamped.insert(x->name());
    ++(r.node->op_type() == "Relu" ? result.removed_relus : result.removed_clips);
    std::vector<ir::Value*> bounds(r.node->inputs().begin() + 1, r.node->inputs().end());
    graph.replace_all_uses(r.node->output(0), x);
    graph.erase_node(r.node);
    for (ir::Value* b : bounds) {  // a Clip's bounds nothing else reads
      if (!b || !b->uses().empty() || b->is_graph_output()) continue;
      if (b->producer() && b->producer()->op_type() == "Constant") graph.erase_node(b->producer());
      else if (b->has_initializer() && !b->is_graph_input()) graph.remove_initializer(b);
    }
  }

  // Split and Resize keep their input's quantization (see Selection::moves_values), and a Concat's
  // inputs and output share one (shared_scales.h), after the Relu/Clip removal, which set the
  // final ranges of the tensors they read. Not MaxPool: ONNX Runtime then runs it on uint8, which
  // in PP-OCR cls's NCHW head was slower than its float MaxPool between Q/DQ (int8 cls 0.92 ->
  // 0.96 ms; the detector's NHWC ones gained 1-2%).
  const SharedScales shared =
      share_ranges(graph, [&](const ir::Node& n) { return sel.quantized(n); }, ranges, clamped);
  result.shared_scale_concats = shared.concats;
  result.concats_left_apart = shared.concats_left_apart;

  // Found before Q/DQ insertion, which makes DequantizeLinear the producer of their inputs.
  std::vector<ir::Node*> gates, scalar_ops;
  for (const auto& n : graph.nodes()) {
    if (!sel.quantized(*n)) continue;
    if (n->op_type() == "Sigmoid") ++result.integer_sigmoids;
    if (n->op_type() == "HardSigmoid") gates.push_back(n.get());
    else if ((n->op_type() == "Add" || n->op_type() == "Mul") && (scalar_constant(n->input(0)) || scalar_constant(n->input(1))))
      scalar_ops.push_back(n.get());
  }
  Rewriter rw(model, o.symmetric);
  for (ir::Value* t : quantizable_tensors(graph, sel)) {
    auto it = ranges.find(t->name());
    if (it == ranges.end()) continue;  // not a float tensor
    result.activations.push_back({t->name(), it->second});
    rw.quantize_activation(t, activation_params(it->second, o.symmetric));
  }
  for (ir::Node* n : gates) result.integer_hard_sigmoids += rw.integer_hard_sigmoid(n);
  for (ir::Node* n : scalar_ops) rw.dequantize_scalar(n);
  result.integer_scalar_ops = static_cast<int>(scalar_ops.size());
  const bool per_channel = o.per_channel && opset >= 13;
  std::vector<ir::Node*> layers;
  for (const auto& n : graph.nodes())
    if (weighted(*n) && !sel.keep.count(n->name)) layers.push_back(n.get());
  for (size_t i = 0; i < layers.size(); ++i) {
    ir::Node* n = layers[i];
    QuantizedLayer row{n->name, n->op_type(), n->input(1)->initializer()->numel(), 0, 0, false};
    const int64_t axis = analysis::output_channel_axis(*n);
    const at::Tensor scale = rw.quantize_weight(n, i, axis, per_channel && axis >= 0, o.reduce_range ? 63.0 : 127.0);
    row.min_scale = scale.min().item<double>();
    row.max_scale = scale.max().item<double>();
    // The input's scale: the DequantizeLinear feeding input 0 was created from it.
    const ir::Node* dq = n->input(0)->producer();
    const float input_scale = dq && dq->op_type() == "DequantizeLinear" && dq->input(0)->producer()
                                  ? rw.scale_of(dq->input(0)->producer()->input(0))
                                  : 0.0f;
    if (o.int32_bias && input_scale > 0 && bias_quantizable(*n)) row.int32_bias = rw.quantize_bias(n, i, input_scale, scale);
    result.layers.push_back(row);
  }
  graph.sort_topologically();
  graph.remove_dangling_values();
  // Shapes of rewired intermediate values are unchanged, but a removed Relu's output is gone and
  // Q/DQ outputs are new: drop stale intermediate types rather than keep wrong ones.
  for (ir::Value* v : graph.values())
    if (!v->is_graph_input() && !v->is_graph_output()) v->type = ir::ValueType();
  return result;
}

}  // namespace nncompress::passes
