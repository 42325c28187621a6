#pragma once
// Conversions between IR tensors and the at::Tensor values the executor computes with.
#include <ATen/core/Tensor.h>

#include "nncompress/ir/tensor.h"

namespace nncompress::runtime {

// A tensor shaped as the IR tensor, sharing its buffer where LibTorch has the type. Unsigned
// types LibTorch lacks are widened (UInt16 -> Int32, UInt32 -> Int64); UInt64 keeps its bits in
// Int64. Throws bad_input for types nothing can compute with (strings, float8, int4).
at::Tensor to_aten(const ir::Tensor& tensor);

// The IR tensor holding `value` as `dtype` (converting the element type when they differ).
ir::Tensor from_aten(const at::Tensor& value, ir::DataType dtype);

// Replaces `tensor`'s values (and dims) with `value`, converted to its element type; name, doc
// string and storage choice stay.
void replace_data(ir::Tensor& tensor, const at::Tensor& value);

// The ONNX data type that holds a LibTorch scalar type.
ir::DataType data_type_of(at::ScalarType type);
// The LibTorch type the executor computes `dtype` in (see to_aten), or Undefined.
at::ScalarType compute_type_of(ir::DataType dtype);

}  // namespace nncompress::runtime
