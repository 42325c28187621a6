#include "nncompress/ir/data_type.h"

namespace nncompress::ir {

bool is_known(DataType type) {
  const auto v = static_cast<int32_t>(type);
  return v >= 0 && v <= static_cast<int32_t>(DataType::Int4);
}

std::string to_string(DataType type) {
  switch (type) {
    case DataType::Undefined: return "UNDEFINED";
    case DataType::Float: return "FLOAT";
    case DataType::UInt8: return "UINT8";
    case DataType::Int8: return "INT8";
    case DataType::UInt16: return "UINT16";
    case DataType::Int16: return "INT16";
    case DataType::Int32: return "INT32";
    case DataType::Int64: return "INT64";
    case DataType::String: return "STRING";
    case DataType::Bool: return "BOOL";
    case DataType::Float16: return "FLOAT16";
    case DataType::Double: return "DOUBLE";
    case DataType::UInt32: return "UINT32";
    case DataType::UInt64: return "UINT64";
    case DataType::Complex64: return "COMPLEX64";
    case DataType::Complex128: return "COMPLEX128";
    case DataType::BFloat16: return "BFLOAT16";
    case DataType::Float8E4M3FN: return "FLOAT8E4M3FN";
    case DataType::Float8E4M3FNUZ: return "FLOAT8E4M3FNUZ";
    case DataType::Float8E5M2: return "FLOAT8E5M2";
    case DataType::Float8E5M2FNUZ: return "FLOAT8E5M2FNUZ";
    case DataType::UInt4: return "UINT4";
    case DataType::Int4: return "INT4";
  }
  return "DATATYPE(" + std::to_string(static_cast<int32_t>(type)) + ")";
}

int bit_width(DataType type) {
  switch (type) {
    case DataType::Bool:
    case DataType::UInt8:
    case DataType::Int8:
    case DataType::Float8E4M3FN:
    case DataType::Float8E4M3FNUZ:
    case DataType::Float8E5M2:
    case DataType::Float8E5M2FNUZ: return 8;
    case DataType::UInt16:
    case DataType::Int16:
    case DataType::Float16:
    case DataType::BFloat16: return 16;
    case DataType::Float:
    case DataType::Int32:
    case DataType::UInt32: return 32;
    case DataType::Double:
    case DataType::Int64:
    case DataType::UInt64:
    case DataType::Complex64: return 64;
    case DataType::Complex128: return 128;
    case DataType::UInt4:
    case DataType::Int4: return 4;
    case DataType::String:
    case DataType::Undefined: return 0;
  }
  return 0;
}

bool is_floating_point(DataType type) {
  switch (type) {
    case DataType::Float:
    case DataType::Double:
    case DataType::Float16:
    case DataType::BFloat16:
    case DataType::Float8E4M3FN:
    case DataType::Float8E4M3FNUZ:
    case DataType::Float8E5M2:
    case DataType::Float8E5M2FNUZ: return true;
    default: return false;
  }
}

}  // namespace nncompress::ir
