#pragma once
// The constant range of a Clip node, for rewrites that replace it by a clamp they apply elsewhere
// (the executor's fused convolution epilogue, int8's absorbed activations). The Clip kernel reads
// its bounds itself: it also clips integer tensors.
#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>

#include "nncompress/ir/graph.h"

namespace nncompress::runtime {

struct ClipRange {
  double lo;
  double hi;
};

// Bounds are attributes before opset 11 and optional inputs 1 (min) and 2 (max) from then on; an
// absent bound is the float limit, as the spec defines. `input_value(i)` gives input i's value, or
// nullopt when it is not known. nullopt when a bound is unknown or not a floating-point scalar, or
// the range is NaN or empty.
std::optional<ClipRange> clip_range(const ir::Node& clip, int64_t opset,
                                    const std::function<std::optional<at::Tensor>(size_t input)>& input_value);

}  // namespace nncompress::runtime
