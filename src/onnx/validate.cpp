#include "nncompress/onnx/validate.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <set>

#include "nncompress/core/error.h"
#include "isolated.h"
#include "proto_convert.h"

namespace nncompress::onnxio {

namespace {

bool is_default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// Reduce ops took `axes` as an attribute up to opset 17 and as an input from 18 on.
const std::set<std::string> kReduceOps = {"ReduceMean", "ReduceSum",       "ReduceMax",        "ReduceMin",
                                          "ReduceProd", "ReduceL1",        "ReduceL2",         "ReduceLogSum",
                                          "ReduceLogSumExp", "ReduceSumSquare"};

const onnx::TensorProto* find_initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

// Rewrites opset-18+ nodes whose signature changed into their opset-17 form, where the change
// matters to shape inference. ReduceSum kept `axes` as an input since 13, so it is left alone.
void downgrade_for_inference(onnx::GraphProto& g, std::vector<std::string>* warnings) {
  for (auto& n : *g.mutable_node()) {
    if (!is_default_domain(n.domain()) || !kReduceOps.count(n.op_type()) || n.op_type() == "ReduceSum") continue;
    if (n.input_size() < 2) continue;
    const onnx::TensorProto* axes = n.input(1).empty() ? nullptr : find_initializer(g, n.input(1));
    if (!n.input(1).empty() && !axes) {
      if (warnings) warnings->push_back("shape of " + n.op_type() + " '" + n.name() + "' unknown: axes are computed");
      continue;
    }
    if (axes) {
      const ir::Tensor t = import_tensor(*axes, nullptr);
      if (t.dtype() != ir::DataType::Int64)
        throw bad_input("node '" + n.name() + "' (" + n.op_type() + "): its axes are " + ir::to_string(t.dtype()) +
                        ", ONNX requires INT64");
      auto* attr = n.add_attribute();
      attr->set_name("axes");
      attr->set_type(onnx::AttributeProto::INTS);
      const int64_t* p = static_cast<const int64_t*>(t.raw_bytes());
      for (int64_t i = 0; i < t.numel(); ++i) attr->add_ints(p[i]);
    }
    n.mutable_input()->DeleteSubrange(1, n.input_size() - 1);
  }
}

const char* const kLibonnxCrashed =
    "ONNX's checker or shape inference crashed on this model (run in a separate process): the model is malformed";

}  // namespace

int64_t newest_known_opset(const std::string& domain) {
  const auto& map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = map.find(is_default_domain(domain) ? std::string("") : domain);
  return it == map.end() ? 0 : it->second.second;
}

bool opsets_known(const ir::Model& model) {
  for (const ir::OpsetImport& o : model.opset_imports) {
    const int64_t newest = newest_known_opset(o.domain);
    if (newest && o.version > newest) return false;
  }
  return true;
}

CheckResult check_model(const ir::Model& model) {
  CheckResult result;
  if (!opsets_known(model)) {
    result.warnings.push_back("opset " + std::to_string(model.opset_version()) + " is newer than libonnx knows (" +
                              std::to_string(newest_known_opset()) +
                              "): ONNX's checker skipped, graph structure validated by nncompress");
    return result;
  }
  result.checked = true;
  onnx::ModelProto proto = export_model(model);
  const IsolatedResult checked = run_isolated([&] {
    onnx::checker::check_model(proto);
    onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1, false));
    return std::string();
  });
  if (checked.crashed) throw bad_input(kLibonnxCrashed);
  result.error = checked.error.substr(0, checked.error.find('\n'));
  return result;
}

ir::TypeMap infer_shapes(const ir::Model& model, std::vector<std::string>* warnings) {
  onnx::ModelProto proto = export_model(model);
  if (!opsets_known(model)) {
    const int64_t newest = newest_known_opset();
    if (warnings)
      warnings->push_back("opset " + std::to_string(model.opset_version()) + " is newer than libonnx knows (" +
                          std::to_string(newest) + "): shapes inferred with opset-" + std::to_string(newest) +
                          " rules");
    for (auto& o : *proto.mutable_opset_import())
      if (is_default_domain(o.domain()) && o.version() > newest) o.set_version(newest);
    downgrade_for_inference(*proto.mutable_graph(), warnings);
  }
  // The child answers with the graph's typed values and the initializers' dims (not their data).
  const IsolatedResult inferred = run_isolated([&] {
    std::string error;
    try {
      onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                         onnx::ShapeInferenceOptions(false, 0, /*data_propagation=*/true));
    } catch (const std::exception& e) {
      error = e.what();
    }
    onnx::GraphProto types;
    *types.mutable_input() = proto.graph().input();
    *types.mutable_value_info() = proto.graph().value_info();
    *types.mutable_output() = proto.graph().output();
    for (const auto& t : proto.graph().initializer()) {
      auto* dims = types.add_initializer();
      dims->set_name(t.name());
      dims->set_data_type(t.data_type());
      *dims->mutable_dims() = t.dims();
    }
    for (const auto& sp : proto.graph().sparse_initializer()) {
      auto* dims = types.add_sparse_initializer();
      *dims->mutable_dims() = sp.dims();
      dims->mutable_values()->set_name(sp.values().name());
      dims->mutable_values()->set_data_type(sp.values().data_type());
    }
    types.set_doc_string(error);
    return types.SerializeAsString();
  });
  if (inferred.crashed) throw bad_input(kLibonnxCrashed);
  if (!inferred.error.empty() && warnings)
    warnings->push_back("shape inference stopped: " + inferred.error.substr(0, inferred.error.find('\n')));
  onnx::GraphProto g;
  if (!g.ParseFromString(inferred.bytes)) throw internal_error("shape inference: cannot read the child's answer");
  if (!g.doc_string().empty() && warnings)
    warnings->push_back("shape inference stopped: " + g.doc_string().substr(0, g.doc_string().find('\n')));
  ir::TypeMap shapes;
  for (const auto& t : g.initializer()) {
    std::vector<ir::Dim> dims;
    for (int64_t d : t.dims()) dims.push_back(ir::Dim::known(d));
    shapes[t.name()] = ir::ValueType::tensor(static_cast<ir::DataType>(t.data_type()), dims);
  }
  for (const auto& sp : g.sparse_initializer()) {
    std::vector<ir::Dim> dims;
    for (int64_t d : sp.dims()) dims.push_back(ir::Dim::known(d));
    shapes[sp.values().name()] = ir::ValueType::tensor(static_cast<ir::DataType>(sp.values().data_type()), dims);
  }
  for (const auto* list : {&g.input(), &g.value_info(), &g.output()})
    for (const auto& info : *list)
      if (info.has_type()) shapes[info.name()] = import_type(info.type());
  return shapes;
}

}  // namespace nncompress::onnxio
