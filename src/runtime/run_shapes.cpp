#include "nncompress/runtime/run_shapes.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <exception>
#include <unordered_map>

#include "nncompress/onnx/validate.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::runtime {

namespace {

bool fully_known(const ir::ValueType& t) {
  if (!t.is_tensor() || !t.shape) return false;
  for (const ir::Dim& d : *t.shape)
    if (!d.is_known()) return false;
  return true;
}

}  // namespace

int complete_shapes_by_running(const ir::Model& model, ir::TypeMap& types, std::vector<std::string>* warnings) {
  std::vector<std::string> missing;
  for (const auto& n : model.graph.nodes())
    for (const ir::Value* v : n->outputs())
      if (v) {
        const auto it = types.find(v->name());
        if (it == types.end() || !fully_known(it->second)) missing.push_back(v->name());
      }
  if (missing.empty()) return 0;
  try {
    Executor exec(model);
    exec.set_blocked_layout(false);  // every intermediate value materialized
    std::vector<at::Tensor> inputs;
    for (const ir::Value* in : exec.inputs()) {
      const auto it = types.find(in->name());
      const ir::ValueType& t = it != types.end() ? it->second : in->type;
      if (!fully_known(t)) return 0;  // nothing to run on: the caller keeps the inferred shapes
      std::vector<int64_t> dims;
      for (const ir::Dim& d : *t.shape) dims.push_back(*d.value);
      inputs.push_back(at::zeros(dims, at::TensorOptions().dtype(ir::storage_scalar_type(t.elem_type))));
    }
    at::NoGradGuard no_grad;
    std::unordered_map<std::string, at::Tensor> captured;
    exec.run(inputs, missing, &captured);
    int filled = 0;
    for (const auto& [name, tensor] : captured) {
      if (!tensor.defined()) continue;
      std::vector<ir::Dim> dims;
      for (int64_t d : tensor.sizes()) dims.push_back(ir::Dim::known(d));
      ir::DataType elem = types[name].elem_type;  // inferred, else declared, else what ran
      if (elem == ir::DataType::Undefined) elem = model.graph.value(name).type.elem_type;
      if (elem == ir::DataType::Undefined) elem = data_type_of(tensor.scalar_type());
      types[name] = ir::ValueType::tensor(elem, dims);
      ++filled;
    }
    return filled;
  } catch (const std::exception& e) {  // bad_input (an op without a kernel) or a kernel's error
    const std::string what = e.what();
    if (warnings) warnings->push_back("shapes from a run of the model: not available (" + what.substr(0, what.find('\n')) + ")");
    return 0;
  }
}

ir::TypeMap known_shapes(const ir::Model& model, std::vector<std::string>* warnings) {
  ir::TypeMap types = onnxio::infer_shapes(model, warnings);
  complete_shapes_by_running(model, types, warnings);
  return types;
}

}  // namespace nncompress::runtime
