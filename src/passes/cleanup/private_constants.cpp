#include "nncompress/passes/cleanup/private_constants.h"

#include <set>

namespace nncompress::passes {

namespace {

// The initializer behind `v`, looking through Identity nodes; nullptr when it is computed.
ir::Value* constant_source(ir::Value* v, bool* through_identity) {
  while (v && !v->has_initializer()) {
    ir::Node* p = v->producer();
    if (!p || p->op_type() != "Identity" || !p->in_default_domain()) return nullptr;
    v = p->input(0);
    *through_identity = true;
  }
  return v;
}

}  // namespace

int make_constants_private(ir::Graph& graph) {
  int copies = 0;
  std::vector<ir::Node*> nodes;
  for (const auto& n : graph.nodes()) nodes.push_back(n.get());
  for (ir::Node* n : nodes) {
    if (n->op_type() == "Identity") continue;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      ir::Value* in = n->input(i);
      bool through_identity = false;
      ir::Value* src = constant_source(in, &through_identity);
      if (!src || src->is_graph_input()) continue;
      if (!through_identity && src->uses().size() <= 1) continue;
      ir::Tensor copy = *src->initializer();
      copy = ir::Tensor(copy.dtype(), copy.dims(), copy.data().clone());
      const std::string name = graph.unique_name((n->name.empty() ? src->name() : n->name) + "." + std::to_string(i));
      graph.set_input(n, i, graph.add_initializer(name, std::move(copy)));
      ++copies;
    }
  }
  // Identity nodes nobody reads any more, then initializers nobody reads.
  bool removed = true;
  while (removed) {
    removed = false;
    for (const auto& n : graph.nodes()) {
      ir::Value* out = n->output(0);
      if (n->op_type() == "Identity" && out && out->uses().empty() && !out->is_graph_output()) {
        graph.erase_node(n.get());
        removed = true;
        break;
      }
    }
  }
  for (ir::Value* v : std::vector<ir::Value*>(graph.initializers()))
    if (v->uses().empty() && !v->is_graph_output() && !v->is_graph_input()) graph.remove_initializer(v);
  return copies;
}

}  // namespace nncompress::passes
