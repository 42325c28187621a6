#pragma once
// A model kept aside as its serialized ModelProto, to be parsed again as an independent copy (the
// IR's graphs are not copyable: values point at their producers).
#include <optional>
#include <string>

#include "nncompress/ir/model.h"

namespace nncompress::onnxio {

class ModelCopy {
 public:
  // Empty when the model does not fit one protobuf (2 GiB).
  static std::optional<ModelCopy> of(const ir::Model& model);
  ir::Model make() const;
  // The serialized ModelProto (for runtimes that load a model from memory).
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace nncompress::onnxio
