#include "kernel_util.h"
#include "plan_cache.h"

#include "nncompress/core/limits.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::runtime::kernels {

std::vector<int64_t> int_values(const at::Tensor& t) {
  if (!t.is_mkldnn() && t.scalar_type() == at::kLong && t.is_contiguous()) {  // shape tensors: no dispatch
    const int64_t* p = t.data_ptr<int64_t>();
    return std::vector<int64_t>(p, p + t.numel());
  }
  at::Tensor v = t.to(at::kLong).reshape({-1}).contiguous();
  const int64_t* p = v.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + v.numel());
}

void check_result_size(const KernelContext& ctx, const std::vector<int64_t>& shape, int64_t element_bytes) {
  const auto memory = static_cast<int64_t>(physical_memory_bytes());
  int64_t bytes = element_bytes;
  for (int64_t d : shape) {
    if (d < 0) ctx.fail("negative dimension " + std::to_string(d) + " in the result shape");
    if (d > 0 && bytes > memory / d)
      ctx.fail("the result would need more than this machine's " + std::to_string(memory >> 20) + " MiB of memory");
    bytes *= d;
  }
}

int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

at::ScalarType scalar_type_for(const KernelContext& ctx, int64_t onnx_type) {
  const at::ScalarType t = compute_type_of(static_cast<ir::DataType>(onnx_type));
  if (t == at::ScalarType::Undefined)
    ctx.fail("type " + ir::to_string(static_cast<ir::DataType>(onnx_type)) + " is not supported by the executor");
  return t;
}

Padding conv_padding(const KernelContext& ctx, const at::Tensor& x, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
  const size_t n = kernel.size();
  Padding p{std::vector<int64_t>(n, 0), std::vector<int64_t>(n, 0)};
  const std::string auto_pad = ctx.node.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = x.size(static_cast<int64_t>(x.dim() - n + i));
      const int64_t out = (in + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in);
      const int64_t small = total / 2;
      p.begin[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      p.end[i] = total - p.begin[i];
    }
  } else if (auto_pad == "NOTSET") {
    const std::vector<int64_t> pads = ctx.node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
    if (pads.size() != 2 * n) ctx.fail("pads has " + std::to_string(pads.size()) + " values for " + std::to_string(n) + " spatial dims");
    for (size_t i = 0; i < n; ++i) {
      p.begin[i] = pads[i];
      p.end[i] = pads[i + n];
    }
  } else if (auto_pad != "VALID") {
    ctx.fail("unknown auto_pad '" + auto_pad + "'");
  }
  return p;
}

ConvGeometry conv_geometry(const KernelContext& ctx, const at::Tensor& w) {
  const size_t n = static_cast<size_t>(w.dim() - 2);
  ConvGeometry g;
  g.kernel = ctx.node.attr_ints("kernel_shape", std::vector<int64_t>(w.sizes().begin() + 2, w.sizes().end()));
  g.strides = ctx.node.attr_ints("strides", std::vector<int64_t>(n, 1));
  g.dilations = ctx.node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  g.group = ctx.node.attr_int("group", 1);
  if (g.kernel.size() != n || g.strides.size() != n || g.dilations.size() != n)
    ctx.fail("kernel_shape/strides/dilations do not match the weight's " + std::to_string(n) + " spatial dims");
  return g;
}

at::Tensor pad_spatial(const at::Tensor& x, const Padding& p, double value) {
  // at::constant_pad_nd takes (last_begin, last_end, second_last_begin, ...).
  std::vector<int64_t> pad;
  for (size_t i = p.begin.size(); i-- > 0;) {
    pad.push_back(p.begin[i]);
    pad.push_back(p.end[i]);
  }
  return at::constant_pad_nd(x, pad, value);
}

void* scratch_memory(size_t bytes) {
  thread_local at::Tensor buffer;
  if (!buffer.defined() || static_cast<size_t>(buffer.nbytes()) < bytes)
    buffer = at::empty({static_cast<int64_t>(bytes)}, at::kByte);
  return buffer.data_ptr();
}

}  // namespace nncompress::runtime::kernels
