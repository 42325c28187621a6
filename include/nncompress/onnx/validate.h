#pragma once
// ONNX's checker and shape inference over the IR. libonnx 1.12 knows opsets up to 17; for newer
// models we validate structure ourselves (import already refuses undefined values and cycles)
// and run shape inference on a copy translated to the newest opset the library knows.
#include <string>
#include <unordered_map>
#include <vector>

#include "nncompress/ir/model.h"

namespace nncompress::onnxio {

// The newest version of `domain` ("" = default ONNX domain) that libonnx has schemas for.
int64_t newest_known_opset(const std::string& domain = "");
// True when libonnx knows every opset the model imports.
bool opsets_known(const ir::Model& model);

struct CheckResult {
  bool checked = false;  // false: ONNX's checker could not judge this model (newer opset)
  std::string error;     // empty when the model passed
  std::vector<std::string> warnings;
  bool ok() const { return error.empty(); }
};
// The full check: onnx::checker plus strict shape inference with type checks.
CheckResult check_model(const ir::Model& model);

// Types of every value ONNX shape inference (with data propagation) can work out, keyed by
// value name: graph inputs, initializers and node outputs. Warnings say what was approximated.
ir::TypeMap infer_shapes(const ir::Model& model, std::vector<std::string>* warnings = nullptr);

}  // namespace nncompress::onnxio
