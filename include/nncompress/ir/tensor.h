#pragma once
// A constant tensor held by the IR (initializers, tensor attributes). Numeric data lives in an
// at::Tensor so the IR, the passes and the executor share one buffer without copies.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/ir/data_type.h"

namespace nncompress::ir {

class Tensor {
 public:
  Tensor() = default;
  // `data` must have the storage type of `dtype` (see storage_scalar_type) and `numel(dims)`
  // elements (for Int4/UInt4: ceil(numel/2) packed bytes, low nibble first).
  Tensor(DataType dtype, std::vector<int64_t> dims, at::Tensor data);
  // A tensor of strings (DataType::String).
  Tensor(std::vector<int64_t> dims, std::vector<std::string> strings);

  DataType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t numel() const;
  // The numeric data; undefined for strings. Types LibTorch lacks are held bit-for-bit in a
  // type of the same width: UInt16/32/64 in Short/Int/Long, float8 in Byte, int4 packed in Byte.
  const at::Tensor& data() const { return data_; }
  const std::vector<std::string>& strings() const { return strings_; }
  // Little-endian bytes of the data as ONNX's raw_data stores them.
  size_t byte_size() const;
  const void* raw_bytes() const;

  // Bit-exact equality of type, shape and contents (NaNs with equal bits are equal).
  bool same_contents(const Tensor& other) const;

  // Carried through untouched so a round trip loses nothing.
  std::string name;
  std::string doc_string;
  // Written as an ONNX sparse initializer when it was one, or when a pass asks for it.
  bool store_sparse = false;

 private:
  DataType dtype_ = DataType::Undefined;
  std::vector<int64_t> dims_;
  at::Tensor data_;
  std::vector<std::string> strings_;
};

// The LibTorch scalar type that holds `dtype`'s elements, or Undefined for String / unknown types.
at::ScalarType storage_scalar_type(DataType dtype);
// The number of elements of a shape (1 for a scalar).
int64_t element_count(const std::vector<int64_t>& dims);

}  // namespace nncompress::ir
