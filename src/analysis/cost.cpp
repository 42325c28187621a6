#include "nncompress/analysis/cost.h"

#include <algorithm>
#include <unordered_set>

namespace nncompress::analysis {

std::optional<std::vector<int64_t>> shape_at_batch1(const ir::ValueType& type) {
  if (!type.is_tensor() || !type.shape) return std::nullopt;
  std::vector<int64_t> out;
  for (size_t i = 0; i < type.shape->size(); ++i) {
    const ir::Dim& d = (*type.shape)[i];
    if (d.is_known()) out.push_back(*d.value);
    else if (const auto k = d.batch_multiple_value()) out.push_back(*k);
    else if (i == 0) out.push_back(1);
    else return std::nullopt;
  }
  return out;
}

namespace {

using Shape = std::vector<int64_t>;

int64_t product(const Shape& s, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < s.size(); ++i) p *= s[i];
  return p;
}

class ShapeLookup {
 public:
  explicit ShapeLookup(const ir::TypeMap& types) : types_(types) {}
  std::optional<Shape> operator()(const ir::Value* v) const {
    if (!v) return std::nullopt;
    if (const ir::Tensor* t = v->initializer()) return t->dims();
    auto it = types_.find(v->name());
    return shape_at_batch1(it != types_.end() ? it->second : v->type);
  }

 private:
  const ir::TypeMap& types_;
};

std::optional<int64_t> node_macs(const ir::Node& n, const ShapeLookup& shape) {
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx") return 0;
  if (op == "Conv") {
    auto out = shape(n.output(0));
    auto w = shape(n.input(1));
    if (!out || !w || w->size() < 2) return std::nullopt;
    return product(*out) * product(*w, 1);  // per output element: Cin/group x kernel
  }
  if (op == "ConvTranspose") {
    auto x = shape(n.input(0));
    auto w = shape(n.input(1));
    if (!x || !w || w->size() < 2) return std::nullopt;
    return product(*x) * product(*w, 1);  // per input element: Cout/group x kernel
  }
  if (op == "Gemm") {
    auto out = shape(n.output(0));
    auto a = shape(n.input(0));
    if (!out || !a || a->size() != 2) return std::nullopt;
    const int64_t k = n.attr_int("transA", 0) ? (*a)[0] : (*a)[1];
    return product(*out) * k;
  }
  if (op == "MatMul" || op == "MatMulInteger") {
    auto out = shape(n.output(0));
    auto a = shape(n.input(0));
    if (!out || !a || a->empty()) return std::nullopt;
    return product(*out) * a->back();
  }
  return 0;
}

// Nodes whose inputs are all initializers or computed from them (runtimes fold these at load).
std::unordered_set<const ir::Node*> constant_nodes(const ir::Graph& graph) {
  std::unordered_set<const ir::Value*> constants(graph.initializers().begin(), graph.initializers().end());
  std::unordered_set<const ir::Node*> nodes;
  for (const ir::Node* node : graph.topological_order()) {
    if (node->inputs().empty() || !node->implicit_inputs().empty()) continue;
    if (!std::all_of(node->inputs().begin(), node->inputs().end(),
                     [&](const ir::Value* in) { return !in || constants.count(in); }))
      continue;
    nodes.insert(node);
    for (const ir::Value* out : node->outputs())
      if (out) constants.insert(out);
  }
  return nodes;
}

}  // namespace

ModelCost compute_cost(const ir::Graph& graph, const ir::TypeMap& types) {
  ModelCost cost;
  const ShapeLookup shape(types);
  const std::unordered_set<const ir::Node*> folded = constant_nodes(graph);
  std::unordered_set<const ir::Value*> counted;
  for (const auto& node : graph.nodes()) {
    NodeCost nc;
    nc.node = node.get();
    nc.constant = folded.count(node.get()) > 0;
    for (const ir::Value* in : node->inputs())
      if (in && in->has_initializer() && counted.insert(in).second) nc.params += in->initializer()->numel();
    nc.macs = nc.constant ? 0 : node_macs(*node, shape);
    if (nc.macs) cost.macs += *nc.macs;
    else ++cost.nodes_with_unknown_macs;
    cost.nodes.push_back(nc);
  }
  for (const ir::Value* v : graph.initializers()) {
    cost.params += v->initializer()->numel();
    cost.initializer_bytes += v->initializer()->byte_size();
  }
  return cost;
}

}  // namespace nncompress::analysis
