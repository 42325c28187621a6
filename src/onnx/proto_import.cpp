// ONNX ModelProto -> IR. Everything we do not interpret is carried over intact (opaque bytes for
// subgraphs, functions, non-tensor types) so that export gives back an equivalent model.
#include <algorithm>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "nncompress/core/format.h"
#include "nncompress/core/limits.h"
#include "proto_convert.h"

namespace nncompress::onnxio {

namespace {

using ir::DataType;

std::string tensor_label(const onnx::TensorProto& p) {
  return p.name().empty() ? std::string("(unnamed tensor)") : "tensor '" + p.name() + "'";
}

// Copies `count` values of a repeated typed field into storage of element type S, narrowing
// or keeping bits as ONNX prescribes (e.g. FLOAT16 bits live in int32_data).
template <typename S, typename Field>
at::Tensor from_field(const Field& field, int64_t count, at::ScalarType storage) {
  at::Tensor t = at::empty({count}, at::TensorOptions().dtype(storage));
  S* dst = static_cast<S*>(t.data_ptr());
  for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<S>(field.Get(static_cast<int>(i)));
  return t;
}

at::Tensor typed_field_data(const onnx::TensorProto& p, DataType dtype, int64_t numel) {
  const at::ScalarType storage = ir::storage_scalar_type(dtype);
  auto expect = [&](int64_t found, int64_t wanted, const char* field) {
    if (found != wanted)
      throw bad_input(tensor_label(p) + " has " + std::to_string(found) + " values in " + field + " for " +
                      std::to_string(wanted) + " expected");
  };
  switch (dtype) {
    case DataType::Float:
      expect(p.float_data_size(), numel, "float_data");
      return from_field<float>(p.float_data(), numel, storage);
    case DataType::Complex64: {
      expect(p.float_data_size(), 2 * numel, "float_data");
      at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(storage));
      std::memcpy(t.data_ptr(), p.float_data().data(), sizeof(float) * 2 * numel);
      return t;
    }
    case DataType::Double:
      expect(p.double_data_size(), numel, "double_data");
      return from_field<double>(p.double_data(), numel, storage);
    case DataType::Complex128: {
      expect(p.double_data_size(), 2 * numel, "double_data");
      at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(storage));
      std::memcpy(t.data_ptr(), p.double_data().data(), sizeof(double) * 2 * numel);
      return t;
    }
    case DataType::Int64:
      expect(p.int64_data_size(), numel, "int64_data");
      return from_field<int64_t>(p.int64_data(), numel, storage);
    case DataType::UInt32:
      expect(p.uint64_data_size(), numel, "uint64_data");
      return from_field<uint32_t>(p.uint64_data(), numel, storage);
    case DataType::UInt64:
      expect(p.uint64_data_size(), numel, "uint64_data");
      return from_field<uint64_t>(p.uint64_data(), numel, storage);
    case DataType::Int32:
      expect(p.int32_data_size(), numel, "int32_data");
      return from_field<int32_t>(p.int32_data(), numel, storage);
    case DataType::Int16:
      expect(p.int32_data_size(), numel, "int32_data");
      return from_field<int16_t>(p.int32_data(), numel, storage);
    case DataType::UInt16:
    case DataType::Float16:
    case DataType::BFloat16:
      expect(p.int32_data_size(), numel, "int32_data");
      return from_field<uint16_t>(p.int32_data(), numel, storage);
    case DataType::Int8:
      expect(p.int32_data_size(), numel, "int32_data");
      return from_field<int8_t>(p.int32_data(), numel, storage);
    case DataType::Bool:
      expect(p.int32_data_size(), numel, "int32_data");
      return from_field<bool>(p.int32_data(), numel, storage);
    case DataType::UInt8:
    case DataType::Float8E4M3FN:
    case DataType::Float8E4M3FNUZ:
    case DataType::Float8E5M2:
    case DataType::Float8E5M2FNUZ:
      expect(p.int32_data_size(), numel, "int32_data");
      return from_field<uint8_t>(p.int32_data(), numel, storage);
    case DataType::Int4:
    case DataType::UInt4:
      expect(p.int32_data_size(), (numel + 1) / 2, "int32_data");
      return from_field<uint8_t>(p.int32_data(), (numel + 1) / 2, storage);
    default: break;
  }
  throw bad_input(tensor_label(p) + " has unsupported data type " + ir::to_string(dtype));
}

