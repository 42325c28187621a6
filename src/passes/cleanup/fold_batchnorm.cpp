#include "nncompress/passes/cleanup/fold_batchnorm.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

bool is_constant(const ir::Value* v) { return v && v->has_initializer() && ir::is_floating_point(v->initializer()->dtype()); }

// The Conv producing `y` when one node alone reads y and the Conv's weight and bias are constants;
// else nullptr.
ir::Node* conv_read_once(const ir::Value* y) {
  ir::Node* conv = y ? y->producer() : nullptr;
  if (!conv || conv->op_type() != "Conv" || !conv->domain().empty() || !is_constant(conv->input(1)) ||
      (conv->input(2) && !is_constant(conv->input(2))))
    return nullptr;
  if (y->uses().size() != 1 || y->uses()[0].implicit || y->is_graph_output()) return nullptr;
  return conv;
}

// The Conv whose output only this BatchNormalization reads, or nullptr when it cannot be folded.
ir::Node* foldable_conv(const ir::Node& bn) {
  if (bn.outputs().size() != 1 || bn.attr_int("training_mode", 0) != 0 || bn.output(0)->is_graph_output()) return nullptr;
  for (size_t i = 1; i < 5; ++i)
    if (!is_constant(bn.input(i))) return nullptr;
  return conv_read_once(bn.input(0));
}

// conv(x) * scale + shift, per output channel (both of its length, double), folded into the
// Conv's weight and bias (a bias is added when it has none).
void fold_into_conv(ir::Graph& graph, ir::Node* conv, const at::Tensor& scale, const at::Tensor& shift) {
  ir::Tensor* w = conv->input(1)->mutable_initializer();
  const at::Tensor weight = runtime::to_aten(*w).to(at::kDouble);
  std::vector<int64_t> shape(weight.dim(), 1);
  shape[0] = -1;
  runtime::replace_data(*w, weight * scale.reshape(shape));
  const at::Tensor bias = conv->input(2) ? runtime::to_aten(*conv->input(2)->initializer()).to(at::kDouble)
                                         : at::zeros({weight.size(0)}, at::kDouble);
  const at::Tensor folded = bias * scale + shift;
  if (conv->input(2)) {
    runtime::replace_data(*conv->input(2)->mutable_initializer(), folded);
  } else {
    const std::string name = graph.unique_name(conv->input(1)->name() + ".bias");
    graph.set_input(conv, 2, graph.add_initializer(name, runtime::from_aten(folded, w->dtype())));
  }
}

// Replaces `node`'s output by the Conv's and erases it with the constants only it read.
void remove_folded(ir::Graph& graph, ir::Node* node, ir::Node* conv) {
  std::set<ir::Value*> constants;  // a set: removing one frees it
  for (ir::Value* in : node->inputs())
    if (in && in->has_initializer()) constants.insert(in);
  graph.replace_all_uses(node->output(0), conv->output(0));
  graph.erase_node(node);
  for (ir::Value* c : constants)
    if (c->uses().empty() && !c->is_graph_output()) graph.remove_initializer(c);
}

// The per-output-channel values of constant `c` when Mul/Add by it keeps conv's output shape (a
// scalar, or [C, 1, 1] / [1, C, 1, 1] for a 2-D conv), as a length-C double tensor; else undefined.
at::Tensor per_channel(const ir::Node& conv, const ir::Value* c) {
  if (!is_constant(c)) return at::Tensor();
  const int64_t channels = conv.input(1)->initializer()->dims()[0];
  const int64_t rank = static_cast<int64_t>(conv.input(1)->initializer()->dims().size());  // = output rank
  const std::vector<int64_t>& dims = c->initializer()->dims();
  const int64_t offset = rank - static_cast<int64_t>(dims.size());
  if (offset < 0) return at::Tensor();
  for (int64_t i = 0; i < static_cast<int64_t>(dims.size()); ++i)
    if (dims[i] != 1 && !(i + offset == 1 && dims[i] == channels)) return at::Tensor();
  return runtime::to_aten(*c->initializer()).to(at::kDouble).reshape({-1}).expand({channels}).contiguous();
}

}  // namespace

