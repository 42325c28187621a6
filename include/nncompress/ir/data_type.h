#pragma once
// Element types of tensors. The numbering follows ONNX's TensorProto.DataType because it is the
// interchange standard we read and write; the IR itself does not depend on ONNX.
#include <cstddef>
#include <cstdint>
#include <string>

namespace nncompress::ir {

enum class DataType : int32_t {
  Undefined = 0,
  Float = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,
  Bool = 9,
  Float16 = 10,
  Double = 11,
  UInt32 = 12,
  UInt64 = 13,
  Complex64 = 14,
  Complex128 = 15,
  BFloat16 = 16,
  Float8E4M3FN = 17,
  Float8E4M3FNUZ = 18,
  Float8E5M2 = 19,
  Float8E5M2FNUZ = 20,
  UInt4 = 21,
  Int4 = 22,
};

// True for the values above that we know; false for anything a newer ONNX may add.
bool is_known(DataType type);
// Name as ONNX spells it ("FLOAT", "INT64", ...), or "DATATYPE(n)" for unknown values.
std::string to_string(DataType type);
// Bits per element (4 for Int4/UInt4, 0 for String and Undefined).
int bit_width(DataType type);
bool is_floating_point(DataType type);

}  // namespace nncompress::ir
