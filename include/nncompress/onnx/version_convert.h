#pragma once
// ONNX's own version converter (onnx::version_conversion::ConvertVersion, adapters up to opset 16
// in libonnx 1.12) over the IR. Shapes found by shape inference are handed to it, because some
// adapters (Softmax 12 -> 13) need the input's rank.
#include <cstdint>

#include "nncompress/ir/model.h"

namespace nncompress::onnxio {

// The newest opset the converter has adapters for.
constexpr int64_t kNewestConvertibleOpset = 16;

// The model converted to `target` (default domain). Throws bad_input with the converter's reason
// (typically an op it has no adapter for, or a shape it needs and cannot know: give input shapes).
ir::Model convert_version(const ir::Model& model, int64_t target);

}  // namespace nncompress::onnxio