int fold_batchnorm(ir::Graph& graph) {
  make_constants_private(graph);
  std::vector<std::pair<ir::Node*, ir::Node*>> pairs;  // conv, bn
  for (const auto& n : graph.nodes())
    if (n->op_type() == "BatchNormalization" && n->domain().empty())
      if (ir::Node* conv = foldable_conv(*n)) pairs.push_back({conv, n.get()});

  for (auto [conv, bn] : pairs) {
    auto read = [&](size_t i) { return runtime::to_aten(*bn->input(i)->initializer()).to(at::kDouble); };
    const at::Tensor factor = read(1) / (read(4) + bn->attr_float("epsilon", 1e-5f)).sqrt();
    fold_into_conv(graph, conv, factor, read(2) - read(3) * factor);
    remove_folded(graph, bn, conv);
  }
  graph.remove_dangling_values();
  return static_cast<int>(pairs.size());
}

int fold_affine_into_conv(ir::Graph& graph) {
  make_constants_private(graph);
  int folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& n : graph.nodes()) {
      ir::Node* op = n.get();
      if ((op->op_type() != "Mul" && op->op_type() != "Add") || !op->in_default_domain() || op->inputs().size() != 2 ||
          op->output(0)->is_graph_output())
        continue;
      const size_t from = conv_read_once(op->input(0)) ? 0 : 1;
      ir::Node* conv = conv_read_once(op->input(from));
      if (!conv) continue;
      ir::Value* y = op->input(from);
      const at::Tensor c = per_channel(*conv, op->input(op->input(0) == y ? 1 : 0));
      if (!c.defined()) continue;
      if (op->op_type() == "Mul") fold_into_conv(graph, conv, c, at::zeros_like(c));
      else fold_into_conv(graph, conv, at::ones_like(c), c);
      remove_folded(graph, op, conv);
      ++folded;
      changed = true;
      break;  // the node list changed
    }
  }
  graph.remove_dangling_values();
  return folded;
}

int fold_hard_sigmoid_into_conv(ir::Model& model, const std::vector<std::string>& keep) {
  ir::Graph& graph = model.graph;
  make_constants_private(graph);
  auto kept = [&](const ir::Node& n) { return std::find(keep.begin(), keep.end(), n.name) != keep.end(); };
  std::vector<ir::Node*> gates;
  for (const auto& n : graph.nodes())
    if (n->op_type() == "HardSigmoid" && n->in_default_domain() && !n->output(0)->is_graph_output() && !kept(*n))
      if (const ir::Node* conv = conv_read_once(n->input(0)); conv && !kept(*conv)) gates.push_back(n.get());
  for (ir::Node* gate : gates) {
    ir::Node* conv = gate->input(0)->producer();
    const int64_t channels = conv->input(1)->initializer()->dims()[0];
    const double alpha = gate->attr_float("alpha", 0.2f), beta = gate->attr_float("beta", 0.5f);
    fold_into_conv(graph, conv, at::full({channels}, alpha, at::kDouble), at::full({channels}, beta, at::kDouble));
    // Clip's bounds are attributes before opset 11 and inputs from then on.
    const std::string base = gate->name.empty() ? "hard_sigmoid_clip" : gate->name + "_clip";
    ir::Node* clip = nullptr;
    if (model.opset_version("") < 11) {
      clip = add_op(graph, "Clip", base, {conv->output(0)},
                    {ir::Attribute::make_float("min", 0.0f), ir::Attribute::make_float("max", 1.0f)});
    } else {
      ir::Value* lo = add_constant(graph, base + "_min", at::scalar_tensor(0.0f), ir::DataType::Float);
      ir::Value* hi = add_constant(graph, base + "_max", at::scalar_tensor(1.0f), ir::DataType::Float);
      clip = add_op(graph, "Clip", base, {conv->output(0), lo, hi});
    }
    graph.replace_all_uses(gate->output(0), clip->output(0));
    graph.erase_node(gate);
  }
  if (!gates.empty()) graph.sort_topologically();
  graph.remove_dangling_values();
  return static_cast<int>(gates.size());
}

}  // namespace nncompress::passes
