#include "nncompress/runtime/tensor_convert.h"

#include <ATen/ATen.h>

#include "nncompress/core/error.h"

namespace nncompress::runtime {

using ir::DataType;

at::ScalarType compute_type_of(DataType dtype) {
  switch (dtype) {
    case DataType::UInt16: return at::kInt;
    case DataType::UInt32: return at::kLong;
    case DataType::Float8E4M3FN:
    case DataType::Float8E4M3FNUZ:
    case DataType::Float8E5M2:
    case DataType::Float8E5M2FNUZ: return at::ScalarType::Undefined;
    case DataType::Int4: return at::kChar;  // unpacked, one value per byte
    case DataType::UInt4: return at::kByte;
    default: return ir::storage_scalar_type(dtype);
  }
}

ir::DataType data_type_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return DataType::Float;
    case at::kDouble: return DataType::Double;
    case at::kHalf: return DataType::Float16;
    case at::kBFloat16: return DataType::BFloat16;
    case at::kByte: return DataType::UInt8;
    case at::kChar: return DataType::Int8;
    case at::kShort: return DataType::Int16;
    case at::kInt: return DataType::Int32;
    case at::kLong: return DataType::Int64;
    case at::kBool: return DataType::Bool;
    case at::kComplexFloat: return DataType::Complex64;
    case at::kComplexDouble: return DataType::Complex128;
    default: break;
  }
  throw internal_error(std::string("no ONNX type for LibTorch type ") + c10::toString(type));
}

namespace {

// ONNX packs 4-bit elements two to a byte, the first in the low nibble.
at::Tensor unpack_nibbles(const at::Tensor& bytes, bool is_signed, int64_t numel) {
  const at::Tensor b = bytes.to(at::kShort);
  at::Tensor v = at::stack({b.bitwise_and(0xF), b.bitwise_right_shift(4).bitwise_and(0xF)}, 1).reshape({-1}).narrow(0, 0, numel);
  if (is_signed) v = v.bitwise_xor(8).sub(8);  // sign-extend
  return v.to(is_signed ? at::kChar : at::kByte).contiguous();
}

at::Tensor pack_nibbles(const at::Tensor& values, bool is_signed) {
  at::Tensor v = values.to(at::kLong).reshape({-1});
  const int64_t lo = is_signed ? -8 : 0;
  if (v.numel() > 0 && (v.min().item<int64_t>() < lo || v.max().item<int64_t>() > lo + 15))
    throw internal_error(std::string("values out of the ") + (is_signed ? "INT4" : "UINT4") + " range");
  if (v.numel() % 2) v = at::cat({v, at::zeros({1}, at::kLong)});
  v = v.bitwise_and(0xF).view({-1, 2});
  return v.select(1, 0).bitwise_or(v.select(1, 1).bitwise_left_shift(4)).to(at::kByte).contiguous();
}

}  // namespace

at::Tensor to_aten(const ir::Tensor& t) {
  const at::ScalarType compute = compute_type_of(t.dtype());
  if (compute == at::ScalarType::Undefined)
    throw bad_input("tensor '" + t.name + "' has type " + ir::to_string(t.dtype()) + ", which nncompress cannot compute with");
  if (ir::bit_width(t.dtype()) == 4) return unpack_nibbles(t.data(), t.dtype() == DataType::Int4, t.numel()).view(t.dims());
  at::Tensor data = t.data().view(t.dims());
  switch (t.dtype()) {
    case DataType::UInt16: return data.to(at::kInt).bitwise_and(0xFFFF);
    case DataType::UInt32: return data.to(at::kLong).bitwise_and(static_cast<int64_t>(0xFFFFFFFF));
    default: return data;
  }
}

void replace_data(ir::Tensor& tensor, const at::Tensor& value) {
  ir::Tensor updated = from_aten(value, tensor.dtype());
  updated.name = tensor.name;
  updated.doc_string = tensor.doc_string;
  updated.store_sparse = tensor.store_sparse;
  tensor = std::move(updated);
}

ir::Tensor from_aten(const at::Tensor& value, DataType dtype) {
  at::Tensor v = value.detach().contiguous();
  const at::ScalarType storage = ir::storage_scalar_type(dtype);
  if (storage == at::ScalarType::Undefined || compute_type_of(dtype) == at::ScalarType::Undefined)
    throw bad_input("cannot store a computed tensor as " + ir::to_string(dtype));
  std::vector<int64_t> dims(v.sizes().begin(), v.sizes().end());
  if (ir::bit_width(dtype) == 4) return ir::Tensor(dtype, dims, pack_nibbles(v, dtype == DataType::Int4));
  at::Tensor flat = v.to(storage).reshape({-1}).contiguous();
  return ir::Tensor(dtype, dims, flat.numel() == v.numel() && flat.data_ptr() == v.data_ptr() ? flat.clone() : flat);
}

}  // namespace nncompress::runtime
