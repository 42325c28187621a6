#include "nncompress/passes/quant/embedding_weights.h"

#include <ATen/ATen.h>

#include "nncompress/core/format.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// A Gather of rows (axis 0) from a constant float table by indices computed at run time.
bool embedding_lookup(const ir::Node& n) {
  if (!n.domain().empty() || n.op_type() != "Gather" || n.attr_int("axis", 0) != 0) return false;
  const ir::Value* table = n.input(0);
  const ir::Value* ids = n.input(1);
  return table && table->initializer() && !table->is_graph_input() && ir::is_floating_point(table->initializer()->dtype()) &&
         table->initializer()->dims().size() == 2 && ids && !ids->initializer();
}

}  // namespace

std::vector<ir::Node*> embedding_lookups(const ir::Graph& graph, const std::set<std::string>& keep) {
  std::vector<ir::Node*> out;
  for (const auto& n : graph.nodes())
    if (!keep.count(n->name) && embedding_lookup(*n)) out.push_back(n.get());
  return out;
}

void quantize_embeddings(ir::Graph& graph, const std::vector<ir::Node*>& lookups, PassResult& result) {
  if (lookups.empty()) return;
  nlohmann::json tables = nlohmann::json::array();
  int64_t total = 0;
  for (ir::Node* n : lookups) {
    ir::Value* table = n->input(0);
    const at::Tensor w = runtime::to_aten(*table->initializer()).to(at::kFloat);
    const double absmax = w.abs().max().item<double>();
    const double scale = absmax > 0 ? absmax / 127.0 : 1.0;
    const at::Tensor wq = at::round(w / scale).clamp(-127, 127);
    const std::string id = n->name.empty() ? n->output(0)->name() : n->name;
    ir::Value* codes = add_constant(graph, id + "_W_q", wq.to(at::kChar), ir::DataType::Int8);
    ir::Value* s = add_constant(graph, id + "_W_scale", at::tensor(static_cast<float>(scale)), ir::DataType::Float);
    ir::Value* zp = add_constant(graph, id + "_W_zp", at::zeros({}, at::kChar), ir::DataType::Int8);
    ir::Node* gather = add_op(graph, "Gather", id + "_int8", {codes, n->input(1)}, {ir::Attribute::make_int("axis", 0)});
    ir::Node* dq = add_op(graph, "DequantizeLinear", id + "_dq", {gather->output(0), s, zp});
    graph.move_output(n, 0, dq, 0);
    graph.erase_node(n);
    if (table->uses().empty() && !table->is_graph_output()) graph.remove_initializer(table);  // shared tables stay
    total += w.numel();
    tables.push_back({{"name", id}, {"weights", w.numel()}, {"scale", scale},
                      {"max_error", (w - wq * scale).abs().max().item<double>()}});
    std::vector<std::string> row = {id, "Gather", with_commas(w.numel()), format("%.3g", scale)};
    row.resize(std::max(row.size(), result.table.header.size()), "-");
    result.table.rows.push_back(row);
  }
  result.details["embeddings"] = tables;
  result.summary += format(", %zu embedding tables int8", lookups.size());
  result.notes.push_back(format("%zu embedding tables, %s weights int8 (one scale per table), dequantized after the lookup",
                                lookups.size(), with_commas(total).c_str()));
}

}  // namespace nncompress::passes
