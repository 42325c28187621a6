#include "nncompress/runtime/run_shapes.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <exception>
#include <optional>
#include <set>
#include <unordered_map>

#include "nncompress/onnx/validate.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::runtime {

namespace {

// The symbols of the graph inputs' shapes (a symbolic batch "N"): a value whose dims are
// numbers or these symbols needs no run.
std::set<std::string> input_symbols(const ir::Model& model) {
  std::set<std::string> symbols;
  for (const ir::Value* in : model.graph.inputs())
    if (in->type.shape)
      for (const ir::Dim& d : *in->type.shape)
        if (!d.is_known() && !d.param.empty()) symbols.insert(d.param);
  return symbols;
}

bool resolved(const ir::ValueType& t, const std::set<std::string>& symbols) {
  if (!t.is_tensor() || !t.shape) return false;
  for (const ir::Dim& d : *t.shape)
    if (!d.is_known() && !symbols.count(d.param)) return false;
  return true;
}

// Zeros of every graph input's shape, a symbolic batch (dim 0) set to `batch`; nullopt when
// another dimension is unknown.
std::optional<std::vector<at::Tensor>> zero_inputs(const Executor& exec, const ir::TypeMap& types, int64_t batch,
                                                   bool& symbolic_batch) {
  std::vector<at::Tensor> inputs;
  for (const ir::Value* in : exec.inputs()) {
    const auto it = types.find(in->name());
    const ir::ValueType& t = it != types.end() ? it->second : in->type;
    if (!t.is_tensor() || !t.shape) return std::nullopt;
    std::vector<int64_t> dims;
    for (size_t i = 0; i < t.shape->size(); ++i) {
      const ir::Dim& d = (*t.shape)[i];
      if (!d.is_known() && i != 0) return std::nullopt;
      symbolic_batch = symbolic_batch || !d.is_known();
      dims.push_back(d.is_known() ? *d.value : batch);
    }
    inputs.push_back(at::zeros(dims, at::TensorOptions().dtype(ir::storage_scalar_type(t.elem_type))));
  }
  return inputs;
}

std::unordered_map<std::string, at::Tensor> run_capturing(const Executor& exec, const std::vector<at::Tensor>& inputs,
                                                         const std::vector<std::string>& names) {
  at::NoGradGuard no_grad;
  std::unordered_map<std::string, at::Tensor> captured;
  exec.run(inputs, names, &captured);
  return captured;
}

}  // namespace

int complete_shapes_by_running(const ir::Model& model, ir::TypeMap& types, std::vector<std::string>* warnings) {
  const std::set<std::string> symbols = input_symbols(model);
  std::vector<std::string> missing;
  for (const auto& n : model.graph.nodes())
    for (const ir::Value* v : n->outputs())
      if (v) {
        const auto it = types.find(v->name());
        if (it == types.end() || !resolved(it->second, symbols)) missing.push_back(v->name());
      }
  if (missing.empty()) return 0;
  try {
    Executor exec(model);
    exec.set_blocked_layout(false);  // every intermediate value materialized
    bool symbolic_batch = false;
    const auto inputs = zero_inputs(exec, types, 1, symbolic_batch);
    if (!inputs) return 0;  // nothing to run on: the caller keeps the inferred shapes
    const auto captured = run_capturing(exec, *inputs, missing);
    // With a symbolic batch, a second run at batch 2 tells which dimensions follow it: those
    // stay symbolic, the others are fixed.
    std::unordered_map<std::string, at::Tensor> second;
    if (symbolic_batch) second = run_capturing(exec, *zero_inputs(exec, types, 2, symbolic_batch), missing);
    int filled = 0;
    for (const auto& [name, tensor] : captured) {
      if (!tensor.defined()) continue;
      const auto other = second.find(name);
      if (symbolic_batch && (other == second.end() || !other->second.defined() || other->second.dim() != tensor.dim()))
        continue;
      const ir::ValueType inferred = types.count(name) ? types[name] : ir::ValueType();
      std::vector<ir::Dim> dims;
      for (int64_t i = 0; i < tensor.dim(); ++i) {
        const bool fixed = !symbolic_batch || other->second.size(i) == tensor.size(i);
        const bool had = inferred.shape && static_cast<int64_t>(inferred.shape->size()) == tensor.dim();
        const bool per_batch = !fixed && other->second.size(i) == 2 * tensor.size(i);
        dims.push_back(fixed       ? ir::Dim::known(tensor.size(i))
                       : per_batch ? ir::Dim::batch_multiple(tensor.size(i))
                       : had       ? (*inferred.shape)[i]
                                   : ir::Dim{});
      }
      ir::DataType elem = inferred.elem_type;  // inferred, else declared, else what ran
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
