// QuantizeLinear and DequantizeLinear (per-tensor and per-axis).
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

Out quantize(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  if (c.node.attr_int("block_size", 0)) c.fail("blocked quantization is not supported");
  DataType type = DataType::UInt8;
  if (c.has_input(2)) type = onnx_type_of_input(c, 2);
  else if (c.node.has_attribute("output_dtype")) type = static_cast<DataType>(c.node.attr_int("output_dtype", 2));
  double lo = 0, hi = 0;
  switch (type) {
    case DataType::UInt8: lo = 0, hi = 255; break;
    case DataType::Int8: lo = -128, hi = 127; break;
    case DataType::UInt16: lo = 0, hi = 65535; break;
    case DataType::Int16: lo = -32768, hi = 32767; break;
    default: c.fail("QuantizeLinear to " + ir::to_string(type) + " is not supported");
  }
  const at::Tensor scale = along_axis(c, c.input(1).to(at::kFloat), x);
  at::Tensor q = at::round(x.to(at::kFloat) / scale);  // half to even, as ONNX
  if (c.has_input(2)) q = q + along_axis(c, c.input(2).to(at::kFloat), x);
  return one(q.clamp(lo, hi).to(scalar_type_for(c, static_cast<int64_t>(type))));
}

Out dequantize(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  if (c.node.attr_int("block_size", 0)) c.fail("blocked dequantization is not supported");
  const at::Tensor& scale_in = c.input(1);
  at::Tensor v = x.to(at::kFloat);
  if (c.has_input(2)) v = v - along_axis(c, c.input(2).to(at::kFloat), x);
  return one((v * along_axis(c, scale_in.to(at::kFloat), x)).to(scale_in.scalar_type()));
}

}  // namespace

void register_quant_kernels(KernelRegistry& r) {
  r.add("QuantizeLinear", quantize);
  r.add("DequantizeLinear", dequantize);
}

}  // namespace nncompress::runtime::kernels
