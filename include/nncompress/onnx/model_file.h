#pragma once
// Reading and writing .onnx files. Every problem with the user's file is a bad_input error with
// a one-line message naming the file; writes are atomic and never touch the input.
#include <cstdint>
#include <string>

#include "nncompress/ir/model.h"

namespace nncompress::onnxio {

// Loads a model and any external tensor data it references (relative to the model's folder).
ir::Model load_model(const std::string& path);
// Parses a serialized ModelProto; `label` names it in errors, `base_dir` resolves external data.
ir::Model parse_model(const std::string& bytes, const std::string& label, const std::string& base_dir = "");

struct SaveOptions {
  // Write tensor data to "<output>.data" beside the model. Done anyway when the model would not
  // fit in a 2 GiB protobuf.
  bool external_data = false;
  // Tensors smaller than this stay inline even in external mode.
  size_t external_min_bytes = 1024;
};

// Reads a serialized TensorProto (.pb), as in ONNX test-data folders.
ir::Tensor load_tensor(const std::string& path);
// Writes a tensor as a serialized TensorProto, atomically.
void save_tensor(const ir::Tensor& tensor, const std::string& path);

// Writes atomically. Returns the number of bytes of the .onnx file.
uint64_t save_model(const ir::Model& model, const std::string& path, const SaveOptions& options = {});
// A hash of everything the saved model would hold (graph and every tensor's bytes): equal
// fingerprints mean an unchanged model. Works past protobuf's 2 GiB limit.
uint64_t model_fingerprint(const ir::Model& model);

}  // namespace nncompress::onnxio
