#pragma once
// Training-mode BatchNormalization for channels-last activations (what fine-tuning's convolutions
// produce), forward and backward. LibTorch 1.13's channels-last kernels vectorize over the
// channels, so channel counts that are not a multiple of the vector width — every pruned model —
// ran 3-6x slower than the contiguous ones (C=7: 7.2 ms a batch against 1.1 ms).
#include <ATen/ATen.h>

namespace nncompress::runtime {

// True when batch_norm_training can compute this: a float32 4-D channels-last input and float32
// per-channel scale, bias and running statistics.
bool batch_norm_training_applies(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias,
                                 const at::Tensor& running_mean, const at::Tensor& running_var);

// at::batch_norm(x, scale, bias, running_mean, running_var, /*training=*/true, factor, eps):
// batch statistics normalize the output; the running statistics are blended in place,
// running = (1 - factor) * running + factor * batch (the variance unbiased). Differentiable in x,
// scale and bias. Sums run in blocks fixed by the shape, so results do not depend on the thread
// count.
at::Tensor batch_norm_training(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias,
                               const at::Tensor& running_mean, const at::Tensor& running_var, double factor,
                               double eps);

}  // namespace nncompress::runtime
