// IR -> ONNX ModelProto. Numeric tensors are written as raw_data (ONNX's recommended form),
// strings as string_data; opaque parts go back byte for byte.
#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "proto_convert.h"

namespace nncompress::onnxio {

namespace {

template <typename Proto>
void parse_opaque(Proto* out, const std::string& bytes, const char* what) {
  if (!out->ParseFromString(bytes)) throw internal_error(std::string("cannot re-encode a carried ") + what);
}

void export_tensor(const ir::Tensor& t, const std::string& name, onnx::TensorProto* p, const ExternalWriter* external) {
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.dims()) p->add_dims(d);
  if (!t.doc_string.empty()) p->set_doc_string(t.doc_string);
  if (t.dtype() == ir::DataType::String) {
    for (const std::string& s : t.strings()) p->add_string_data(s);
    return;
  }
  if (external && external->wants(t)) {
    const auto [location, offset] = external->store(t.raw_bytes(), t.byte_size());
    p->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* kv = p->add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(t.byte_size()));
    return;
  }
  p->set_raw_data(t.raw_bytes(), t.byte_size());
}

// COO with linear INT64 indices, as ONNX allows for sparse initializers.
void export_sparse(const ir::Tensor& t, const std::string& name, onnx::SparseTensorProto* sp,
                   const ExternalWriter* external) {
  const at::Tensor flat = t.data().reshape({-1});
  const at::Tensor indices = at::nonzero(flat.ne(0)).reshape({-1}).contiguous();
  const at::Tensor values = flat.index_select(0, indices).contiguous();
  for (int64_t d : t.dims()) sp->add_dims(d);
  ir::Tensor values_t(t.dtype(), {values.numel()}, values);
  values_t.doc_string = t.doc_string;
  export_tensor(values_t, name, sp->mutable_values(), external);
  export_tensor(ir::Tensor(ir::DataType::Int64, {indices.numel()}, indices), "", sp->mutable_indices(), external);
}

void export_type(const ir::ValueType& t, onnx::TypeProto* tp) {
  if (!t.opaque.empty()) {
    parse_opaque(tp, t.opaque, "type");
    return;
  }
  if (!t.denotation.empty()) tp->set_denotation(t.denotation);
  auto* tensor = tp->mutable_tensor_type();
  tensor->set_elem_type(static_cast<int32_t>(t.elem_type));
  if (!t.shape) return;
  auto* shape = tensor->mutable_shape();
  for (const ir::Dim& d : *t.shape) {
    auto* dim = shape->add_dim();
    if (d.value) dim->set_dim_value(*d.value);
    else if (!d.param.empty()) dim->set_dim_param(d.param);
    if (!d.denotation.empty()) dim->set_denotation(d.denotation);
  }
}

void export_value_info(const ir::Value& v, onnx::ValueInfoProto* info) {
  info->set_name(v.name());
  if (v.type.defined) export_type(v.type, info->mutable_type());
  if (!v.doc_string.empty()) info->set_doc_string(v.doc_string);
}

void export_attribute(const ir::Attribute& a, onnx::AttributeProto* p, const ExternalWriter* external) {
  using K = ir::AttributeKind;
  p->set_name(a.name);
  p->set_type(static_cast<onnx::AttributeProto::AttributeType>(a.kind));
  if (!a.doc_string.empty()) p->set_doc_string(a.doc_string);
  if (!a.ref_attr_name.empty()) p->set_ref_attr_name(a.ref_attr_name);
  // Write every field the attribute holds, not only the one its kind names: a round trip of an
  // odd model must not drop what was there.
  if (a.f != 0.0f || a.kind == K::Float) p->set_f(a.f);
  if (a.i != 0 || a.kind == K::Int) p->set_i(a.i);
  if (!a.s.empty() || a.kind == K::String) p->set_s(a.s);
  if (a.t.dtype() != ir::DataType::Undefined) export_tensor(a.t, a.t.name, p->mutable_t(), external);
  for (float f : a.floats) p->add_floats(f);
  for (int64_t i : a.ints) p->add_ints(i);
  for (const std::string& s : a.strings) p->add_strings(s);
  for (const ir::Tensor& t : a.tensors) export_tensor(t, t.name, p->add_tensors(), external);
  for (const std::string& bytes : a.opaque) {
    switch (a.kind) {
      case K::Graph: parse_opaque(p->mutable_g(), bytes, "subgraph"); break;
      case K::Graphs: parse_opaque(p->add_graphs(), bytes, "subgraph"); break;
      case K::SparseTensor: parse_opaque(p->mutable_sparse_tensor(), bytes, "sparse tensor"); break;
      case K::SparseTensors: parse_opaque(p->add_sparse_tensors(), bytes, "sparse tensor"); break;
      case K::TypeProto: parse_opaque(p->mutable_tp(), bytes, "type"); break;
      case K::TypeProtos: parse_opaque(p->add_type_protos(), bytes, "type"); break;
      default: throw internal_error("attribute '" + a.name + "' of kind " + to_string(a.kind) + " holds opaque data");
    }
  }
}

