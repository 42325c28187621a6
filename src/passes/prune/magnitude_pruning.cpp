#include "nncompress/passes/prune/magnitude_pruning.h"

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// The magnitude below which `sparsity` of `values` lies (ties are pruned together).
double threshold(const at::Tensor& magnitudes, double sparsity) {
  const int64_t k = static_cast<int64_t>(sparsity * magnitudes.numel());
  if (k <= 0) return -1.0;
  return std::get<0>(magnitudes.reshape({-1}).kthvalue(k)).item<double>();
}

}  // namespace

std::vector<PrunableWeight> prunable_weights(ir::Graph& graph, const std::vector<std::string>& keep_names) {
  const std::set<std::string> keep(keep_names.begin(), keep_names.end());
  std::vector<PrunableWeight> out;
  for (const auto& n : graph.nodes()) {
    if (!analysis::is_weighted_layer(*n)) continue;
    ir::Value* w = n->input(1);
    if (!w || !w->has_initializer() || w->initializer()->dtype() != ir::DataType::Float || keep.count(n->name)) continue;
    if (w->initializer()->dims().size() < 2) continue;
    out.push_back({n.get(), w});
  }
  return out;
}

MagnitudePruneResult prune_magnitude(ir::Model& model, const MagnitudePruneOptions& o) {
  if (o.sparsity < 0 || o.sparsity >= 1) throw bad_input("sparsity must be in [0, 1)");
  make_constants_private(model.graph);
  const std::vector<PrunableWeight> layers = prunable_weights(model.graph, o.keep);
  double global = -1.0;
  if (!o.per_layer && !layers.empty()) {
    std::vector<at::Tensor> all;
    for (const PrunableWeight& c : layers) all.push_back(runtime::to_aten(*c.weight->initializer()).abs().reshape({-1}));
    global = threshold(at::cat(all), o.sparsity);
  }
  MagnitudePruneResult result;
  for (const PrunableWeight& c : layers) {
    ir::Tensor* t = c.weight->mutable_initializer();
    const at::Tensor w = runtime::to_aten(*t);
    const double limit = o.per_layer ? threshold(w.abs(), o.sparsity) : global;
    const at::Tensor mask = (w.abs() > limit).to(at::kFloat);
    SparsityRow row{c.node->name, c.node->op_type(), c.weight->name(), w.numel(), w.ne(0).sum().item<int64_t>(), 0};
    runtime::replace_data(*t, w * mask);
    row.nonzeros_after = runtime::to_aten(*t).ne(0).sum().item<int64_t>();
    result.layers.push_back(row);
    result.masks.push_back({c.weight->name(), mask});
  }
  return result;
}

std::function<void(int64_t, int64_t, train::TrainOptions::MaskedParameters&)> gradual_magnitude_schedule(
    double initial, double final_sparsity, int64_t every) {
  return [=](int64_t step, int64_t total_steps, train::TrainOptions::MaskedParameters& masks) {
    const int64_t end = std::max<int64_t>(1, total_steps * 2 / 3);
    if (step > end || (step % every != 0 && step != end)) return;
    const double t = static_cast<double>(step) / end;
    const double target = final_sparsity + (initial - final_sparsity) * std::pow(1.0 - t, 3);
    // One threshold over all masked tensors, as the one-shot global magnitude pruning. Weights
    // already pruned stay pruned (their magnitude is 0, below any threshold).
    std::vector<at::Tensor> magnitudes;
    for (auto& [p, m] : masks) magnitudes.push_back((p.detach() * m).abs().reshape({-1}));
    const at::Tensor all = at::cat(magnitudes);
    const int64_t k = static_cast<int64_t>(target * all.numel());
    if (k <= 0) return;
    const double limit = std::get<0>(all.kthvalue(k)).item<double>();
    for (auto& [p, m] : masks) m = ((p.detach() * m).abs() > limit).to(p.scalar_type());
  };
}

int mark_sparse_storage(ir::Model& model, double min_sparsity) {
  int marked = 0;
  for (ir::Value* v : model.graph.initializers()) {
    ir::Tensor* t = v->mutable_initializer();
    if (!ir::is_floating_point(t->dtype()) || t->numel() == 0 || t->dims().empty()) continue;
    const double zeros = 1.0 - runtime::to_aten(*t).ne(0).sum().item<double>() / static_cast<double>(t->numel());
    if (zeros >= min_sparsity) {
      t->store_sparse = true;
      ++marked;
    }
  }
  return marked;
}

}  // namespace nncompress::passes
