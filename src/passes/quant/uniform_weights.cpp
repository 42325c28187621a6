#include "nncompress/passes/quant/uniform_weights.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <vector>

#include "nncompress/core/error.h"

namespace nncompress::passes {

namespace {

// Shape that broadcasts a [channels] tensor along `axis` of a rank-`rank` tensor.
std::vector<int64_t> broadcast_shape(int64_t rank, int64_t axis) {
  std::vector<int64_t> shape(rank, 1);
  if (axis >= 0) shape[axis] = -1;
  return shape;
}

// Dimensions to reduce over to get one value per channel (all of them without a channel axis).
std::vector<int64_t> other_dims(int64_t rank, int64_t axis) {
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis) dims.push_back(d);
  return dims;
}

at::Tensor round_to_grid(const at::Tensor& w, const at::Tensor& scale, double qmax) {
  return at::round(w / scale).clamp(-qmax, qmax);
}

}  // namespace

std::vector<int64_t> UniformWeights::scale_shape() const { return broadcast_shape(codes.dim(), axis); }

at::Tensor UniformWeights::values() const { return codes.to(at::kFloat) * scales.reshape(scale_shape()); }

UniformWeights round_to_scales(const at::Tensor& weight, const at::Tensor& scales, int64_t axis, int bits) {
  at::NoGradGuard no_grad;
  UniformWeights q;
  q.bits = bits;
  q.axis = axis;
  q.scales = scales.to(at::kFloat);
  const at::Tensor w = weight.detach().to(at::kFloat);
  q.codes = round_to_grid(w, q.scales.reshape(broadcast_shape(w.dim(), axis)), static_cast<double>(q.max_code())).to(at::kLong);
  return q;
}

UniformWeights quantize_uniform(const at::Tensor& weight, int64_t axis, int bits) {
  if (bits < 2 || bits > 8) throw bad_input("weight bit widths must be between 2 and 8, got " + std::to_string(bits));
  at::NoGradGuard no_grad;
  const at::Tensor w = weight.detach().to(at::kFloat);
  const std::vector<int64_t> dims = other_dims(w.dim(), axis), shape = broadcast_shape(w.dim(), axis);
  const double qmax = static_cast<double>(UniformWeights{bits}.max_code());
  const at::Tensor amax = w.abs().amax(dims).reshape({-1});
  at::Tensor best_scale = at::where(amax > 0, amax / qmax, at::ones_like(amax));
  at::Tensor best_error = at::full_like(amax, std::numeric_limits<float>::infinity());
  constexpr int kSteps = 80;  // clipping ratios 1.0, 0.99, ..., 0.21
  for (int i = 0; i < kSteps; ++i) {
    const double ratio = 1.0 - 0.01 * i;
    const at::Tensor scale = at::where(amax > 0, amax * ratio / qmax, at::ones_like(amax));
    const at::Tensor s = scale.reshape(shape);
    const at::Tensor error = (round_to_grid(w, s, qmax) * s - w).pow(2).sum(dims).reshape({-1});
    const at::Tensor better = error < best_error;
    best_error = at::where(better, error, best_error);
    best_scale = at::where(better, scale, best_scale);
  }
  return round_to_scales(w, best_scale, axis, bits);
}

at::Tensor fake_quantize_uniform(const at::Tensor& weight, const at::Tensor& scales, int64_t axis, int bits) {
  const at::Tensor rounded = round_to_scales(weight, scales, axis, bits).values().to(weight.scalar_type());
  return weight + (rounded - weight.detach());
}

}  // namespace nncompress::passes
