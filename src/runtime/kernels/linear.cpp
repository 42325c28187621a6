// Conv, ConvTranspose, Gemm, MatMul and Einsum.
#include "kernel_util.h"
#include "nncompress/runtime/kernel_registry.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;

// Whether a 2-D convolution's windows tile its input exactly: kernel = stride (over 1x1), no
// padding, dilation or groups. Vision transformers embed patches so.
bool tiles_input(const at::Tensor& x, const ConvGeometry& g, const Padding& pad) {
  if (x.dim() != 4 || g.group != 1 || g.kernel.size() != 2 || g.kernel[0] * g.kernel[1] < 2) return false;
  for (size_t i = 0; i < 2; ++i)
    if (g.strides[i] != g.kernel[i] || g.dilations[i] != 1 || pad.begin[i] != 0 || pad.end[i] != 0 ||
        x.size(static_cast<int64_t>(2 + i)) % g.kernel[i] != 0)
      return false;
  return true;
}

// Such a convolution as one matrix product of the patches (rows of kh*kw*C values, taken from the
// channels-last input without padding) by the channels-last weight: oneDNN's direct kernel took
// 31 us on vit-fmnist's 1-channel 7x7 stride-7 stem at batch 1, having few input channels to vectorize.
at::Tensor patch_product(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias, const ConvGeometry& g) {
  const int64_t n = x.size(0), channels = x.size(1), kh = g.kernel[0], kw = g.kernel[1];
  const int64_t rows = x.size(2) / kh, columns = x.size(3) / kw, out = w.size(0);
  const at::Tensor patches = x.permute({0, 2, 3, 1})
                                 .reshape({n, rows, kh, columns, kw, channels})
                                 .permute({0, 1, 3, 2, 4, 5})
                                 .reshape({n * rows * columns, kh * kw * channels});
  const at::Tensor weights = w.permute({0, 2, 3, 1}).reshape({out, kh * kw * channels}).t();
  const at::Tensor y = bias ? at::addmm(*bias, patches, weights) : at::mm(patches, weights);
  return y.reshape({n, rows, columns, out}).permute({0, 3, 1, 2});  // channels-last, as below
}

Out conv(const Ctx& c) {
  at::Tensor x = c.input(0);
  at::Tensor w = c.input(1);
  if (x.dim() != w.dim()) c.fail("input rank " + std::to_string(x.dim()) + " does not match weight rank " + std::to_string(w.dim()));
  if (x.dim() == 4) {
    // 2-D convolutions run channels-last (NHWC): oneDNN then skips reordering every input and
    // output, and the element-wise ops and pools between convolutions keep that layout
    // (training 1.14x faster on ResNet-20, 1.46x on MobileNetV2; docs/benchmarks.md). Layout changes no
    // value a later op sees.
    x = x.contiguous(at::MemoryFormat::ChannelsLast);
    w = w.contiguous(at::MemoryFormat::ChannelsLast);
  }
  const ConvGeometry g = conv_geometry(c, w);
  const Padding pad = conv_padding(c, x, g.kernel, g.strides, g.dilations);
  std::vector<int64_t> padding = pad.begin;
  if (!pad.symmetric()) {
    x = pad_spatial(x, pad, 0.0);
    padding.assign(padding.size(), 0);
  }
  const c10::optional<at::Tensor> bias = c.has_input(2) ? c10::optional<at::Tensor>(c.input(2)) : c10::nullopt;
  if (tiles_input(x, g, pad) && w.size(1) == x.size(1) && w.size(2) == g.kernel[0] && w.size(3) == g.kernel[1] &&
      (!bias || bias->numel() == w.size(0)))
    return one(patch_product(x, w, bias, g));
  return one(at::convolution(x, w, bias, g.strides, padding, g.dilations, false,
                             std::vector<int64_t>(padding.size(), 0), g.group));
}

