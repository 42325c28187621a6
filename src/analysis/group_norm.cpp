#include "nncompress/analysis/group_norm.h"

#include "nncompress/analysis/int_constant.h"

namespace nncompress::analysis {

namespace {

// The node reading `v` when it is the only reader, at input `index`.
ir::Node* only_reader(const ir::Value* v, size_t index) {
  if (!v || v->is_graph_output() || v->uses().size() != 1 || v->uses()[0].index != index) return nullptr;
  return v->uses()[0].node;
}

bool is(const ir::Node* n, const char* op) { return n && n->in_default_domain() && n->op_type() == op; }

bool vector_of(const ir::Value* v, int64_t n) {
  return v && v->has_initializer() && v->initializer()->dims() == std::vector<int64_t>{n};
}

}  // namespace

std::vector<GroupNormBlock> find_group_norms(const ir::Graph& graph) {
  std::vector<GroupNormBlock> blocks;
  for (const auto& node : graph.nodes()) {
    GroupNormBlock b;
    b.split = node.get();
    if (!is(b.split, "Reshape") || b.split->attr_int("allowzero", 0) != 0 || b.split->inputs().size() < 2) continue;
    const std::vector<int64_t> target = int_constant(b.split->input(1)).value_or(std::vector<int64_t>{});
    if (target.size() != 3 || target[1] <= 0 || target[2] != -1 || b.split->input(1)->uses().size() != 1) continue;
    b.groups = target[1];
    b.split_target = b.split->input(1);
    b.norm = only_reader(b.split->output(0), 0);
    if (!is(b.norm, "InstanceNormalization") || b.norm->inputs().size() != 3 || !vector_of(b.norm->input(1), b.groups) ||
        !vector_of(b.norm->input(2), b.groups))
      continue;
    b.merge = only_reader(b.norm->output(0), 0);
    if (!is(b.merge, "Reshape") || b.merge->inputs().size() < 2 || b.merge->attr_int("allowzero", 0) != 0) continue;
    ir::Value* back = b.merge->input(1);
    ir::Node* shape = back ? back->producer() : nullptr;
    if (is(shape, "Shape") && shape->input(0) == b.split->input(0) && !shape->has_attribute("start") &&
        !shape->has_attribute("end") && only_reader(back, 1) == b.merge) {
      b.shape = shape;
    } else {
      const std::vector<int64_t> dims = int_constant(back).value_or(std::vector<int64_t>{});
      if (dims.size() < 3 || back->uses().size() != 1) continue;  // [N, C, spatial...] written out
      b.merge_target = back;
    }
    blocks.push_back(b);
  }
  return blocks;
}

}  // namespace nncompress::analysis
