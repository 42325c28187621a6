// BatchNormalization, InstanceNormalization, LayerNormalization.
#include <ATen/core/grad_mode.h>

#include "kernel_util.h"
#include "nncompress/dist/process_group.h"
#include "nncompress/runtime/batch_norm_training.h"
#include "nncompress/runtime/kernel_registry.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;

// Shape that puts a per-channel vector on axis 1 of a rank-`rank` tensor.
std::vector<int64_t> channel_shape(int64_t rank) {
  std::vector<int64_t> s(rank, 1);
  s[1] = -1;
  return s;
}

// Data-parallel fine-tuning: statistics over the global batch (every rank's samples), as PyTorch's
// SyncBatchNorm, so that N ranks train the model one process would on the same samples. One sum
// across ranks carries each channel's sum and sum of squares; the samples are shifted by the
// running mean first (the same on every rank, and near the batch mean), which keeps the variance
// E[d^2] - E[d]^2 free of cancellation. The sum is differentiable: the backward pass sums the
// statistics' gradients across ranks in one more exchange.
at::Tensor sync_batch_norm(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias, at::Tensor mean,
                           at::Tensor var, double momentum, double eps) {
  std::vector<int64_t> dims = {0};
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  const int64_t channels = x.size(1);
  const auto shape = channel_shape(x.dim());
  const at::Tensor shift = mean.detach().to(x.scalar_type());
  const at::Tensor d = x - shift.view(shape);
  const at::Tensor local_count = at::full({1}, static_cast<double>(x.numel() / std::max<int64_t>(channels, 1)), x.options());
  const at::Tensor sums = dist::all_reduce_sum_differentiable(at::cat({d.sum(dims), d.pow(2).sum(dims), local_count}));
  const double count = sums[2 * channels].item<double>();
  const at::Tensor d_mean = sums.narrow(0, 0, channels) / count;
  const at::Tensor batch_var = (sums.narrow(0, channels, channels) / count - d_mean.pow(2)).clamp_min(0);
  const at::Tensor batch_mean = shift + d_mean;
  {
    // Running statistics as at::batch_norm keeps them: momentum-blended, the variance unbiased.
    at::NoGradGuard no_grad;
    mean.mul_(momentum).add_(batch_mean.detach() * (1 - momentum));
    var.mul_(momentum).add_(batch_var.detach() * (count / std::max(count - 1, 1.0)) * (1 - momentum));
  }
  return (d - d_mean.view(shape)) * at::rsqrt(batch_var.view(shape) + eps) * scale.view(shape) + bias.view(shape);
}

Out batch_norm(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const at::Tensor &scale = c.input(1), &bias = c.input(2), &mean = c.input(3), &var = c.input(4);
  const double eps = c.node.attr_float("epsilon", 1e-5f);
  const double momentum = c.node.attr_float("momentum", 0.9f);
  if (c.opset < 9 && c.node.attr_int("spatial", 1) == 0) c.fail("BatchNormalization with spatial=0 is not supported");
  if (c.opset >= 14 && c.node.attr_int("training_mode", 0)) {
    // ONNX's training-mode semantics: batch statistics (biased variance) normalize the output,
    // and the running statistics are returned blended with `momentum`.
    std::vector<int64_t> dims = {0};
    for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
    const at::Tensor batch_mean = x.mean(dims);
    const at::Tensor batch_var = x.var(dims, /*unbiased=*/false);
    const auto shape = channel_shape(x.dim());
    const at::Tensor y = (x - batch_mean.view(shape)) * at::rsqrt(batch_var.view(shape) + eps) * scale.view(shape) +
                         bias.view(shape);
    return {y, mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum)};
  }
  if (c.training && dist::active() && dist::sync_batch_norm()) return {sync_batch_norm(x, scale, bias, mean, var, momentum, eps)};
  // Fine-tuning (executor in training mode) updates the running statistics in place, as PyTorch.
  // LibTorch's channels-last kernel is faster where whole 16-float vectors cover the channels
  // (measured at batch 128: C=96 at 28x28 ~2x, C=1280 ~3x); ours where they do not (C=7: 25x).
  if (c.training && batch_norm_training_applies(x, scale, bias, mean, var) && x.size(1) % 16 != 0)
    return {batch_norm_training(x, scale, bias, mean, var, 1.0 - momentum, eps)};
  return {at::batch_norm(x, scale, bias, mean, var, c.training, 1.0 - momentum, eps, false)};
}

// Inference on a blocked input with running statistics (the common, non-training form).
Out batch_norm_blocked(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  if (c.training || !x.is_mkldnn() || x.dim() != 4 || c.num_outputs() > 1 ||
      (c.opset >= 14 && c.node.attr_int("training_mode", 0)) || (c.opset < 9 && c.node.attr_int("spatial", 1) == 0))
    return {};
  for (size_t i = 1; i < 5; ++i)
    if (c.input(i).scalar_type() != at::kFloat || c.input(i).dim() != 1) return {};
  const double eps = c.node.attr_float("epsilon", 1e-5f);
  return one(at::batch_norm(x, c.input(1), c.input(2), c.input(3), c.input(4), false, 0.0, eps, false));
}

Out instance_norm(const Ctx& c) {
  const double eps = c.node.attr_float("epsilon", 1e-5f);
  return one(at::instance_norm(c.input(0), c.input(1), c.input(2), {}, {}, true, 0.0, eps, false));
}

Out layer_norm(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", -1), x.dim());
  const double eps = c.node.attr_float("epsilon", 1e-5f);
  std::vector<int64_t> dims;
  for (int64_t i = axis; i < x.dim(); ++i) dims.push_back(i);
  // Without the optional mean and inverse deviation outputs, and with a scale (and bias) of the
  // normalized shape: LibTorch's fused kernel, one pass instead of nine ops (vit-fmnist at batch 1:
  // 41 us per LayerNorm).
  const at::IntArrayRef normalized = x.sizes().slice(static_cast<size_t>(axis));
  const auto float_of_shape = [&](size_t i) {
    return c.input(i).scalar_type() == at::kFloat && c.input(i).sizes() == normalized;
  };
  if (!c.wants_output(1) && !c.wants_output(2) && x.scalar_type() == at::kFloat && float_of_shape(1) &&
      (!c.has_input(2) || float_of_shape(2)))
    return one(at::layer_norm(x, normalized, c.input(1), c.has_input(2) ? c.input(2) : at::Tensor(), eps));
  const at::Tensor xs = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  const at::Tensor mean = xs.mean(dims, true);
  const at::Tensor inv_std = at::rsqrt((xs - mean).pow(2).mean(dims, true) + eps);
  at::Tensor y = (xs - mean) * inv_std * c.input(1);
  if (c.has_input(2)) y = y + c.input(2);
  return {y.to(x.scalar_type()), mean, inv_std};
}

}  // namespace

void register_norm_kernels(KernelRegistry& r) {
  r.add("BatchNormalization", batch_norm);
  r.add_blocked("BatchNormalization", batch_norm_blocked);
  r.add("InstanceNormalization", instance_norm);
  r.add("LayerNormalization", layer_norm);
  r.add_blocked("LayerNormalization", layer_norm_dnnl);
}

}  // namespace nncompress::runtime::kernels
