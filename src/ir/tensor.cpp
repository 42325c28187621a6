#include "nncompress/ir/tensor.h"

#include <cstring>

#include "nncompress/core/error.h"

namespace nncompress::ir {

at::ScalarType storage_scalar_type(DataType dtype) {
  switch (dtype) {
    case DataType::Float: return at::kFloat;
    case DataType::Double: return at::kDouble;
    case DataType::Float16: return at::kHalf;
    case DataType::BFloat16: return at::kBFloat16;
    case DataType::Int8: return at::kChar;
    case DataType::UInt8:
    case DataType::Float8E4M3FN:
    case DataType::Float8E4M3FNUZ:
    case DataType::Float8E5M2:
    case DataType::Float8E5M2FNUZ:
    case DataType::Int4:
    case DataType::UInt4: return at::kByte;
    case DataType::Int16:
    case DataType::UInt16: return at::kShort;
    case DataType::Int32:
    case DataType::UInt32: return at::kInt;
    case DataType::Int64:
    case DataType::UInt64: return at::kLong;
    case DataType::Bool: return at::kBool;
    case DataType::Complex64: return at::kComplexFloat;
    case DataType::Complex128: return at::kComplexDouble;
    case DataType::String:
    case DataType::Undefined: break;
  }
  return at::ScalarType::Undefined;
}

int64_t element_count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

static int64_t storage_elements(DataType dtype, int64_t numel) {
  return bit_width(dtype) == 4 ? (numel + 1) / 2 : numel;
}

Tensor::Tensor(DataType dtype, std::vector<int64_t> dims, at::Tensor data)
    : dtype_(dtype), dims_(std::move(dims)) {
  for (int64_t d : dims_)
    if (d < 0) throw bad_input("tensor '" + name + "' has a negative dimension");
  const at::ScalarType storage = storage_scalar_type(dtype_);
  if (storage == at::ScalarType::Undefined)
    throw internal_error("tensor of type " + to_string(dtype_) + " cannot hold numeric data");
  if (!data.defined() || data.scalar_type() != storage)
    throw internal_error("tensor data of the wrong storage type for " + to_string(dtype_));
  if (data.numel() != storage_elements(dtype_, numel()))
    throw internal_error("tensor data has " + std::to_string(data.numel()) + " elements for dims of " +
                         std::to_string(numel()));
  data_ = data.contiguous();
}

Tensor::Tensor(std::vector<int64_t> dims, std::vector<std::string> strings)
    : dtype_(DataType::String), dims_(std::move(dims)), strings_(std::move(strings)) {
  if (static_cast<int64_t>(strings_.size()) != numel())
    throw internal_error("string tensor has " + std::to_string(strings_.size()) + " strings for " +
                         std::to_string(numel()) + " elements");
}

int64_t Tensor::numel() const { return element_count(dims_); }

size_t Tensor::byte_size() const { return data_.defined() ? data_.nbytes() : 0; }

const void* Tensor::raw_bytes() const { return data_.defined() ? data_.data_ptr() : nullptr; }

bool Tensor::same_contents(const Tensor& other) const {
  if (dtype_ != other.dtype_ || dims_ != other.dims_) return false;
  if (dtype_ == DataType::String) return strings_ == other.strings_;
  if (byte_size() != other.byte_size()) return false;
  return byte_size() == 0 || std::memcmp(raw_bytes(), other.raw_bytes(), byte_size()) == 0;
}

}  // namespace nncompress::ir
