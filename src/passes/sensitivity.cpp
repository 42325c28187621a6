#include "nncompress/passes/sensitivity.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/quant/uniform_weights.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// The prepared input batches (prepared once: every measurement runs the same samples).
using Batch = std::vector<at::Tensor>;  // one prepared tensor per model input

std::vector<Batch> prepare(const runtime::Executor& exec, const data::Dataset& data, const SensitivityOptions& o) {
  std::vector<Batch> batches;
  for (int64_t start = 0; start < data.size(); start += o.batch)
    batches.push_back(data::prepare_inputs(data, start, std::min(o.batch, data.size() - start), exec.inputs(), o.preprocess));
  return batches;
}

at::Tensor logits_of(const runtime::Executor& exec, const std::vector<Batch>& batches) {
  std::vector<at::Tensor> out;
  for (const Batch& b : batches) out.push_back(exec.run(b).at(0).to(at::kFloat).reshape({b.at(0).size(0), -1}));
  return at::cat(out);
}

}  // namespace

WeightTransform quantize_weights_transform() {
  return [](const PrunableWeight& p, const at::Tensor& w, double bits) {
    return quantize_uniform(w, analysis::output_channel_axis(*p.node), static_cast<int>(bits)).values().to(w.scalar_type());
  };
}

WeightTransform prune_weights_transform() {
  return [](const PrunableWeight&, const at::Tensor& w, double sparsity) {
    const int64_t k = static_cast<int64_t>(sparsity * static_cast<double>(w.numel()));
    if (k <= 0) return w.clone();
    const at::Tensor order = std::get<1>(w.abs().reshape({-1}).sort(/*stable=*/true, 0, /*descending=*/false));
    at::Tensor flat = w.reshape({-1}).clone();
    flat.index_fill_(0, order.narrow(0, 0, k), 0);
    return flat.reshape(w.sizes());
  };
}

SensitivityResult measure_sensitivity(ir::Model& model, const std::vector<PrunableWeight>& layers,
                                      const std::vector<double>& settings, const WeightTransform& transform,
                                      const data::Dataset& data, const SensitivityOptions& o) {
  if (data.size() == 0) throw bad_input("sensitivity analysis needs data (none given)");
  at::NoGradGuard no_grad;
  runtime::Executor exec(model);
  const std::vector<Batch> batches = prepare(exec, data, o);
  const at::Tensor base = logits_of(exec, batches);
  const at::Tensor base_log_p = at::log_softmax(base, 1), base_p = base_log_p.exp(), base_class = base.argmax(1);
  const at::Tensor labels = data.has_labels() ? data.y.to(at::kLong) : at::Tensor();
  SensitivityResult result;
  result.samples = data.size();
  if (labels.defined()) result.base_top1 = base_class.eq(labels).to(at::kDouble).mean().item<double>();

  const int64_t total = static_cast<int64_t>(layers.size() * settings.size());
  int64_t done = 0;
  for (const PrunableWeight& p : layers) {
    LayerSensitivity row{p.node->name, p.node->op_type(), p.weight->name(), p.weight->initializer()->numel(), {}};
    at::Tensor& parameter = exec.parameter(p.weight->name());
    const at::Tensor original = parameter;
    for (double setting : settings) {
      parameter = transform(p, original, setting);
      const at::Tensor changed = logits_of(exec, batches);
      const at::Tensor log_q = at::log_softmax(changed, 1);
      SensitivityPoint point;
      point.setting = setting;
      point.kl = (base_p * (base_log_p - log_q)).sum(1).mean().item<double>();
      point.agreement = changed.argmax(1).eq(base_class).to(at::kDouble).mean().item<double>();
      if (labels.defined()) point.top1 = changed.argmax(1).eq(labels).to(at::kDouble).mean().item<double>();
      row.points.push_back(point);
      if (o.progress) o.progress(++done, total);
    }
    parameter = original;
    result.layers.push_back(std::move(row));
  }
  return result;
}

}  // namespace nncompress::passes
