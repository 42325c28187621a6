// cleanup.identity: removes nodes that compute their input unchanged — Identity, and Dropout in
// inference form (no training_mode, or a constant false, and its mask unread) — so that later
// passes see producers and consumers directly. Nodes whose output is a graph output stay: their
// names are the model's interface.
#include "nncompress/core/format.h"
#include "nncompress/passes/pass.h"
#include "nncompress/runtime/tensor_convert.h"

#include <ATen/ATen.h>

namespace nncompress::passes {

namespace {

bool is_false_constant(const ir::Value* v) {
  return v && v->has_initializer() && v->initializer()->numel() == 1 && !runtime::to_aten(*v->initializer()).item<bool>();
}

bool passes_input_through(const ir::Node& n) {
  if (!n.input(0) || n.outputs().empty() || !n.output(0) || n.output(0)->is_graph_output()) return false;
  if (n.op_type() == "Identity") return n.domain().empty() || n.domain() == "ai.onnx";
  if (n.op_type() != "Dropout" || !(n.domain().empty() || n.domain() == "ai.onnx")) return false;
  const ir::Value* mask = n.output(1);
  if (mask && (!mask->uses().empty() || mask->is_graph_output())) return false;
  const ir::Value* training_mode = n.input(2);
  return !training_mode || is_false_constant(training_mode);
}

PassResult apply(ir::Model& model, const PassContext&, const OptionValues&) {
  ir::Graph& graph = model.graph;
  std::vector<ir::Node*> doomed;
  for (const auto& n : graph.nodes())
    if (passes_input_through(*n)) doomed.push_back(n.get());
  int identities = 0, dropouts = 0;
  for (ir::Node* n : doomed) {
    (n->op_type() == "Identity" ? identities : dropouts)++;
    graph.replace_all_uses(n->output(0), n->input(0));
    graph.erase_node(n);
  }
  graph.remove_dangling_values();
  PassResult result;
  result.details = {{"removed_identity", identities}, {"removed_dropout", dropouts}};
  result.summary = format("%d Identity and %d Dropout nodes removed", identities, dropouts);
  return result;
}

}  // namespace

const PassInfo& cleanup_identity_pass() {
  static const PassInfo info{
      "cleanup.identity",
      "remove Identity nodes and inference-form Dropout (graph outputs keep their names)",
      "nothing",
      {},
      nullptr,
      nullptr,
      apply,
  };
  return info;
}

}  // namespace nncompress::passes
