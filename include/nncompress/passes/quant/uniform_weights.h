#pragma once
// Symmetric uniform quantization of a weight tensor to 2..8 bits, one scale per output channel:
// codes in [-(2^(b-1) - 1), 2^(b-1) - 1] (zero exact, so pruned weights stay pruned; 2 bits is
// ternary). Each channel's scale is the clipping range, out of a grid from its largest magnitude
// down to a fifth of it, with the least squared error: at low bit widths clipping a few outliers
// costs far less than coarse steps for all the others.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace nncompress::passes {

struct UniformWeights {
  int bits = 8;
  int64_t axis = 0;   // output-channel axis of the weight, -1: one scale for the tensor
  at::Tensor codes;   // int64, the weight's shape
  at::Tensor scales;  // float32 [channels] (or [1])

  int64_t max_code() const { return (int64_t(1) << (bits - 1)) - 1; }
  // The shape that broadcasts `scales` over `codes` ([1, C, 1, 1]-style, all ones without an axis).
  std::vector<int64_t> scale_shape() const;
  // The dequantized weight, float32.
  at::Tensor values() const;
};

UniformWeights quantize_uniform(const at::Tensor& weight, int64_t axis, int bits);

// `weight` rounded to the grid of given (fixed) `scales`, clamped to the code range.
UniformWeights round_to_scales(const at::Tensor& weight, const at::Tensor& scales, int64_t axis, int bits);

// `weight` rounded to the grid of `scales` (fixed) in the forward pass, with the gradient passed
// straight through, for quantization-aware fine-tuning.
at::Tensor fake_quantize_uniform(const at::Tensor& weight, const at::Tensor& scales, int64_t axis, int bits);

}  // namespace nncompress::passes
