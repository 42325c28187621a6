// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, LpPool.
#include <limits>

#include "kernel_util.h"
#include "nncompress/runtime/kernel_registry.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;

struct PoolGeometry {
  std::vector<int64_t> kernel, strides, dilations;
  Padding pad;
  bool ceil_mode;
};

PoolGeometry geometry(const Ctx& c, const at::Tensor& x) {
  PoolGeometry g;
  g.kernel = c.node.attr_ints("kernel_shape", {});
  const size_t n = g.kernel.size();
  if (n == 0 || static_cast<int64_t>(n) != x.dim() - 2) c.fail("kernel_shape must give one size per spatial dim");
  g.strides = c.node.attr_ints("strides", std::vector<int64_t>(n, 1));
  g.dilations = c.node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  g.ceil_mode = c.node.attr_int("ceil_mode", 0) != 0;
  g.pad = conv_padding(c, x, g.kernel, g.strides, g.dilations);
  if (g.ceil_mode) {
    // ONNX keeps a ceil-mode window only if it starts inside the input plus begin padding;
    // extend the end padding so LibTorch (given no padding) sees every such window.
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = x.size(static_cast<int64_t>(2 + i)) + g.pad.begin[i] + g.pad.end[i];
      const int64_t span = (g.kernel[i] - 1) * g.dilations[i] + 1;
      int64_t out = (in - span + g.strides[i] - 1) / g.strides[i] + 1;
      if ((out - 1) * g.strides[i] >= x.size(static_cast<int64_t>(2 + i)) + g.pad.begin[i]) --out;
      const int64_t need = (out - 1) * g.strides[i] + span - in;
      if (need > 0) g.pad.end[i] += need;
    }
  }
  return g;
}

// Runs a LibTorch pool on x of 1-3 spatial dims (1-D ones go through the 2-D op).
template <typename F>
at::Tensor spatial(const at::Tensor& x, F f) {
  if (x.dim() == 3) return f(x.unsqueeze(2)).squeeze(2);
  return f(x);
}

std::vector<int64_t> as2d(const std::vector<int64_t>& v, int64_t fill) {
  if (v.size() != 1) return v;
  return {fill, v[0]};
}

Out max_pool(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const PoolGeometry g = geometry(c, x);
  // Integer inputs pool in float (exact for the 8/16-bit types ONNX allows here).
  const at::Tensor xf = is_integral(x) ? x.to(at::kFloat) : x;
  const at::Tensor xp = pad_spatial(xf, g.pad, -std::numeric_limits<double>::infinity());
  const at::Tensor& src = xp;
  const std::vector<int64_t> k = as2d(g.kernel, 1), s = as2d(g.strides, 1), d = as2d(g.dilations, 1);
  const std::vector<int64_t> p(k.size(), 0);
  at::Tensor y, idx;
  auto run = [&](const at::Tensor& t) {
    auto r = t.dim() == 5 ? at::max_pool3d_with_indices(t, k, s, p, d, false)
                          : at::max_pool2d_with_indices(t, k, s, p, d, false);
    idx = std::get<1>(r);
    return std::get<0>(r);
  };
  if (x.dim() == 3) {
    y = run(src.unsqueeze(2)).squeeze(2);
    idx = idx.squeeze(2);
  } else {
    y = run(src);
  }
  if (is_integral(x)) y = y.to(x.scalar_type());
  if (!c.wants_output(1)) return {y};
  // LibTorch indexes into the padded per-channel plane; ONNX into the unpadded whole tensor
  // (row-major, or column-major with storage_order=1).
  const int64_t n = static_cast<int64_t>(g.kernel.size());
  at::Tensor coord_rem = idx;
  std::vector<at::Tensor> coords(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    const int64_t size = xp.size(2 + i);
    coords[i] = coord_rem.remainder(size) - g.pad.begin[i];
    coord_rem = coord_rem.div(size, "floor");
  }
  const bool column_major = c.node.attr_int("storage_order", 0) == 1;
  at::Tensor flat = at::zeros_like(idx);
  int64_t stride = 1;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t i = column_major ? j : n - 1 - j;
    flat = flat + coords[i] * stride;
    stride *= x.size(2 + i);
  }
  const at::Tensor plane = at::arange(x.size(0) * x.size(1), idx.options()).view({x.size(0), x.size(1)});
  std::vector<int64_t> shape = {x.size(0), x.size(1)};
  shape.resize(idx.dim(), 1);
  return {y, flat + plane.view(shape) * stride};
}

