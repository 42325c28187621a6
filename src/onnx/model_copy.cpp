#include "nncompress/onnx/model_copy.h"

#include "nncompress/onnx/model_file.h"
#include "proto_convert.h"

namespace nncompress::onnxio {

std::optional<ModelCopy> ModelCopy::of(const ir::Model& model) {
  uint64_t tensor_bytes = 0;
  for (const ir::Value* v : model.graph.initializers()) tensor_bytes += v->initializer()->byte_size();
  if (tensor_bytes > (uint64_t(1) << 31) - (uint64_t(64) << 20)) return std::nullopt;
  ModelCopy copy;
  if (!export_model(model).SerializeToString(&copy.bytes_)) return std::nullopt;
  return copy;
}

ir::Model ModelCopy::make() const { return parse_model(bytes_, "the copy of the model"); }

}  // namespace nncompress::onnxio
