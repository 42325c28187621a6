#include "nncompress/onnx/model_sanity.h"

#include <onnx/defs/data_type_utils.h>
#include <onnx/defs/schema.h>

#include <optional>
#include <set>

#include "nncompress/core/error.h"
#include "nncompress/core/format.h"
#include "nncompress/core/limits.h"
#include "nncompress/onnx/validate.h"

namespace nncompress::onnxio {

namespace {

// Kernel sizes, strides, dilations and pads above this are refused: no model uses such windows,
// and oneDNN divides by zero on strides near 2^31 (found by the mutation test).
constexpr int64_t kMaxWindowValue = int64_t(1) << 16;

std::string node_error(const ir::Node& n, const std::string& what) { return "node " + n.describe() + ": " + what; }

// The constant tensor behind a value: an initializer or a Constant node's `value`.
const ir::Tensor* constant_of(const ir::Value* v) {
  if (!v) return nullptr;
  if (v->has_initializer()) return v->initializer();
  const ir::Node* p = v->producer();
  if (!p || p->op_type() != "Constant" || !p->in_default_domain()) return nullptr;
  const ir::Attribute* a = p->find_attribute("value");
  return a && a->kind == ir::AttributeKind::Tensor ? &a->t : nullptr;
}

// The type a value is known to have: its constant's element type, else its declared type
// (graph input, value_info), as an ONNX TypeProto; nullopt when nothing is known.
std::optional<onnx::TypeProto> declared_type(const ir::Value* v) {
  onnx::TypeProto type;
  if (const ir::Tensor* t = constant_of(v)) {
    type.mutable_tensor_type()->set_elem_type(static_cast<int32_t>(t->dtype()));
    return type;
  }
  if (!v || !v->type.defined) return std::nullopt;
  if (v->type.is_tensor()) {
    if (v->type.elem_type == ir::DataType::Undefined) return std::nullopt;
    type.mutable_tensor_type()->set_elem_type(static_cast<int32_t>(v->type.elem_type));
    return type;
  }
  if (!type.ParseFromString(v->type.opaque)) return std::nullopt;
  return type;  // sequence, map, optional or sparse tensor: libonnx's inference expects tensors for most ops
}

void check_declared_shape(const ir::Value& v) {
  if (!v.type.is_tensor() || !v.type.shape) return;
  int64_t count = 1;
  for (const ir::Dim& d : *v.type.shape) {
    if (!d.is_known()) continue;
    if (*d.value < 0)
      throw bad_input("value '" + printable(v.name()) + "' declares a negative dimension (" + std::to_string(*d.value) + ")");
    if (*d.value > 0 && count > kMaxTensorElements / *d.value)
      throw bad_input("value '" + printable(v.name()) + "' declares " + ir::to_string(v.type) +
                      ": more than 2^48 elements, which no model can hold");
    count *= *d.value;
  }
}

// Checks one INTS attribute's values against [low, kMaxWindowValue] and, when `count` > 0, its length.
void check_ints(const ir::Node& n, const char* name, int64_t low, size_t count) {
  const ir::Attribute* a = n.find_attribute(name);
  if (!a || a->kind != ir::AttributeKind::Ints) return;
  for (int64_t v : a->ints)
    if (v < low || v > kMaxWindowValue)
      throw bad_input(node_error(n, std::string("attribute '") + name + "' holds " + std::to_string(v) +
                                        ", which must be between " + std::to_string(low) + " and " +
                                        std::to_string(kMaxWindowValue)));
  if (count > 0 && a->ints.size() != count)
    throw bad_input(node_error(n, std::string("attribute '") + name + "' has " + std::to_string(a->ints.size()) +
                                      " values for " + std::to_string(count)));
}

// Convolutions and pools: the window attributes LibTorch and ONNX's shape inference divide and
// multiply by.
void check_window(const ir::Node& n) {
  static const std::set<std::string> kConvs = {"Conv", "ConvInteger", "QLinearConv", "ConvTranspose"};
  static const std::set<std::string> kPools = {"MaxPool", "AveragePool", "LpPool", "MaxUnpool"};
  const bool conv = kConvs.count(n.op_type()) > 0;
  if (!conv && !kPools.count(n.op_type())) return;
  const size_t weight_index = n.op_type() == "QLinearConv" ? 3 : 1;
  const ir::Tensor* weight = conv ? constant_of(n.input(weight_index)) : nullptr;
  size_t rank = 0;  // spatial dimensions, when known
  if (const ir::Attribute* k = n.find_attribute("kernel_shape"); k && k->kind == ir::AttributeKind::Ints)
    rank = k->ints.size();
  else if (weight && weight->dims().size() >= 3)
    rank = weight->dims().size() - 2;
  if (weight && weight->dims().size() < 3)
    throw bad_input(node_error(n, "the weight has rank " + std::to_string(weight->dims().size()) +
                                      "; a convolution's weight has rank 3 or more"));
  check_ints(n, "kernel_shape", 1, 0);
  check_ints(n, "strides", 1, rank);
  check_ints(n, "dilations", 1, rank);
  check_ints(n, "pads", 0, 2 * rank);
  check_ints(n, "output_padding", 0, rank);
  if (!conv) return;
  const ir::Attribute* g = n.find_attribute("group");
  const int64_t group = g && g->kind == ir::AttributeKind::Int ? g->i : 1;
  if (group < 1)
    throw bad_input(node_error(n, "group " + std::to_string(group) + " must be at least 1"));
  if (weight && weight->dims()[0] % group != 0)
    throw bad_input(node_error(n, "group " + std::to_string(group) + " does not divide the weight's first dimension " +
                                      std::to_string(weight->dims()[0])));
}

bool same_kind(ir::AttributeKind kind, onnx::AttributeProto::AttributeType type) {
  return static_cast<int>(kind) == static_cast<int>(type);
}

// What ONNX's schema for the node says: required attributes present, attribute kinds as declared,
// input and output counts in range, constant inputs of an allowed element type.
void check_against_schema(const ir::Node& n, const onnx::OpSchema& schema) {
  for (const auto& [name, spec] : schema.attributes()) {
    const ir::Attribute* a = n.find_attribute(name);
    if (!a && spec.required) throw bad_input(node_error(n, "the required attribute '" + name + "' is missing"));
    if (a && spec.type != onnx::AttributeProto::UNDEFINED && !same_kind(a->kind, spec.type))
      throw bad_input(node_error(n, "attribute '" + name + "' is " + ir::to_string(a->kind) + ", ONNX expects " +
                                        ir::to_string(static_cast<ir::AttributeKind>(spec.type))));
  }
  const int inputs = static_cast<int>(n.inputs().size());
  if (inputs < schema.min_input() || inputs > schema.max_input())
    throw bad_input(node_error(n, "has " + std::to_string(inputs) + " inputs; ONNX allows " +
                                      std::to_string(schema.min_input()) + " to " + std::to_string(schema.max_input())));
  if (static_cast<int>(n.outputs().size()) > schema.max_output())
    throw bad_input(node_error(n, "has " + std::to_string(n.outputs().size()) + " outputs; ONNX allows at most " +
                                      std::to_string(schema.max_output())));
  const auto& formals = schema.inputs();
  for (size_t i = 0; i < n.inputs().size() && !formals.empty(); ++i) {
    const std::optional<onnx::TypeProto> type = declared_type(n.input(i));
    if (!type) continue;
    const auto& allowed = formals[std::min(i, formals.size() - 1)].GetTypes();
    std::string name;  // e.g. "tensor(float)"; empty when ONNX knows no such type
    try {
      name = *onnx::Utils::DataTypeUtils::ToType(*type);
    } catch (const std::exception&) {
    }
    if (name.empty() || (!allowed.empty() && !allowed.count(onnx::Utils::DataTypeUtils::ToType(*type))))
      throw bad_input(node_error(n, "input " + std::to_string(i) + " ('" + printable(n.input(i)->name()) + "') is " +
                                        (name.empty() ? "of an unknown type" : name) + ", which ONNX does not allow there"));
  }
}

}  // namespace

void check_model_sanity(const ir::Model& model) {
  for (const ir::Value* v : model.graph.values()) check_declared_shape(*v);
  for (const auto& node : model.graph.nodes()) {
    const ir::Node& n = *node;
    const std::string domain = n.in_default_domain() ? std::string() : n.domain();
    const int64_t opset = model.opset_version(domain);
    // Schemas of opsets newer than libonnx knows could be wrong for the node: skip them there.
    if (opset > 0 && opset <= newest_known_opset(domain))
      if (const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(opset), domain))
        check_against_schema(n, *schema);
    if (n.in_default_domain()) check_window(n);
  }
}

}  // namespace nncompress::onnxio
