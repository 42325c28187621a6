#pragma once
// Conversion between ONNX protobufs and the IR. Internal to the onnx layer: nothing outside
// src/onnx/ sees a protobuf.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <functional>
#include <string>

#include "nncompress/ir/model.h"

namespace nncompress::onnxio {

// Reads external tensor data: (location, offset, length or -1) -> bytes. Throws bad_input.
using ExternalReader = std::function<std::string(const std::string& location, int64_t offset, int64_t length)>;

ir::Model import_model(const onnx::ModelProto& proto, const ExternalReader& read_external);
ir::Tensor import_tensor(const onnx::TensorProto& proto, const ExternalReader& read_external);
// A value type; non-tensor types (sequence, map, optional) are kept as opaque bytes.
ir::ValueType import_type(const onnx::TypeProto& type);

// Decides per tensor whether its bytes go to an external file; when it does, it stores the
// bytes and returns (location, offset). Returns nullopt to keep the tensor inline.
struct ExternalWriter {
  std::function<bool(const ir::Tensor&)> wants;
  std::function<std::pair<std::string, int64_t>(const void* data, size_t size)> store;
};

onnx::TensorProto export_tensor(const ir::Tensor& tensor);

onnx::ModelProto export_model(const ir::Model& model, const ExternalWriter* external = nullptr);

}  // namespace nncompress::onnxio
