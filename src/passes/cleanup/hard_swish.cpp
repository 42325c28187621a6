#include "nncompress/passes/cleanup/hard_swish.h"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nncompress/runtime/clip_range.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

std::optional<double> scalar_initializer(const ir::Value* v) {
  if (!v || !v->has_initializer() || v->is_graph_input() || v->initializer()->numel() != 1) return std::nullopt;
  const at::Tensor t = runtime::to_aten(*v->initializer());
  if (!t.is_floating_point()) return std::nullopt;
  return t.item<double>();
}

bool is_scalar(const ir::Value* v, double expected) {
  const std::optional<double> s = scalar_initializer(v);
  return s && std::abs(*s - expected) <= 1e-6 * std::abs(expected);
}

bool is_op(const ir::Node* n, const char* op) { return n && n->op_type() == op && n->in_default_domain(); }

// The node that alone reads `v`, or nullptr.
ir::Node* only_reader(const ir::Value* v) {
  if (!v || v->is_graph_output() || v->uses().size() != 1 || v->uses()[0].implicit) return nullptr;
  return v->uses()[0].node;
}

// The operand of binary `n` that is not `v`, or nullptr when `v` is not an operand.
ir::Value* other_operand(const ir::Node& n, const ir::Value* v) {
  if (n.inputs().size() != 2) return nullptr;
  if (n.input(0) == v) return n.input(1);
  if (n.input(1) == v) return n.input(0);
  return nullptr;
}

// `n` computes v / 6 or v * (1/6).
bool divides_by_six(const ir::Node& n, const ir::Value* v) {
  if (is_op(&n, "Div")) return n.input(0) == v && is_scalar(n.input(1), 6.0);
  return is_op(&n, "Mul") && is_scalar(other_operand(n, v), 1.0 / 6.0);
}

struct HardSwish {
  ir::Value* x;
  ir::Value* y;
  std::vector<ir::Node*> nodes;  // in data order
};

// x + 3 -> Clip(0, 6) -> (* x, / 6 in either order), starting at the Clip.
std::optional<HardSwish> match_chain(const ir::Model& model, ir::Node& clip) {
  ir::Node* add = clip.input(0) ? clip.input(0)->producer() : nullptr;
  if (!is_op(add, "Add") || only_reader(add->output(0)) != &clip) return std::nullopt;
  ir::Value* x = nullptr;
  for (size_t i = 0; i < 2; ++i)
    if (is_scalar(add->input(i), 3.0) && add->input(1 - i) && !add->input(1 - i)->has_initializer()) x = add->input(1 - i);
  if (!x) return std::nullopt;
  const std::optional<runtime::ClipRange> range = runtime::clip_range(clip, model.opset_version(""), [&](size_t i) {
    const std::optional<double> s = scalar_initializer(clip.input(i));
    return s ? std::optional<at::Tensor>(at::scalar_tensor(*s)) : std::nullopt;
  });
  if (!range || range->lo != 0.0 || range->hi != 6.0) return std::nullopt;
  ir::Node* first = only_reader(clip.output(0));
  ir::Node* second = first ? only_reader(first->output(0)) : nullptr;
  if (!first || !second || first->outputs().size() != 1 || second->outputs().size() != 1) return std::nullopt;
  const bool times_x_then_sixth = is_op(first, "Mul") && other_operand(*first, clip.output(0)) == x &&
                                  divides_by_six(*second, first->output(0));
  const bool sixth_then_times_x = divides_by_six(*first, clip.output(0)) && is_op(second, "Mul") &&
                                  other_operand(*second, first->output(0)) == x;
  if (!times_x_then_sixth && !sixth_then_times_x) return std::nullopt;
  return HardSwish{x, second->output(0), {add, &clip, first, second}};
}

void rewrite(ir::Graph& graph, const HardSwish& m) {
  const std::string base = m.nodes.back()->name.empty() ? "hard_swish" : m.nodes.back()->name;
  const std::string gate = graph.unique_name(base + "_gate");
  graph.add_node({"HardSigmoid", gate, "", {m.x}, {gate},
                  {ir::Attribute::make_float("alpha", 1.0f / 6.0f), ir::Attribute::make_float("beta", 0.5f)}, {}, ""});
  const std::string product = graph.unique_name(base + "_mul");
  ir::Node* mul = graph.add_node({"Mul", product, "", {m.x, &graph.value(gate)}, {product}, {}, {}, ""});
  graph.replace_all_uses(m.y, mul->output(0));
  std::set<std::string> constants;  // by name: removing an initializer frees its value
  for (auto it = m.nodes.rbegin(); it != m.nodes.rend(); ++it) {
    for (const ir::Value* in : (*it)->inputs())
      if (in && in->has_initializer() && !in->is_graph_input()) constants.insert(in->name());
    graph.erase_node(*it);
  }
  for (const std::string& name : constants)
    if (ir::Value* c = graph.find_value(name); c && c->uses().empty() && !c->is_graph_output())
      graph.remove_initializer(c);
}

}  // namespace

int expand_hard_swish(ir::Model& model) {
  ir::Graph& graph = model.graph;
  // Matched one at a time on the current graph: a rewrite replaces its output value, which may be
  // the next chain's input (two hard-swishes in a row). Nodes of different chains are disjoint.
  std::vector<ir::Node*> candidates;
  for (const auto& n : graph.nodes())
    if (is_op(n.get(), "HardSwish") || is_op(n.get(), "Clip")) candidates.push_back(n.get());
  int rewritten = 0;
  for (ir::Node* n : candidates) {
    std::optional<HardSwish> m;
    if (n->op_type() == "Clip") m = match_chain(model, *n);
    else if (n->input(0) && n->output(0)) m = HardSwish{n->input(0), n->output(0), {n}};
    if (!m || m->y->is_graph_output()) continue;
    rewrite(graph, *m);
    ++rewritten;
  }
  if (rewritten) graph.sort_topologically();
  return rewritten;
}

}  // namespace nncompress::passes
