#include "nncompress/passes/cleanup/fold_batchnorm.h"

#include <ATen/ATen.h>

#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

bool is_constant(const ir::Value* v) { return v && v->has_initializer() && ir::is_floating_point(v->initializer()->dtype()); }

// The Conv whose output only this BatchNormalization reads, or nullptr when it cannot be folded.
ir::Node* foldable_conv(const ir::Node& bn) {
  if (bn.outputs().size() != 1 || bn.attr_int("training_mode", 0) != 0 || bn.output(0)->is_graph_output()) return nullptr;
  for (size_t i = 1; i < 5; ++i)
    if (!is_constant(bn.input(i))) return nullptr;
  ir::Value* x = bn.input(0);
  ir::Node* conv = x ? x->producer() : nullptr;
  if (!conv || conv->op_type() != "Conv" || !conv->domain().empty() || x->uses().size() != 1 || x->is_graph_output())
    return nullptr;
  if (!is_constant(conv->input(1)) || (conv->input(2) && !is_constant(conv->input(2)))) return nullptr;
  return conv;
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
    ir::Tensor* w = conv->input(1)->mutable_initializer();
    const at::Tensor weight = runtime::to_aten(*w).to(at::kDouble);
    std::vector<int64_t> shape(weight.dim(), 1);
    shape[0] = -1;
    runtime::replace_data(*w, weight * factor.reshape(shape));
    const at::Tensor bias = conv->input(2) ? runtime::to_aten(*conv->input(2)->initializer()).to(at::kDouble)
                                           : at::zeros({weight.size(0)}, at::kDouble);
    const at::Tensor folded = (bias - read(3)) * factor + read(2);
    if (conv->input(2)) {
      runtime::replace_data(*conv->input(2)->mutable_initializer(), folded);
    } else {
      const std::string name = graph.unique_name(conv->input(1)->name() + ".bias");
      graph.set_input(conv, 2, graph.add_initializer(name, runtime::from_aten(folded, w->dtype())));
    }
    std::vector<ir::Value*> parameters(bn->inputs().begin() + 1, bn->inputs().end());
    graph.replace_all_uses(bn->output(0), conv->output(0));
    graph.erase_node(bn);
    for (ir::Value* p : parameters)
      if (p->uses().empty()) graph.remove_initializer(p);
  }
  graph.remove_dangling_values();
  return static_cast<int>(pairs.size());
}

}  // namespace nncompress::passes
