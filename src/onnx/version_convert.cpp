#include "nncompress/onnx/version_convert.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include "nncompress/core/error.h"
#include "proto_convert.h"

namespace nncompress::onnxio {

namespace {

bool is_softmax_family(const onnx::NodeProto& n) {
  return (n.domain().empty() || n.domain() == "ai.onnx") &&
         (n.op_type() == "Softmax" || n.op_type() == "LogSoftmax" || n.op_type() == "Hardmax");
}

// Before opset 13 Softmax works on the input flattened to 2D at `axis`; from 13 on a single axis.
// ONNX's adapter needs the input's shape (and writes its dims into a Reshape, wrong for dynamic
// ones). Where the rank is unknown we write the exact form that means the same at every opset:
// Flatten(axis) -> Softmax(axis 1 of 2D) -> Reshape to Shape(x), with the 2D rank declared.
void rewrite_softmax_of_unknown_rank(onnx::GraphProto& g, const ir::TypeMap& types) {
  onnx::GraphProto out_nodes;
  int made = 0;
  for (const onnx::NodeProto& n : g.node()) {
    auto it = is_softmax_family(n) && n.input_size() == 1 ? types.find(n.input(0)) : types.end();
    const bool rank_known = it != types.end() && it->second.shape.has_value();
    if (!is_softmax_family(n) || n.input_size() != 1 || rank_known || n.output_size() != 1) {
      *out_nodes.add_node() = n;
      continue;
    }
    int64_t axis = 1;
    for (const auto& a : n.attribute())
      if (a.name() == "axis") axis = a.i();
    if (axis < 0) {  // negative axes need the rank too: leave it to the converter, which will say so
      *out_nodes.add_node() = n;
      continue;
    }
    const std::string tag = n.output(0) + "_nnc" + std::to_string(made++);
    onnx::NodeProto* flatten = out_nodes.add_node();
    flatten->set_op_type("Flatten");
    flatten->add_input(n.input(0));
    flatten->add_output(tag + "_2d");
    auto* fa = flatten->add_attribute();
    fa->set_name("axis");
    fa->set_type(onnx::AttributeProto::INT);
    fa->set_i(axis);
    onnx::NodeProto* shape = out_nodes.add_node();
    shape->set_op_type("Shape");
    shape->add_input(n.input(0));
    shape->add_output(tag + "_shape");
    onnx::NodeProto* softmax = out_nodes.add_node();
    *softmax = n;
    softmax->set_input(0, tag + "_2d");
    softmax->set_output(0, tag + "_2d_out");
    softmax->clear_attribute();
    for (const auto& a : n.attribute())
      if (a.name() != "axis") *softmax->add_attribute() = a;
    auto* sa = softmax->add_attribute();
    sa->set_name("axis");
    sa->set_type(onnx::AttributeProto::INT);
    sa->set_i(1);
    onnx::NodeProto* reshape = out_nodes.add_node();
    reshape->set_op_type("Reshape");
    reshape->add_input(tag + "_2d_out");
    reshape->add_input(tag + "_shape");
    reshape->add_output(n.output(0));
    for (const std::string& name : {tag + "_2d", tag + "_2d_out"}) {
      onnx::ValueInfoProto* info = g.add_value_info();
      info->set_name(name);
      auto* tensor = info->mutable_type()->mutable_tensor_type();
      tensor->set_elem_type(it != types.end() ? static_cast<int32_t>(it->second.elem_type) : onnx::TensorProto::FLOAT);
      tensor->mutable_shape()->add_dim();
      tensor->mutable_shape()->add_dim();
    }
  }
  if (made) *g.mutable_node() = out_nodes.node();
}

}  // namespace

ir::Model convert_version(const ir::Model& model, int64_t target) {
  if (target > kNewestConvertibleOpset)
    throw internal_error("ONNX's converter reaches opset " + std::to_string(kNewestConvertibleOpset));
  onnx::ModelProto proto = export_model(model);
  // Inferred types written into the proto's value_info, so adapters that need shapes see them.
  try {
    onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(false, 0, /*data_propagation=*/true));
  } catch (const std::exception&) {
    // What was inferred stays; an adapter missing a shape says so below.
  }
  onnx::GraphProto* g = proto.mutable_graph();
  ir::TypeMap types;
  for (const auto* list : {&g->input(), &g->value_info(), &g->output()})
    for (const auto& info : *list)
      if (info.has_type()) types[info.name()] = import_type(info.type());
  if (model.opset_version("") < 13 && target >= 13) rewrite_softmax_of_unknown_rank(*g, types);
  onnx::ModelProto converted;
  try {
    converted = onnx::version_conversion::ConvertVersion(proto, static_cast<int>(target));
  } catch (const std::exception& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    const size_t colon = msg.find(": ");  // drop the "file.h:53: function:" prefix of ONNX's assertions
    if (msg.rfind("./onnx/", 0) == 0 && colon != std::string::npos) msg = msg.substr(msg.find(": ", colon + 2) + 2);
    throw bad_input("ONNX's version converter cannot take this model from opset " +
                    std::to_string(model.opset_version("")) + " to " + std::to_string(target) + ": " + msg +
                    (msg.find("shape") != std::string::npos ? " (give the input shapes with --input-shape)" : ""));
  }
  return import_model(converted, nullptr);
}

}  // namespace nncompress::onnxio