void export_node(const ir::Node& n, onnx::NodeProto* p, const ExternalWriter* external) {
  for (const ir::Value* in : n.inputs()) p->add_input(in ? in->name() : "");
  for (const ir::Value* out : n.outputs()) p->add_output(out ? out->name() : "");
  if (!n.name.empty()) p->set_name(n.name);
  p->set_op_type(n.op_type());
  if (!n.domain().empty()) p->set_domain(n.domain());
  for (const ir::Attribute& a : n.attributes()) export_attribute(a, p->add_attribute(), external);
  if (!n.doc_string.empty()) p->set_doc_string(n.doc_string);
}

void export_graph(const ir::Graph& graph, onnx::GraphProto* g, const ExternalWriter* external) {
  for (const auto& n : graph.nodes()) export_node(*n, g->add_node(), external);
  g->set_name(graph.name);
  for (const ir::Value* v : graph.initializers()) {
    const ir::Tensor& t = *v->initializer();
    if (t.store_sparse) export_sparse(t, v->name(), g->add_sparse_initializer(), external);
    else export_tensor(t, v->name(), g->add_initializer(), external);
  }
  if (!graph.doc_string.empty()) g->set_doc_string(graph.doc_string);
  for (const ir::Value* v : graph.inputs()) export_value_info(*v, g->add_input());
  for (const ir::Value* v : graph.outputs()) export_value_info(*v, g->add_output());
  for (const ir::Value* v : graph.typed_intermediate_values()) export_value_info(*v, g->add_value_info());
  for (const std::string& qa : graph.opaque_quantization_annotations)
    parse_opaque(g->add_quantization_annotation(), qa, "quantization annotation");
}

}  // namespace

onnx::TensorProto export_tensor(const ir::Tensor& tensor) {
  onnx::TensorProto p;
  export_tensor(tensor, tensor.name, &p, nullptr);
  return p;
}

onnx::ModelProto export_model(const ir::Model& m, const ExternalWriter* external) {
  onnx::ModelProto p;
  p.set_ir_version(m.ir_version);
  for (const ir::OpsetImport& o : m.opset_imports) {
    auto* op = p.add_opset_import();
    op->set_domain(o.domain);
    op->set_version(o.version);
  }
  if (!m.producer_name.empty()) p.set_producer_name(m.producer_name);
  if (!m.producer_version.empty()) p.set_producer_version(m.producer_version);
  if (!m.domain.empty()) p.set_domain(m.domain);
  if (m.model_version) p.set_model_version(m.model_version);
  if (!m.doc_string.empty()) p.set_doc_string(m.doc_string);
  for (const auto& [key, value] : m.metadata_props) {
    auto* kv = p.add_metadata_props();
    kv->set_key(key);
    kv->set_value(value);
  }
  export_graph(m.graph, p.mutable_graph(), external);
  for (const std::string& f : m.opaque_functions) parse_opaque(p.add_functions(), f, "function");
  for (const std::string& t : m.opaque_training_info) parse_opaque(p.add_training_info(), t, "training info");
  return p;
}

}  // namespace nncompress::onnxio
