#include "nncompress/passes/prune/autoprune.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>

#include "auxiliary_signal.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// The weight the forward pass sees: w * h(m) in value. Its gradient reaches w through h(m)
// (pruned weights get none but keep their value, so they can come back) and reaches m as
// dL/d(w h(m)) * sign(w): the straight-through estimator with AutoPrune's sign rule.
at::Tensor masked_view(const at::Tensor& w, const at::Tensor& m) {
  const at::Tensor keep = m.detach().gt(0).to(w.scalar_type());
  return w * keep + w.detach().sign() * (m - m.detach());
}

int64_t count_pruned(const std::vector<at::Tensor>& aux) {
  int64_t n = 0;
  for (const at::Tensor& m : aux) n += m.detach().le(0).sum().item<int64_t>();
  return n;
}

}  // namespace

void check_autoprune_options(const AutoPruneOptions& o) {
  if (o.target_sparsity < 0 || o.target_sparsity >= 1) throw bad_input("sparsity must be in [0, 1)");
  if (o.lambda < 0) throw bad_input("lambda must not be negative");
  if (o.aux_lr <= 0) throw bad_input("aux-lr must be positive");
  if (o.aux_momentum < 0 || o.aux_momentum >= 1) throw bad_input("the auxiliary momentum must be in [0, 1)");
  if (o.search_fraction && (*o.search_fraction <= 0 || *o.search_fraction > 1))
    throw bad_input("the search fraction must be in (0, 1]");
  if (o.aux_init != "magnitude" && o.aux_init != "constant")
    throw bad_input("unknown auxiliary initialization '" + o.aux_init + "' (magnitude, constant)");
  if (o.target_macs < 0 || o.target_macs > 1 || o.target_params < 0 || o.target_params > 1)
    throw bad_input("target-macs and target-params are fractions in (0, 1]");
  if (o.target_macs > 0 && o.target_params > 0) throw bad_input("give target-macs or target-params, not both");
}

AutoPruneResult prune_autoprune(ir::Model& model, const data::Dataset& train_data, const data::Dataset* val_data,
                                const AutoPruneOptions& o) {
  check_autoprune_options(o);
  make_constants_private(model.graph);
  const std::vector<PrunableWeight> layers = prunable_weights(model.graph, o.keep);
  if (layers.empty()) throw bad_input("the model has no prunable Conv/Gemm/MatMul weights");

  std::vector<at::Tensor> weights, aux;
  int64_t total = 0;
  double abs_sum = 0;
  for (const PrunableWeight& l : layers) {
    weights.push_back(runtime::to_aten(*l.weight->initializer()).to(at::kFloat));
    total += weights.back().numel();
    abs_sum += weights.back().abs().sum().item<double>();
  }
  const double mean_abs = std::max(abs_sum / static_cast<double>(total), 1e-12);
  for (const at::Tensor& w : weights) {
    at::Tensor m = o.aux_init == "magnitude" ? (w.abs() / (2 * mean_abs)).clamp_max(1.0) : at::ones_like(w);
    aux.push_back(m.requires_grad_(true));
  }
  std::vector<at::Tensor> ever_pruned;
  for (const at::Tensor& m : aux) ever_pruned.push_back(m.detach().le(0));
  AuxiliarySignal signal(aux, o.aux_momentum);

  AutoPruneResult result;
  train::TrainOptions t = o.train;
  t.keep_best_epoch = false;  // the masks change over training: the last epoch is the pruned model
  t.synced_gradients = aux;     // read by the signal after each step
  for (size_t i = 0; i < layers.size(); ++i)
    t.views.push_back({layers[i].weight->name(), [m = aux[i]](const at::Tensor& w) { return masked_view(w, m); }});

  const int64_t search_end = search_steps(train_data.size(), t, o.search_fraction.value_or(2.0 / 3.0));
  double lambda = o.lambda;
  int64_t step = 0;
  t.after_step = [&] {
    at::NoGradGuard no_grad;
    ++step;
    if (step <= search_end) {
      signal.update();
      for (size_t i = 0; i < aux.size(); ++i) {
        at::Tensor m = aux[i].detach();
        m.sub_(o.aux_lr * (signal[i] + lambda)).clamp_(-1.0, 1.0);
        ever_pruned[i].logical_or_(m.le(0));
      }
      if (o.target_sparsity > 0) {
        const double sparsity = static_cast<double>(count_pruned(aux)) / static_cast<double>(total);
        const double progress = static_cast<double>(step) / static_cast<double>(search_end);
        const double goal = o.target_sparsity * (1.0 - std::pow(1.0 - progress, 3));
        lambda = std::clamp(sparsity < goal ? lambda * 1.05 : lambda / 1.05, 1e-4, 1e3);
        if (step == search_end) {
          // Meet the target exactly: shift every auxiliary by the global k-th smallest value.
          std::vector<at::Tensor> flat;
          for (const at::Tensor& m : aux) flat.push_back(m.detach().reshape({-1}));
          const int64_t k = static_cast<int64_t>(o.target_sparsity * static_cast<double>(total));
          if (k > 0) {
            const double kth = std::get<0>(at::cat(flat).kthvalue(k)).item<double>();
            for (const at::Tensor& m : aux) m.detach().sub_(kth);
          }
        }
      }
    }
    signal.clear_gradients();
  };
  result.training = train::fine_tune(model, train_data, val_data, t);
  result.final_lambda = lambda;

  for (size_t i = 0; i < layers.size(); ++i) {
    ir::Tensor* init = layers[i].weight->mutable_initializer();
    const at::Tensor mask = aux[i].detach().gt(0).to(at::kFloat);
    const at::Tensor trained = runtime::to_aten(*init);
    runtime::replace_data(*init, trained * mask.to(trained.scalar_type()));
    const int64_t nonzeros_before = weights[i].ne(0).sum().item<int64_t>();
    const int64_t nonzeros_after = runtime::to_aten(*init).ne(0).sum().item<int64_t>();
    result.layers.push_back({layers[i].node->name, layers[i].node->op_type(), layers[i].weight->name(), weights[i].numel(),
                             nonzeros_before, nonzeros_after});
    result.recovered += (ever_pruned[i] & mask.gt(0)).sum().item<int64_t>();
    result.masks.push_back({layers[i].weight->name(), mask});
  }
  return result;
}

}  // namespace nncompress::passes
