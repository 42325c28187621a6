#include "nncompress/ir/attribute.h"

namespace nncompress::ir {

std::string to_string(AttributeKind kind) {
  switch (kind) {
    case AttributeKind::Undefined: return "UNDEFINED";
    case AttributeKind::Float: return "FLOAT";
    case AttributeKind::Int: return "INT";
    case AttributeKind::String: return "STRING";
    case AttributeKind::Tensor: return "TENSOR";
    case AttributeKind::Graph: return "GRAPH";
    case AttributeKind::Floats: return "FLOATS";
    case AttributeKind::Ints: return "INTS";
    case AttributeKind::Strings: return "STRINGS";
    case AttributeKind::Tensors: return "TENSORS";
    case AttributeKind::Graphs: return "GRAPHS";
    case AttributeKind::SparseTensor: return "SPARSE_TENSOR";
    case AttributeKind::SparseTensors: return "SPARSE_TENSORS";
    case AttributeKind::TypeProto: return "TYPE_PROTO";
    case AttributeKind::TypeProtos: return "TYPE_PROTOS";
  }
  return "ATTRIBUTE_KIND(" + std::to_string(static_cast<int32_t>(kind)) + ")";
}

static Attribute named(std::string name, AttributeKind kind) {
  Attribute a;
  a.name = std::move(name);
  a.kind = kind;
  return a;
}

Attribute Attribute::make_float(std::string name, float value) {
  Attribute a = named(std::move(name), AttributeKind::Float);
  a.f = value;
  return a;
}
Attribute Attribute::make_int(std::string name, int64_t value) {
  Attribute a = named(std::move(name), AttributeKind::Int);
  a.i = value;
  return a;
}
Attribute Attribute::make_string(std::string name, std::string value) {
  Attribute a = named(std::move(name), AttributeKind::String);
  a.s = std::move(value);
  return a;
}
Attribute Attribute::make_tensor(std::string name, ir::Tensor value) {
  Attribute a = named(std::move(name), AttributeKind::Tensor);
  a.t = std::move(value);
  return a;
}
Attribute Attribute::make_floats(std::string name, std::vector<float> values) {
  Attribute a = named(std::move(name), AttributeKind::Floats);
  a.floats = std::move(values);
  return a;
}
Attribute Attribute::make_ints(std::string name, std::vector<int64_t> values) {
  Attribute a = named(std::move(name), AttributeKind::Ints);
  a.ints = std::move(values);
  return a;
}
Attribute Attribute::make_strings(std::string name, std::vector<std::string> values) {
  Attribute a = named(std::move(name), AttributeKind::Strings);
  a.strings = std::move(values);
  return a;
}

}  // namespace nncompress::ir
