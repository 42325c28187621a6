#pragma once
// Semantic comparison of two ModelProtos for round-trip tests: tensors compared by decoded value
// (typed fields vs raw_data), unset optional fields equal to their defaults, value_info as a set.
#include <onnx/onnx_pb.h>

#include <string>

namespace nncompress::test_support {

// Rewrites typed-field tensor data (float_data, int32_data, ...) of the graph's initializers and
// node tensor attributes as little-endian raw_data. Decoding uses libonnx's own ParseData where it
// has one, and plain casts otherwise, independent of nncompress's importer.
void normalize_tensor_storage(onnx::ModelProto& model);

// Empty when equivalent; otherwise the differences as protobuf's differencer reports them.
std::string semantic_diff(onnx::ModelProto expected, onnx::ModelProto actual);

}  // namespace nncompress::test_support
