#include "inference_fusion.h"

#include <cmath>
#include <limits>

namespace nncompress::runtime {
namespace {

// A default-domain node of `op_type` with one output and, when `inputs` > 0, that many inputs.
bool is_op(const ir::Node* n, const char* op_type, size_t inputs = 0) {
  return n && n->in_default_domain() && n->op_type() == op_type && n->outputs().size() == 1 && n->output(0) &&
         (inputs == 0 || n->inputs().size() == inputs);
}

// The value of a float initializer of one element, or NaN.
double scalar_initializer(const ir::Value* v) {
  if (!v || !v->has_initializer()) return std::numeric_limits<double>::quiet_NaN();
  const ir::Tensor& t = *v->initializer();
  if (t.dtype() != ir::DataType::Float || t.numel() != 1) return std::numeric_limits<double>::quiet_NaN();
  return t.data().reshape({1})[0].item<double>();
}

// Whether a float32 constant was written for `exact` (the exporters round it to float).
bool is_constant(const ir::Value* v, double exact) { return std::abs(scalar_initializer(v) - exact) <= 1e-6 * std::abs(exact); }

// The operand of a two-input node other than `v`; nullptr when the node reads v twice.
const ir::Value* other_operand(const ir::Node* n, const ir::Value* v) {
  if (n->input(0) == v && n->input(1) != v) return n->input(1);
  if (n->input(1) == v && n->input(0) != v) return n->input(0);
  return nullptr;
}

// The node that alone reads v, when it is a default-domain `op_type` with `inputs` inputs.
const ir::Node* sole_reader(const ir::Value* v, const char* op_type, size_t inputs) {
  const ir::Use* use = sole_use(v);
  return use && is_op(use->node, op_type, inputs) ? use->node : nullptr;
}

}  // namespace

const ir::Use* sole_use(const ir::Value* v) {
  if (!v || v->is_graph_output() || v->uses().size() != 1 || v->uses()[0].implicit) return nullptr;
  return &v->uses()[0];
}

const ir::Node* foldable_batchnorm(const ir::Node& conv) {
  if (conv.op_type() != "Conv" || !conv.in_default_domain() || conv.outputs().size() != 1) return nullptr;
  const ir::Use* use = sole_use(conv.output(0));
  if (!use || use->index != 0) return nullptr;
  const ir::Node* bn = use->node;
  if (bn->op_type() != "BatchNormalization" || !bn->in_default_domain()) return nullptr;
  if (bn->attr_int("training_mode", 0) || bn->attr_int("spatial", 1) == 0 || bn->inputs().size() != 5) return nullptr;
  for (size_t i = 1; i < bn->inputs().size(); ++i)
    if (!bn->input(i)) return nullptr;
  for (size_t i = 1; i < bn->outputs().size(); ++i)
    if (bn->output(i)) return nullptr;
  return bn;
}

bool fusable_activation(const ir::Node& n) {
  if (!n.in_default_domain() || n.outputs().size() != 1) return false;
  if (n.op_type() == "Relu") return true;
  if (n.op_type() != "Clip") return false;
  for (size_t i = 1; i < n.inputs().size(); ++i)
    if (n.input(i) && !n.input(i)->has_initializer()) return false;
  return true;
}

const ir::Node* bias_add(const ir::Value* y, int64_t columns, size_t* operand) {
  const ir::Node* add = sole_reader(y, "Add", 2);
  if (!add) return nullptr;
  const ir::Value* bias = other_operand(add, y);
  if (!bias || !bias->has_initializer()) return nullptr;
  const ir::Tensor& t = *bias->initializer();
  const std::vector<int64_t>& dims = t.dims();
  if (t.dtype() != ir::DataType::Float || t.numel() != columns || dims.empty() || dims.size() > 2 || dims.back() != columns)
    return nullptr;
  *operand = add->input(0) == bias ? 0 : 1;
  return add;
}

std::vector<const ir::Node*> erf_gelu(const ir::Value* x) {
  if (!x || x->is_graph_output() || x->uses().size() != 2) return {};
  for (const ir::Use& u : x->uses())
    if (u.implicit) return {};
  // x / sqrt(2) (or x * (1 / sqrt(2))) -> Erf -> + 1, then times x, times 0.5 in either order.
  const double sqrt2 = std::sqrt(2.0);
  for (size_t s = 0; s < 2; ++s) {
    const ir::Node* scale = x->uses()[s].node;
    const ir::Node* other = x->uses()[1 - s].node;
    const bool divides = is_op(scale, "Div", 2) && scale->input(0) == x && is_constant(scale->input(1), sqrt2);
    const bool multiplies = is_op(scale, "Mul", 2) && is_constant(other_operand(scale, x), 1.0 / sqrt2);
    if (!divides && !multiplies) continue;
    const ir::Node* erf = sole_reader(scale->output(0), "Erf", 1);
    const ir::Node* plus_one = erf ? sole_reader(erf->output(0), "Add", 2) : nullptr;
    if (!plus_one || !is_constant(other_operand(plus_one, erf->output(0)), 1.0)) continue;
    const ir::Node* product = sole_reader(plus_one->output(0), "Mul", 2);
    if (!product) continue;
    if (product == other && other_operand(product, plus_one->output(0)) == x) {  // (x * (1 + erf)) * 0.5
      const ir::Node* half = sole_reader(product->output(0), "Mul", 2);
      if (half && is_constant(other_operand(half, product->output(0)), 0.5)) return {scale, erf, plus_one, product, half};
    } else if (is_op(other, "Mul", 2) && is_constant(other_operand(other, x), 0.5) &&  // (x * 0.5) * (1 + erf)
               sole_use(other->output(0)) && sole_use(other->output(0))->node == product &&
               other_operand(product, plus_one->output(0)) == other->output(0)) {
      return {scale, erf, plus_one, other, product};
    }
  }
  return {};
}

}  // namespace nncompress::runtime
