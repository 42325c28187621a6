#include "nncompress/runtime/clip_range.h"

#include <cmath>
#include <limits>

namespace nncompress::runtime {

std::optional<ClipRange> clip_range(const ir::Node& clip, int64_t opset,
                                    const std::function<std::optional<at::Tensor>(size_t input)>& input_value) {
  constexpr float kMax = std::numeric_limits<float>::max();
  ClipRange r{-kMax, kMax};
  if (opset < 11) {
    r = {clip.attr_float("min", -kMax), clip.attr_float("max", kMax)};
  } else {
    for (size_t i = 1; i <= 2 && i < clip.inputs().size(); ++i) {
      if (!clip.input(i)) continue;
      const std::optional<at::Tensor> bound = input_value(i);
      if (!bound || !bound->defined() || bound->numel() != 1 || !bound->is_floating_point()) return std::nullopt;
      (i == 1 ? r.lo : r.hi) = bound->item<double>();
    }
  }
  if (std::isnan(r.lo) || std::isnan(r.hi) || r.lo > r.hi) return std::nullopt;
  return r;
}

}  // namespace nncompress::runtime