Out average_pool(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const PoolGeometry g = geometry(c, x);
  for (int64_t dil : g.dilations)
    if (dil != 1) c.fail("AveragePool with dilations is not supported");
  const bool include_pad = c.node.attr_int("count_include_pad", 0) != 0;
  // Window sums divided by the number of counted elements: explicit padding (zeros) for the
  // sums, a mask of what counts for the divisor. Ceil-mode overhang never counts.
  const Padding declared = conv_padding(c, x, g.kernel, g.strides, g.dilations);
  Padding overhang{std::vector<int64_t>(declared.begin.size(), 0), g.pad.end};
  for (size_t i = 0; i < overhang.end.size(); ++i) overhang.end[i] -= declared.end[i];
  const at::Tensor xp = pad_spatial(x, g.pad, 0.0);
  const at::Tensor mask =
      pad_spatial(pad_spatial(at::ones_like(x), declared, include_pad ? 1.0 : 0.0), overhang, 0.0);
  const std::vector<int64_t> k = as2d(g.kernel, 1), s = as2d(g.strides, 1), zero(k.size(), 0);
  auto window_sum = [&](const at::Tensor& t) {
    return spatial(t, [&](const at::Tensor& u) {
      return u.dim() == 5 ? at::avg_pool3d(u, k, s, zero, false, true, 1) : at::avg_pool2d(u, k, s, zero, false, true, 1);
    });
  };
  return one(window_sum(xp) / window_sum(mask));
}

Out lp_pool(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const PoolGeometry g = geometry(c, x);
  const double p = static_cast<double>(c.node.attr_int("p", 2));
  const at::Tensor xp = pad_spatial(at::pow(at::abs(x), p), g.pad, 0.0);
  const std::vector<int64_t> k = as2d(g.kernel, 1), s = as2d(g.strides, 1), zero(k.size(), 0);
  at::Tensor sum = spatial(xp, [&](const at::Tensor& u) {
    return u.dim() == 5 ? at::avg_pool3d(u, k, s, zero, false, true, 1) : at::avg_pool2d(u, k, s, zero, false, true, 1);
  });
  return one(at::pow(sum, 1.0 / p));
}

std::vector<int64_t> spatial_dims(const at::Tensor& x) {
  std::vector<int64_t> dims;
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  return dims;
}

Out global_average_pool(const Ctx& c) { return one(at::mean(c.input(0), spatial_dims(c.input(0)), true)); }
Out global_max_pool(const Ctx& c) { return one(at::amax(c.input(0), spatial_dims(c.input(0)), true)); }

// Blocked-layout variants (inference, input already blocked): 2-D pools whose ONNX semantics
// LibTorch's MKL-DNN kernels share (no ceil mode, no dilation, symmetric padding, no indices).
Out max_pool_blocked(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  if (!x.is_mkldnn() || x.dim() != 4 || c.wants_output(1) || c.node.attr_int("ceil_mode", 0)) return {};
  const PoolGeometry g = geometry(c, x);
  for (size_t i = 0; i < g.kernel.size(); ++i)
    if (g.dilations[i] != 1 || g.pad.begin[i] != g.pad.end[i] || 2 * g.pad.begin[i] > g.kernel[i]) return {};
  return one(at::max_pool2d(x, g.kernel, g.strides, g.pad.begin, g.dilations, false));
}

Out global_average_pool_blocked(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  if (!x.is_mkldnn() || x.dim() != 4) return {};
  return one(at::adaptive_avg_pool2d(x, {1, 1}));
}

}  // namespace

void register_pool_kernels(KernelRegistry& r) {
  r.add("MaxPool", max_pool);
  r.add("AveragePool", average_pool);
  r.add("LpPool", lp_pool);
  r.add("GlobalAveragePool", global_average_pool);
  r.add("GlobalMaxPool", global_max_pool);
  r.add_blocked("MaxPool", max_pool_blocked);
  r.add_blocked("GlobalAveragePool", global_average_pool_blocked);
}

}  // namespace nncompress::runtime::kernels