Out conv_transpose(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const at::Tensor& w = c.input(1);
  const ConvGeometry g = conv_geometry(c, w);
  const size_t n = g.kernel.size();
  const std::vector<int64_t> out_pad = c.node.attr_ints("output_padding", std::vector<int64_t>(n, 0));
  // Full transposed convolution (no padding), then crop: handles asymmetric pads and auto_pad.
  at::Tensor y = at::convolution(x, w, c10::nullopt, g.strides, std::vector<int64_t>(n, 0), g.dilations, true,
                                 std::vector<int64_t>(n, 0), g.group);
  std::vector<int64_t> begin(n, 0), end(n, 0);
  const std::vector<int64_t> output_shape = c.node.attr_ints("output_shape", {});
  const std::string auto_pad = c.node.attr_string("auto_pad", "NOTSET");
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = x.size(static_cast<int64_t>(2 + i));
    const int64_t full = g.strides[i] * (in - 1) + out_pad[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (!output_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t target = !output_shape.empty() ? output_shape[output_shape.size() - n + i] : in * g.strides[i];
      // A negative total means the requested output is larger than the full result: the
      // difference is added as zeros (plus bias), as ONNX's reference does with floor division.
      const int64_t total = full - target;
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      if (auto_pad == "SAME_UPPER") {
        begin[i] = half;
        end[i] = total - half;
      } else {
        begin[i] = total - half;
        end[i] = half;
      }
    } else if (auto_pad == "NOTSET") {
      const std::vector<int64_t> pads = c.node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
      begin[i] = pads[i];
      end[i] = pads[i + n];
    }
  }
  // output_padding extends the end with positions no input reaches (they get only the bias).
  std::vector<int64_t> extend;
  for (size_t i = n; i-- > 0;) {
    extend.push_back(0);
    extend.push_back(out_pad[i]);
  }
  y = at::constant_pad_nd(y, extend, 0.0);
  // Crop the pads (negative values of constant_pad_nd crop; positive ones extend).
  std::vector<int64_t> crop;
  for (size_t i = n; i-- > 0;) {
    crop.push_back(-begin[i]);
    crop.push_back(-end[i]);
  }
  y = at::constant_pad_nd(y, crop, 0.0);
  if (c.has_input(2)) {
    std::vector<int64_t> shape(y.dim(), 1);
    shape[1] = -1;
    y = y + c.input(2).view(shape);
  }
  return one(y);
}

Out gemm(const Ctx& c) {
  at::Tensor a = c.input(0), b = c.input(1);
  if (c.node.attr_int("transA", 0)) a = a.t();
  if (c.node.attr_int("transB", 0)) b = b.t();
  const double alpha = c.node.attr_float("alpha", 1.0f), beta = c.node.attr_float("beta", 1.0f);
  // One row (a classifier at batch 1) as a matrix-vector product: OpenBLAS's GEMM copies the whole
  // weight matrix into its panel layout on every call (mobilenet_v2's 1280x1000 classifier: 440 us
  // as GEMM, 71 us as GEMV at 1 thread).
  const int64_t n = b.dim() == 2 ? b.size(1) : -1;
  const bool bias_row = c.has_input(2) && c.input(2).numel() == n && (c.input(2).dim() < 2 || c.input(2).size(-1) == n);
  if (a.dim() == 2 && a.size(0) == 1 && n > 0 && (!c.has_input(2) || bias_row || beta == 0.0)) {
    const at::Tensor row = a.select(0, 0);
    if (c.has_input(2) && beta != 0.0) return one(at::addmv(c.input(2).reshape({n}), b.t(), row, beta, alpha).unsqueeze(0));
    const at::Tensor y = at::mv(b.t(), row).unsqueeze(0);
    return one(alpha == 1.0 ? y : y * alpha);
  }
  if (c.has_input(2) && beta != 0.0) return one(at::addmm(c.input(2), a, b, beta, alpha));
  at::Tensor y = at::mm(a, b);
  return one(alpha == 1.0 ? y : y * alpha);
}

Out matmul(const Ctx& c) { return one(at::matmul(c.input(0), c.input(1))); }

// ONNX's equation is numpy's (and torch's): letters, "...", "," and an optional "->"; spaces dropped.
Out einsum(const Ctx& c) {
  std::string equation;
  for (char ch : c.node.attr_string("equation", ""))
    if (ch != ' ') equation += ch;
  if (equation.empty()) c.fail("needs an equation");
  std::vector<at::Tensor> operands;
  for (size_t i = 0; i < c.num_inputs(); ++i) operands.push_back(c.input(i));
  return one(at::einsum(equation, operands));
}

}  // namespace

void register_linear_kernels(KernelRegistry& r) {
  r.add("Conv", conv);
  r.add_blocked("Conv", conv_blocked);
  r.add("ConvTranspose", conv_transpose);
  r.add("Gemm", gemm);
  r.add("MatMul", matmul);
  r.add_blocked("MatMul", matmul_dnnl);
  r.add("Einsum", einsum);
}

}  // namespace nncompress::runtime::kernels
