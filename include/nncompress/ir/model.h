#pragma once
// A model: the main graph plus the model-level facts ONNX keeps around it.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::ir {

struct OpsetImport {
  std::string domain;  // "" (or "ai.onnx") is the default ONNX domain
  int64_t version = 0;
};

struct Model {
  int64_t ir_version = 8;
  std::vector<OpsetImport> opset_imports;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  // Serialized FunctionProto / TrainingInfoProto entries, carried through.
  std::vector<std::string> opaque_functions;
  std::vector<std::string> opaque_training_info;
  Graph graph;

  // The imported version of `domain` ("" and "ai.onnx" are the same), or 0 when not imported.
  int64_t opset_version(const std::string& domain = "") const;
};

}  // namespace nncompress::ir