at::Tensor raw_data(const std::string& bytes, const onnx::TensorProto& p, DataType dtype, int64_t numel) {
  const at::ScalarType storage = ir::storage_scalar_type(dtype);
  const int64_t elems = ir::bit_width(dtype) == 4 ? (numel + 1) / 2 : numel;
  const int64_t want = elems * static_cast<int64_t>(at::elementSize(storage));
  if (static_cast<int64_t>(bytes.size()) != want)
    throw bad_input(tensor_label(p) + " has " + std::to_string(bytes.size()) + " bytes of data, expected " +
                    std::to_string(want));
  at::Tensor t = at::empty({elems}, at::TensorOptions().dtype(storage));
  if (want) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

std::string external_bytes(const onnx::TensorProto& p, const ExternalReader& read_external) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      throw bad_input(tensor_label(p) + " has a malformed external_data entry '" + kv.key() + "'");
    }
  }
  if (location.empty()) throw bad_input(tensor_label(p) + " is stored externally but names no location");
  if (!read_external) throw bad_input(tensor_label(p) + " is stored externally, which is not supported here");
  return read_external(location, offset, length);
}

}  // namespace

ir::Tensor import_tensor(const onnx::TensorProto& p, const ExternalReader& read_external) {
  const auto dtype = static_cast<DataType>(p.data_type());
  if (!ir::is_known(dtype) || dtype == DataType::Undefined)
    throw bad_input(tensor_label(p) + " has unknown data type " + std::to_string(p.data_type()));
  std::vector<int64_t> dims(p.dims().begin(), p.dims().end());
  int64_t count = 1;  // checked before element_count, whose product would overflow
  for (int64_t d : dims) {
    if (d < 0) throw bad_input(tensor_label(p) + " has a negative dimension");
    if (d > 0 && count > kMaxTensorElements / d)
      throw bad_input(tensor_label(p) + " declares more than 2^48 elements, which no model can hold");
    count *= d;
  }
  if (p.has_segment()) throw bad_input(tensor_label(p) + " is segmented, which nncompress does not support");
  const int64_t numel = ir::element_count(dims);

  ir::Tensor t;
  if (dtype == DataType::String) {
    if (p.string_data_size() != numel)
      throw bad_input(tensor_label(p) + " has " + std::to_string(p.string_data_size()) + " strings, expected " +
                      std::to_string(numel));
    t = ir::Tensor(dims, std::vector<std::string>(p.string_data().begin(), p.string_data().end()));
  } else if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    t = ir::Tensor(dtype, dims, raw_data(external_bytes(p, read_external), p, dtype, numel));
  } else if (p.has_raw_data()) {
    t = ir::Tensor(dtype, dims, raw_data(p.raw_data(), p, dtype, numel));
  } else {
    t = ir::Tensor(dtype, dims, typed_field_data(p, dtype, numel));
  }
  t.name = p.name();
  t.doc_string = p.doc_string();
  return t;
}

ir::ValueType import_type(const onnx::TypeProto& tp) {
  ir::ValueType t;
  t.defined = true;
  t.denotation = tp.denotation();
  if (!tp.has_tensor_type()) {
    t.opaque = tp.SerializeAsString();
    return t;
  }
  t.elem_type = static_cast<DataType>(tp.tensor_type().elem_type());
  if (tp.tensor_type().has_shape()) {
    std::vector<ir::Dim> dims;
    for (const auto& d : tp.tensor_type().shape().dim()) {
      ir::Dim dim;
      if (d.has_dim_value()) dim.value = d.dim_value();
      else if (d.has_dim_param()) dim.param = d.dim_param();
      dim.denotation = d.denotation();
      dims.push_back(std::move(dim));
    }
    t.shape = std::move(dims);
  }
  return t;
}

