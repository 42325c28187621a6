// Resize (opset 10+) and Upsample (7-9): nearest, linear and cubic, separable over the resized
// axes, with every coordinate transformation of ONNX except half_pixel_symmetric.
#include <cmath>

#include "kernel_util.h"
#include "nncompress/runtime/kernel_registry.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;

struct ResizeParams {
  std::string mode = "nearest";
  std::string coordinate = "half_pixel";
  std::string nearest = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
};

// Source coordinate (in input pixels) for each output index along one axis.
// `length` is the resized length the formulas divide by: the output size when sizes were given,
// in * scale (unrounded) when scales were, as ONNX's reference implementation does.
at::Tensor source_coords(const Ctx& c, const ResizeParams& p, int64_t in, int64_t out, double length, double scale,
                         double roi_start, double roi_end) {
  const at::Tensor x = at::arange(out, at::kDouble);
  const std::string& m = p.coordinate;
  if (m == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (m == "pytorch_half_pixel") return length > 1 ? (x + 0.5) / scale - 0.5 : at::zeros_like(x);
  if (m == "align_corners") return length <= 1 ? at::zeros_like(x) : x * (static_cast<double>(in - 1) / (length - 1));
  if (m == "asymmetric") return x / scale;
  if (m == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  if (m == "tf_crop_and_resize") {
    if (length <= 1) return at::full_like(x, 0.5 * (roi_start + roi_end) * (in - 1));
    return roi_start * (in - 1) + x * ((roi_end - roi_start) * (in - 1) / (length - 1));
  }
  c.fail("coordinate_transformation_mode '" + m + "' is not supported");
}

at::Tensor nearest_index(const ResizeParams& p, const at::Tensor& xo, int64_t in) {
  at::Tensor i;
  const at::Tensor fl = at::floor(xo);
  const at::Tensor half = (xo - fl) == 0.5;
  if (p.nearest == "floor") i = fl;
  else if (p.nearest == "ceil") i = at::ceil(xo);
  else if (p.nearest == "round_prefer_ceil") i = at::where(half, fl + 1, at::round(xo));
  else i = at::where(half, fl, at::round(xo));  // round_prefer_floor
  return i.clamp(0, in - 1).to(at::kLong);
}

std::array<at::Tensor, 4> cubic_weights(const at::Tensor& t, double a) {
  auto outer = [a](const at::Tensor& s) { return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a; };  // 1 < |s| < 2
  auto inner = [a](const at::Tensor& s) { return ((a + 2) * s - (a + 3)) * s * s + 1; };         // |s| <= 1
  return {outer(t + 1), inner(t), inner(1 - t), outer(2 - t)};
}

// Resamples x along `axis` from `in` to the positions `xo` (output-length source coordinates).
at::Tensor resample(const Ctx& c, const ResizeParams& p, const at::Tensor& x, int64_t axis, const at::Tensor& xo) {
  const int64_t in = x.size(axis);
  std::vector<int64_t> wshape(x.dim(), 1);
  wshape[axis] = -1;
  const at::Tensor xs = is_integral(x) ? x.to(at::kFloat) : x;
  if (p.mode == "nearest") return x.index_select(axis, nearest_index(p, xo, in));
  const at::Tensor base = at::floor(xo);
  const at::Tensor t = xo - base;
  std::vector<std::pair<at::Tensor, at::Tensor>> taps;  // (index, weight)
  if (p.mode == "linear") {
    taps = {{base, 1 - t}, {base + 1, t}};
  } else if (p.mode == "cubic") {
    const auto w = cubic_weights(t, p.cubic_a);
    for (int k = 0; k < 4; ++k) taps.push_back({base + (k - 1), w[k]});
    if (p.exclude_outside) {
      at::Tensor total = at::zeros_like(t);
      for (auto& [i, w] : taps) {
        w = at::where((i >= 0) & (i <= in - 1), w, at::zeros_like(w));
        total = total + w;
      }
      for (auto& tap : taps) tap.second = tap.second / total;
    }
  } else {
    c.fail("resize mode '" + p.mode + "' is not supported");
  }
  at::Tensor y;
  for (const auto& [i, w] : taps) {
    const at::Tensor term = xs.index_select(axis, i.clamp(0, in - 1).to(at::kLong)) * w.to(xs.scalar_type()).view(wshape);
    y = y.defined() ? y + term : term;
  }
  if (is_integral(x)) y = at::round(y).to(x.scalar_type());
  return y;
}

at::Tensor resize(const Ctx& c, const ResizeParams& p, const at::Tensor& x, std::vector<double> scales,
                  std::vector<int64_t> sizes, const std::vector<double>& roi, bool from_scales) {
  const int64_t rank = x.dim();
  at::Tensor y = x;
  at::Tensor outside;  // tf_crop_and_resize: positions that fall outside the input
  for (int64_t axis = 0; axis < rank; ++axis) {
    const int64_t in = x.size(axis);
    const int64_t out = sizes[axis];
    const double scale = scales[axis];
    const double roi_start = roi.empty() ? 0.0 : roi[axis], roi_end = roi.empty() ? 1.0 : roi[axis + rank];
    if (out == in && scale == 1.0 && p.coordinate != "tf_crop_and_resize") continue;
    const double length = from_scales ? in * scale : static_cast<double>(out);
    const at::Tensor xo = source_coords(c, p, in, out, length, scale, roi_start, roi_end);
    y = resample(c, p, y, axis, xo);
    if (p.coordinate == "tf_crop_and_resize") {
      std::vector<int64_t> shape(rank, 1);
      shape[axis] = out;
      const at::Tensor bad = ((xo < 0) | (xo > in - 1)).view(shape);
      outside = outside.defined() ? (outside | bad) : bad;
    }
  }
  if (outside.defined()) y = at::where(outside, at::full({}, p.extrapolation, y.options()), y);
  return y;
}

Out resize_kernel(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const int64_t rank = x.dim();
  ResizeParams p;
  p.mode = c.node.attr_string("mode", "nearest");
  if (c.opset >= 11) {
    p.coordinate = c.node.attr_string("coordinate_transformation_mode", "half_pixel");
    p.nearest = c.node.attr_string("nearest_mode", "round_prefer_floor");
    p.cubic_a = c.node.attr_float("cubic_coeff_a", -0.75f);
    p.exclude_outside = c.node.attr_int("exclude_outside", 0) != 0;
    p.extrapolation = c.node.attr_float("extrapolation_value", 0.0f);
  } else {
    p.coordinate = "asymmetric";
    p.nearest = "floor";
  }
  if (c.node.attr_int("antialias", 0)) c.fail("Resize with antialias is not supported");

  // Axes the scales/sizes refer to (opset 18), all axes otherwise.
  std::vector<int64_t> axes;
  for (int64_t a : c.node.attr_ints("axes", {})) axes.push_back(normalize_axis(c, a, rank));
  if (axes.empty())
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);

  const size_t scales_index = c.opset >= 11 ? 2 : 1;
  std::vector<double> given_scales;
  if (c.has_input(scales_index) && c.input(scales_index).numel() > 0) {
    const at::Tensor s = c.input(scales_index).to(at::kDouble).contiguous();
    given_scales.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  }
  std::vector<int64_t> given_sizes;
  if (c.opset >= 11 && c.has_input(3) && c.input(3).numel() > 0) given_sizes = int_values(c.input(3));

  std::vector<double> scales(rank, 1.0);
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  if (!given_sizes.empty()) {
    if (given_sizes.size() != axes.size()) c.fail("sizes has the wrong length");
    const std::string policy = c.node.attr_string("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch") {
      for (size_t i = 0; i < axes.size(); ++i) {
        sizes[axes[i]] = given_sizes[i];
        scales[axes[i]] = static_cast<double>(given_sizes[i]) / x.size(axes[i]);
      }
    } else {
      double scale = policy == "not_larger" ? INFINITY : 0.0;
      for (size_t i = 0; i < axes.size(); ++i) {
        const double s = static_cast<double>(given_sizes[i]) / x.size(axes[i]);
        scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
      }
      for (int64_t a : axes) {
        scales[a] = scale;
        sizes[a] = static_cast<int64_t>(std::round(scale * x.size(a)));
      }
    }
  } else if (!given_scales.empty()) {
    if (given_scales.size() != axes.size()) c.fail("scales has the wrong length");
    for (size_t i = 0; i < axes.size(); ++i) {
      scales[axes[i]] = given_scales[i];
      sizes[axes[i]] = static_cast<int64_t>(std::floor(x.size(axes[i]) * given_scales[i]));
    }
  } else {
    c.fail("Resize needs scales or sizes");
  }
  std::vector<double> roi;
  if (p.coordinate == "tf_crop_and_resize" && c.has_input(1)) {
    const at::Tensor r = c.input(1).to(at::kDouble).contiguous();
    std::vector<double> given(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
    roi.assign(2 * rank, 0.0);
    for (int64_t i = 0; i < rank; ++i) roi[rank + i] = 1.0;
    for (size_t i = 0; i < axes.size() && given.size() == 2 * axes.size(); ++i) {
      roi[axes[i]] = given[i];
      roi[rank + axes[i]] = given[axes.size() + i];
    }
  }
  return one(resize(c, p, x, scales, sizes, roi, given_sizes.empty()));
}

Out upsample(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  ResizeParams p;
  p.mode = c.node.attr_string("mode", "nearest");
  if (p.mode == "bilinear") p.mode = "linear";
  p.coordinate = "asymmetric";
  p.nearest = "floor";
  std::vector<double> scales;
  if (c.opset >= 9) {
    const at::Tensor s = c.input(1).to(at::kDouble).contiguous();
    scales.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  } else {
    const ir::Attribute* a = c.node.find_attribute("scales");
    if (!a) c.fail("Upsample needs scales");
    scales.assign(a->floats.begin(), a->floats.end());
  }
  if (static_cast<int64_t>(scales.size()) != x.dim()) c.fail("scales has the wrong length");
  std::vector<int64_t> sizes;
  for (int64_t i = 0; i < x.dim(); ++i) sizes.push_back(static_cast<int64_t>(std::floor(x.size(i) * scales[i])));
  return one(resize(c, p, x, scales, sizes, {}, true));
}

}  // namespace

void register_resize_kernels(KernelRegistry& r) {
  r.add("Resize", resize_kernel);
  r.add("Upsample", upsample);
}

}  // namespace nncompress::runtime::kernels
