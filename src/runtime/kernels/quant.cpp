// QuantizeLinear and DequantizeLinear (per-tensor, per-axis and blocked: opset 21's block_size),
// and the dynamic quantization ops ONNX Runtime's quantize_dynamic writes: DynamicQuantizeLinear
// and MatMulInteger.
#include <algorithm>
#include <cmath>

#include "kernel_util.h"
#include "nncompress/runtime/kernel_registry.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;
using ir::DataType;

// The ONNX type of input i: from its initializer or declared type, else from the tensor.
DataType onnx_type_of_input(const Ctx& c, size_t i) {
  if (const ir::Value* v = c.node.input(i)) {
    if (const ir::Tensor* t = v->initializer()) return t->dtype();
    if (v->type.is_tensor() && v->type.elem_type != DataType::Undefined) return v->type.elem_type;
  }
  return data_type_of(c.input(i).scalar_type());
}

// Reshapes a per-axis parameter so it broadcasts along `axis` of x.
at::Tensor along_axis(const Ctx& c, const at::Tensor& param, const at::Tensor& x) {
  if (param.numel() == 1) return param.reshape({});
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 1), x.dim());
  if (param.dim() != 1 || param.size(0) != x.size(axis)) c.fail("per-axis scale/zero point does not match axis size");
  std::vector<int64_t> shape(x.dim(), 1);
  shape[axis] = -1;
  return param.view(shape);
}

// A blocked parameter (opset 21): the rank of x, ceil(x.size(axis) / block_size) along axis and
// x's sizes elsewhere; each element covers block_size consecutive elements of x along axis.
at::Tensor expand_blocks(const Ctx& c, const at::Tensor& param, const at::Tensor& x, int64_t block) {
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 1), x.dim());
  bool fits = param.dim() == x.dim();
  for (int64_t d = 0; fits && d < x.dim(); ++d)
    fits = param.size(d) == (d == axis ? x.size(d) / block + (x.size(d) % block != 0) : x.size(d));
  if (!fits) c.fail("blocked scale/zero point shape does not match the input and block_size");
  // A block longer than the axis is cut to it anyway (and a huge block_size must not allocate).
  return param.repeat_interleave(std::min(block, x.size(axis)), axis).narrow(axis, 0, x.size(axis));
}

// A scale or zero point broadcast to x: per tensor, per axis, or per block.
at::Tensor broadcast_param(const Ctx& c, const at::Tensor& param, const at::Tensor& x) {
  const int64_t block = c.node.attr_int("block_size", 0);
  if (block < 0) c.fail("block_size must not be negative");
  return block > 0 ? expand_blocks(c, param, x, block) : along_axis(c, param, x);
}

Out quantize(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  DataType type = DataType::UInt8;
  if (c.has_input(2)) type = onnx_type_of_input(c, 2);
  else if (c.node.has_attribute("output_dtype")) type = static_cast<DataType>(c.node.attr_int("output_dtype", 2));
  double lo = 0, hi = 0;
  switch (type) {
    case DataType::UInt8: lo = 0, hi = 255; break;
    case DataType::Int8: lo = -128, hi = 127; break;
    case DataType::UInt16: lo = 0, hi = 65535; break;
    case DataType::Int16: lo = -32768, hi = 32767; break;
    case DataType::UInt4: lo = 0, hi = 15; break;
    case DataType::Int4: lo = -8, hi = 7; break;
    default: c.fail("QuantizeLinear to " + ir::to_string(type) + " is not supported");
  }
  const at::Tensor scale = broadcast_param(c, c.input(1).to(at::kFloat), x);
  at::Tensor q = at::round(x.to(at::kFloat) / scale);  // half to even, as ONNX
  if (c.has_input(2)) q = q + broadcast_param(c, c.input(2).to(at::kFloat), x);
  return one(q.clamp(lo, hi).to(scalar_type_for(c, static_cast<int64_t>(type))));
}

Out dequantize(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const at::Tensor& scale_in = c.input(1);
  at::Tensor v = x.to(at::kFloat);
  if (c.has_input(2)) v = v - broadcast_param(c, c.input(2).to(at::kFloat), x);
  return one((v * broadcast_param(c, scale_in.to(at::kFloat), x)).to(scale_in.scalar_type()));
}

// uint8 with a scale and zero point from the tensor's own range (which always includes 0), as
// the ONNX spec defines it: scale = (max - min) / 255, zero point = round(-min / scale) saturated.
Out dynamic_quantize(const Ctx& c) {
  const at::Tensor x = c.input(0).to(at::kFloat);
  const double lo = std::min(0.0, x.numel() ? x.min().item<double>() : 0.0);
  const double hi = std::max(0.0, x.numel() ? x.max().item<double>() : 0.0);
  if (!std::isfinite(lo) || !std::isfinite(hi)) c.fail("input holds NaN or infinite values");
  const float scale = static_cast<float>((hi - lo) / 255.0);
  const float zero_point = scale == 0 ? 0.f : std::nearbyint(std::clamp(-static_cast<float>(lo) / scale, 0.f, 255.f));
  const at::Tensor q = scale == 0 ? at::full_like(x, zero_point)
                                  : at::round(x / scale).add(zero_point).clamp(0, 255);
  return {q.to(at::kByte), at::scalar_tensor(scale, at::kFloat), at::scalar_tensor(zero_point, at::kByte)};
}

// A zero point of MatMulInteger: a scalar, or per row of A ([M]) / per column of B ([N]).
at::Tensor zero_point_for(const Ctx& c, size_t i, bool of_a, int64_t matrix_rank) {
  if (!c.has_input(i)) return at::zeros({}, at::kInt);
  const at::Tensor zp = c.input(i).to(at::kInt);
  if (zp.numel() == 1) return zp.reshape({});
  if (zp.dim() != 1) c.fail("zero point must be a scalar or 1-D");
  return of_a && matrix_rank >= 2 ? zp.view({-1, 1}) : zp;  // A: one per row; B: one per column
}

// Integer matrix product with int32 accumulation, exact: products of 8-bit values summed in
// float64 stay exact far beyond any real K (2^53 / 2^16 terms).
Out matmul_integer(const Ctx& c) {
  const at::Tensor& a = c.input(0);
  const at::Tensor& b = c.input(1);
  if (a.dim() < 1 || b.dim() < 1) c.fail("MatMulInteger needs inputs of rank >= 1");
  const at::Tensor ad = a.to(at::kInt).sub(zero_point_for(c, 2, true, a.dim())).to(at::kDouble);
  const at::Tensor bd = b.to(at::kInt).sub(zero_point_for(c, 3, false, b.dim())).to(at::kDouble);
  return one(at::matmul(ad, bd).to(at::kInt));
}

}  // namespace

void register_quant_kernels(KernelRegistry& r) {
  r.add("QuantizeLinear", quantize);
  r.add("DequantizeLinear", dequantize);
  r.add("DynamicQuantizeLinear", dynamic_quantize);
  r.add("MatMulInteger", matmul_integer);
}

}  // namespace nncompress::runtime::kernels