namespace {

// A sparse tensor (COO values + indices) as a dense IR tensor marked to be stored sparse again.
ir::Tensor import_sparse(const onnx::SparseTensorProto& sp, const ExternalReader& read_external) {
  const ir::Tensor values = import_tensor(sp.values(), read_external);
  const ir::Tensor indices = import_tensor(sp.indices(), read_external);
  const std::string label = "sparse tensor '" + sp.values().name() + "'";
  std::vector<int64_t> dims(sp.dims().begin(), sp.dims().end());
  for (int64_t d : dims)
    if (d < 0) throw bad_input(label + " has a negative dimension");
  if (values.dtype() == DataType::String) throw bad_input(label + " holds strings, which is not supported");
  if (indices.dtype() != DataType::Int64) throw bad_input(label + " has indices that are not INT64");
  const int64_t nnz = values.numel();
  const int64_t numel = ir::element_count(dims);
  at::Tensor idx = indices.data().reshape({-1});
  if (indices.dims().size() == 2 && indices.dims()[0] == nnz && indices.dims()[1] == static_cast<int64_t>(dims.size())) {
    // [NNZ, rank] coordinates -> linear indices.
    at::Tensor linear = at::zeros({nnz}, at::kLong);
    for (size_t axis = 0; axis < dims.size(); ++axis) linear = linear * dims[axis] + indices.data().reshape({nnz, -1}).select(1, axis);
    idx = linear;
  } else if (idx.numel() != nnz) {
    throw bad_input(label + " has " + std::to_string(idx.numel()) + " indices for " + std::to_string(nnz) + " values");
  }
  if (nnz && (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= numel))
    throw bad_input(label + " has an index out of range");
  if (ir::bit_width(values.dtype()) == 4) throw bad_input(label + " holds 4-bit values, which is not supported sparse");
  at::Tensor dense = at::zeros({numel}, values.data().options());
  dense.index_put_({idx}, values.data().reshape({-1}));
  ir::Tensor t(values.dtype(), dims, dense);
  t.name = sp.values().name();
  t.doc_string = sp.values().doc_string();
  t.store_sparse = true;
  return t;
}

void apply_value_info(ir::Value& v, const onnx::ValueInfoProto& info) {
  if (info.has_type()) v.type = import_type(info.type());
  v.doc_string = info.doc_string();
}

// Names a subgraph reads from enclosing scopes: used inside but defined neither in it nor in
// a subgraph of its own.
void collect_outer_references(const onnx::GraphProto& g, std::unordered_set<std::string>& out);

void collect_from_attributes(const onnx::NodeProto& n, std::unordered_set<std::string>& out) {
  for (const auto& a : n.attribute()) {
    if (a.has_g()) collect_outer_references(a.g(), out);
    for (const auto& sub : a.graphs()) collect_outer_references(sub, out);
  }
}

void collect_outer_references(const onnx::GraphProto& g, std::unordered_set<std::string>& out) {
  std::unordered_set<std::string> defined;
  for (const auto& i : g.input()) defined.insert(i.name());
  for (const auto& i : g.initializer()) defined.insert(i.name());
  for (const auto& i : g.sparse_initializer()) defined.insert(i.values().name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) defined.insert(o);
  std::unordered_set<std::string> used;
  for (const auto& n : g.node()) {
    for (const auto& i : n.input())
      if (!i.empty()) used.insert(i);
    collect_from_attributes(n, used);
  }
  for (const auto& o : g.output()) used.insert(o.name());
  for (const std::string& name : used)
    if (!defined.count(name)) out.insert(name);
}

std::string node_label(const onnx::NodeProto& n, int index) {
  return (n.name().empty() ? "#" + std::to_string(index) : "'" + n.name() + "'") + " (" + n.op_type() + ")";
}

ir::Attribute import_attribute(const onnx::AttributeProto& a, const ExternalReader& read_external) {
  ir::Attribute out;
  out.name = a.name();
  out.kind = static_cast<ir::AttributeKind>(a.type());
  out.doc_string = a.doc_string();
  out.ref_attr_name = a.ref_attr_name();
  out.f = a.f();
  out.i = a.i();
  out.s = a.s();
  if (a.has_t()) out.t = import_tensor(a.t(), read_external);
  out.floats.assign(a.floats().begin(), a.floats().end());
  out.ints.assign(a.ints().begin(), a.ints().end());
  out.strings.assign(a.strings().begin(), a.strings().end());
  for (const auto& t : a.tensors()) out.tensors.push_back(import_tensor(t, read_external));
  // Subgraphs, sparse tensors and types are carried as bytes whose meaning comes from the kind:
  // one that the kind does not name could not be written back.
  using K = ir::AttributeKind;
  struct OpaqueField {
    bool present;
    K one, many;
  };
  const OpaqueField opaque_fields[] = {
      {a.has_g() || a.graphs_size() > 0, K::Graph, K::Graphs},
      {a.has_sparse_tensor() || a.sparse_tensors_size() > 0, K::SparseTensor, K::SparseTensors},
      {a.has_tp() || a.type_protos_size() > 0, K::TypeProto, K::TypeProtos}};
  for (const OpaqueField& f : opaque_fields)
    if (f.present && out.kind != f.one && out.kind != f.many)
      throw bad_input("attribute '" + printable(a.name()) + "' is declared " + ir::to_string(out.kind) +
                      " but holds a " + ir::to_string(f.one));
  if (a.has_g()) out.opaque.push_back(a.g().SerializeAsString());
  for (const auto& g : a.graphs()) out.opaque.push_back(g.SerializeAsString());
  if (a.has_sparse_tensor()) out.opaque.push_back(a.sparse_tensor().SerializeAsString());
  for (const auto& s : a.sparse_tensors()) out.opaque.push_back(s.SerializeAsString());
  if (a.has_tp()) out.opaque.push_back(a.tp().SerializeAsString());
  for (const auto& t : a.type_protos()) out.opaque.push_back(t.SerializeAsString());
  return out;
}

// Node indices in an order where producers come first (the file's order when it already is).
std::vector<int> producer_first_order(const onnx::GraphProto& g,
                                      const std::vector<std::unordered_set<std::string>>& implicit) {
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& o : g.node(i).output())
      if (!o.empty()) producer.emplace(o, i);
  std::vector<int> state(g.node_size(), 0);  // 0 new, 1 visiting, 2 done
  std::vector<int> order;
  order.reserve(g.node_size());
  std::function<void(int)> visit = [&](int i) {
    if (state[i] == 2) return;
    if (state[i] == 1) throw bad_input("graph has a cycle through node " + node_label(g.node(i), i));
    state[i] = 1;
    auto dep = [&](const std::string& name) {
      auto it = producer.find(name);
      if (it != producer.end() && it->second != i) visit(it->second);
    };
    for (const auto& in : g.node(i).input()) dep(in);
    for (const auto& in : implicit[i]) dep(in);
    state[i] = 2;
    order.push_back(i);
  };
  for (int i = 0; i < g.node_size(); ++i) visit(i);
  return order;
}

