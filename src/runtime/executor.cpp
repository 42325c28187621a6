#include "nncompress/runtime/executor.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <map>
#include <thread>

#include "nncompress/core/error.h"
#include "nncompress/runtime/kernel_registry.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::runtime {

void check_supported(const ir::Model& model) {
  const KernelRegistry& registry = KernelRegistry::instance();
  const int64_t opset = model.opset_version();
  std::map<std::string, std::vector<std::string>> missing;
  for (const auto& n : model.graph.nodes()) {
    if (registry.find(n->domain(), n->op_type(), opset)) continue;
    const std::string op = n->domain().empty() ? n->op_type() : n->domain() + "." + n->op_type();
    missing[op].push_back(n->name.empty() ? n->describe() : "'" + n->name + "'");
  }
  if (missing.empty()) return;
  std::string msg = "unsupported op" + std::string(missing.size() > 1 ? "s" : "") + " (opset " + std::to_string(opset) + "):";
  for (const auto& [op, nodes] : missing) {
    msg += " " + op + " (node " + nodes[0];
    if (nodes.size() > 1) msg += " and " + std::to_string(nodes.size() - 1) + " more";
    msg += ")";
  }
  throw bad_input(msg);
}

void set_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
}

Executor::Executor(const ir::Model& model) : model_(model), opset_(model.opset_version()) {
  check_supported(model);
  const ir::Graph& g = model.graph;
  auto assign = [&](const ir::Value* v) {
    if (v && !slots_.count(v)) slots_.emplace(v, static_cast<int>(slots_.size()));
  };
  for (const ir::Value* v : g.inputs()) assign(v);
  for (const ir::Value* v : g.initializers()) assign(v);
  const std::vector<ir::Node*> order = g.topological_order();
  for (const ir::Node* n : order)
    for (const ir::Value* v : n->outputs()) assign(v);

  parameters_.resize(slots_.size());
  for (const ir::Value* v : g.initializers()) {
    const int s = slots_.at(v);
    parameters_[s] = to_aten(*v->initializer());
    // In the layout the convolution kernel computes in (see kernels/linear.cpp), converted once.
    if (parameters_[s].dim() == 4 && parameters_[s].is_floating_point())
      parameters_[s] = parameters_[s].contiguous(at::MemoryFormat::ChannelsLast);
    parameter_slots_[v->name()] = s;
  }
  for (const ir::Value* v : g.inputs())
    if (!v->has_initializer()) inputs_.push_back(v);
  for (const ir::Value* v : g.outputs()) outputs_.push_back(v);

  const KernelRegistry& registry = KernelRegistry::instance();
  std::unordered_map<int, size_t> last_read;
  for (const ir::Node* n : order) {
    Step step{n, registry.find(n->domain(), n->op_type(), opset_)->kernel, {}, {}, {}};
    for (const ir::Value* v : n->inputs()) {
      step.inputs.push_back(v ? slots_.at(v) : -1);
      if (v) last_read[slots_.at(v)] = steps_.size();
    }
    for (const ir::Value* v : n->outputs()) step.outputs.push_back(v ? slots_.at(v) : -1);
    steps_.push_back(std::move(step));
  }
  // Free intermediates after their last reader; parameters and graph outputs stay.
  for (const auto& [slot, step] : last_read) {
    if (parameters_[slot].defined()) continue;
    bool keep = false;
    for (const ir::Value* v : outputs_) keep |= slots_.at(v) == slot;
    if (!keep) steps_[step].release.push_back(slot);
  }
}

int Executor::slot_of(const ir::Value* v) const {
  auto it = slots_.find(v);
  return it == slots_.end() ? -1 : it->second;
}

at::Tensor& Executor::parameter(const std::string& name) {
  auto it = parameter_slots_.find(name);
  if (it == parameter_slots_.end()) throw bad_input("model has no parameter '" + name + "'");
  return parameters_[it->second];
}

std::vector<std::string> Executor::parameter_names() const {
  std::vector<std::string> names;
  for (const ir::Value* v : model_.graph.initializers()) names.push_back(v->name());
  return names;
}

namespace {

void check_input(const ir::Value& v, const at::Tensor& t) {
  if (!t.defined()) throw bad_input("input '" + v.name() + "' was not given");
  if (!v.type.is_tensor()) return;
  const at::ScalarType want = compute_type_of(v.type.elem_type);
  if (want != at::ScalarType::Undefined && t.scalar_type() != want)
    throw bad_input("input '" + v.name() + "' expects " + ir::to_string(v.type) + " but got " +
                    ir::to_string(data_type_of(t.scalar_type())) + " data");
  if (!v.type.shape) return;
  const auto& dims = *v.type.shape;
  bool ok = static_cast<int64_t>(dims.size()) == t.dim();
  for (size_t i = 0; ok && i < dims.size(); ++i) ok = !dims[i].is_known() || *dims[i].value == t.size(i);
  if (!ok) {
    std::string got = "[";
    for (int64_t i = 0; i < t.dim(); ++i) got += (i ? "," : "") + std::to_string(t.size(i));
    throw bad_input("input '" + v.name() + "' expects shape " + ir::to_string(v.type) + " but got " + got + "]");
  }
}

}  // namespace

std::vector<at::Tensor> Executor::run(const std::vector<at::Tensor>& inputs) const {
  return run(inputs, {}, nullptr);
}

std::vector<at::Tensor> Executor::run(const std::vector<at::Tensor>& inputs, const std::vector<std::string>& capture,
                                      std::unordered_map<std::string, at::Tensor>* captured) const {
  if (inputs.size() != inputs_.size())
    throw bad_input("model takes " + std::to_string(inputs_.size()) + " input(s), got " + std::to_string(inputs.size()));
  std::vector<at::Tensor> slots = parameters_;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_input(*inputs_[i], inputs[i]);
    slots[slots_.at(inputs_[i])] = inputs[i];
  }
  std::unordered_map<int, std::string> wanted;
  for (const std::string& name : capture) {
    const ir::Value* v = model_.graph.find_value(name);
    const int s = v ? slot_of(v) : -1;
    if (s < 0) throw bad_input("model has no value '" + name + "' to capture");
    wanted[s] = name;
    if (captured && slots[s].defined()) (*captured)[name] = slots[s];
  }

  std::vector<at::Tensor> args;
  for (const Step& step : steps_) {
    args.clear();
    for (int s : step.inputs) args.push_back(s >= 0 ? slots[s] : at::Tensor());
    const KernelContext ctx{*step.node, args, opset_, training_};
    std::vector<at::Tensor> outs = step.kernel(ctx);
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      const int s = step.outputs[i];
      if (s < 0) continue;
      if (i >= outs.size() || !outs[i].defined())
        throw internal_error("node " + step.node->describe() + " did not compute output " + std::to_string(i));
      slots[s] = std::move(outs[i]);
      if (captured && wanted.count(s)) (*captured)[wanted[s]] = slots[s];
    }
    for (int s : step.release) slots[s] = at::Tensor();
  }
  std::vector<at::Tensor> results;
  // Graph outputs in the standard layout, whatever layout the kernels computed them in.
  for (const ir::Value* v : outputs_) results.push_back(slots[slots_.at(v)].contiguous());
  return results;
}

}  // namespace nncompress::runtime
