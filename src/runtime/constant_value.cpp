#include "nncompress/runtime/constant_value.h"

#include <set>
#include <vector>

#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::runtime {

std::optional<at::Tensor> constant_value(const ir::Model& model, const ir::Value& value) {
  if (value.has_initializer()) return to_aten(*value.initializer());
  std::set<const ir::Node*> needed;
  std::set<const ir::Value*> leaves;
  std::vector<const ir::Value*> stack{&value};
  while (!stack.empty()) {
    const ir::Value* v = stack.back();
    stack.pop_back();
    if (v->has_initializer()) {
      leaves.insert(v);
      continue;
    }
    const ir::Node* n = v->producer();
    if (!n || !n->implicit_inputs().empty()) return std::nullopt;
    if (!needed.insert(n).second) continue;
    for (const ir::Value* in : n->inputs())
      if (in) stack.push_back(in);
  }
  ir::Model sub;
  sub.opset_imports = model.opset_imports;
  ir::Graph& g = sub.graph;
  for (const ir::Value* v : leaves) g.add_initializer(v->name(), *v->initializer());
  for (const ir::Node* n : model.graph.topological_order()) {
    if (!needed.count(n)) continue;
    ir::NodeSpec spec{n->op_type(), n->name, n->domain(), {}, {}, n->attributes(), {}, ""};
    for (const ir::Value* in : n->inputs()) spec.inputs.push_back(in ? g.find_value(in->name()) : nullptr);
    for (const ir::Value* out : n->outputs()) spec.output_names.push_back(out ? out->name() : "");
    g.add_node(std::move(spec));
  }
  g.mark_output(g.find_value(value.name()));
  const Executor exec(sub);
  return exec.run({}).at(0);
}

}  // namespace nncompress::runtime