void import_graph(const onnx::GraphProto& g, ir::Graph& graph, const ExternalReader& read_external) {
  graph.name = g.name();
  graph.doc_string = g.doc_string();
  for (const auto& qa : g.quantization_annotation()) graph.opaque_quantization_annotations.push_back(qa.SerializeAsString());

  for (const auto& in : g.input()) {
    if (in.name().empty()) throw bad_input("graph has an input without a name");
    apply_value_info(*graph.add_input(in.name()), in);
  }
  for (const auto& init : g.initializer()) {
    if (init.name().empty()) throw bad_input("graph has an initializer without a name");
    graph.add_initializer(init.name(), import_tensor(init, read_external));
  }
  for (const auto& sp : g.sparse_initializer()) {
    if (sp.values().name().empty()) throw bad_input("graph has a sparse initializer without a name");
    graph.add_initializer(sp.values().name(), import_sparse(sp, read_external));
  }

  std::vector<std::unordered_set<std::string>> implicit(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) collect_from_attributes(g.node(i), implicit[i]);

  for (int i : producer_first_order(g, implicit)) {
    const onnx::NodeProto& n = g.node(i);
    if (n.op_type().empty()) throw bad_input("node " + node_label(n, i) + " has no op_type");
    ir::NodeSpec spec;
    spec.op_type = n.op_type();
    spec.name = n.name();
    spec.domain = n.domain();
    spec.doc_string = n.doc_string();
    for (const auto& in : n.input()) {
      if (in.empty()) {
        spec.inputs.push_back(nullptr);
        continue;
      }
      ir::Value* v = graph.find_value(in);
      if (!v) throw bad_input("node " + node_label(n, i) + " reads undefined value '" + in + "'");
      spec.inputs.push_back(v);
    }
    // Sorted so that the implicit input order (and thus export) is deterministic.
    std::vector<std::string> outer(implicit[i].begin(), implicit[i].end());
    std::sort(outer.begin(), outer.end());
    for (const std::string& name : outer) {
      ir::Value* v = graph.find_value(name);
      if (!v) throw bad_input("subgraph of node " + node_label(n, i) + " reads undefined value '" + name + "'");
      spec.implicit_inputs.push_back(v);
    }
    spec.output_names.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute()) spec.attributes.push_back(import_attribute(a, read_external));
    graph.add_node(std::move(spec));
  }

  for (const auto& out : g.output()) {
    ir::Value* v = graph.find_value(out.name());
    if (!v) throw bad_input("graph output '" + out.name() + "' is not computed by any node");
    graph.mark_output(v);
    apply_value_info(*v, out);
  }
  for (const auto& info : g.value_info())
    if (ir::Value* v = graph.find_value(info.name()); v && !v->is_graph_input() && !v->is_graph_output())
      apply_value_info(*v, info);
}

}  // namespace

ir::Model import_model(const onnx::ModelProto& proto, const ExternalReader& read_external) {
  // Since IR version 3 every model must say which operator sets it uses.
  if (proto.ir_version() >= 3 && proto.opset_import_size() == 0) throw bad_input("the model imports no opset");
  ir::Model m;
  m.ir_version = proto.ir_version();
  for (const auto& o : proto.opset_import()) m.opset_imports.push_back({o.domain(), o.version()});
  m.producer_name = proto.producer_name();
  m.producer_version = proto.producer_version();
  m.domain = proto.domain();
  m.model_version = proto.model_version();
  m.doc_string = proto.doc_string();
  for (const auto& kv : proto.metadata_props()) m.metadata_props.emplace_back(kv.key(), kv.value());
  for (const auto& f : proto.functions()) m.opaque_functions.push_back(f.SerializeAsString());
  for (const auto& t : proto.training_info()) m.opaque_training_info.push_back(t.SerializeAsString());
  import_graph(proto.graph(), m.graph, read_external);
  return m;
}

}  // namespace nncompress::onnxio
