#pragma once
// Node attributes, typed as in ONNX. Subgraphs (If/Loop/Scan bodies), sparse tensors and type
// protos are kept as opaque serialized bytes: the IR carries them intact without looking inside.
#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/ir/tensor.h"

namespace nncompress::ir {

// Numbered as ONNX's AttributeProto.AttributeType.
enum class AttributeKind : int32_t {
  Undefined = 0,
  Float = 1,
  Int = 2,
  String = 3,
  Tensor = 4,
  Graph = 5,
  Floats = 6,
  Ints = 7,
  Strings = 8,
  Tensors = 9,
  Graphs = 10,
  SparseTensor = 11,
  SparseTensors = 12,
  TypeProto = 13,
  TypeProtos = 14,
};

std::string to_string(AttributeKind kind);

struct Attribute {
  std::string name;
  AttributeKind kind = AttributeKind::Undefined;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  ir::Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<ir::Tensor> tensors;
  // Serialized GraphProto / SparseTensorProto / TypeProto for the Graph(s), SparseTensor(s) and
  // TypeProto(s) kinds (one entry for the singular kinds).
  std::vector<std::string> opaque;
  std::string doc_string;
  // Set inside function bodies: the attribute refers to an attribute of the calling node.
  std::string ref_attr_name;

  static Attribute make_float(std::string name, float value);
  static Attribute make_int(std::string name, int64_t value);
  static Attribute make_string(std::string name, std::string value);
  static Attribute make_tensor(std::string name, ir::Tensor value);
  static Attribute make_floats(std::string name, std::vector<float> values);
  static Attribute make_ints(std::string name, std::vector<int64_t> values);
  static Attribute make_strings(std::string name, std::vector<std::string> values);
};

}  // namespace nncompress::ir
