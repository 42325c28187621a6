#include "nncompress/runtime/executor.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <dlfcn.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <optional>
#include <thread>

#include "nncompress/core/error.h"
#include "nncompress/runtime/clip_range.h"
#include "nncompress/runtime/kernel_registry.h"
#include "nncompress/runtime/tensor_convert.h"
#include "inference_fusion.h"
#include "small_work.h"

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
  // OpenBLAS (LibTorch's GEMMs through libblas.so.3) keeps its own thread count, the core count by
  // default: without this, --threads 1 still ran matrix products on every core. Looked up at run
  // time because libblas.so.3 may be another BLAS (tools/setup.sh selects OpenBLAS's OpenMP build,
  // whose workers are LibTorch's own OpenMP threads; the pthread build's spin beside them).
  using SetThreads = void (*)(int);
  if (auto set_blas_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas_threads(threads);
}

namespace {

// Rewrites a convolution's arguments (x, w[, b]) to include the BatchNormalization after it:
// w * s and (b - mean) * s + shift, s = scale / sqrt(var + eps). False, arguments untouched, when
// types or shapes do not allow it.
bool fold_batchnorm(std::vector<at::Tensor>& conv, const std::vector<at::Tensor>& bn, double eps) {
  const at::Tensor w = conv.at(1);  // a handle: resizing `conv` below would invalidate a reference
  if (w.scalar_type() != at::kFloat || w.dim() < 3 || (conv.size() > 2 && conv[2].defined() && conv[2].scalar_type() != at::kFloat))
    return false;
  for (size_t i = 1; i < 5; ++i)
    if (bn[i].scalar_type() != at::kFloat || bn[i].dim() != 1 || bn[i].size(0) != w.size(0) || bn[i].is_mkldnn()) return false;
  const at::Tensor s = bn[1] * at::rsqrt(bn[4] + eps);
  std::vector<int64_t> shape(static_cast<size_t>(w.dim()), 1);
  shape[0] = -1;
  const at::Tensor b = conv.size() > 2 && conv[2].defined() ? conv[2] : at::zeros_like(s);
  conv.resize(3);
  conv[1] = w * s.view(shape);
  conv[2] = (b - bn[3]) * s + bn[2];
  return true;
}

std::string label(const ir::Node& n) { return n.name.empty() ? n.describe() : n.name; }

std::vector<at::Tensor> arguments(const std::vector<int>& inputs, const std::vector<at::Tensor>& slots) {
  std::vector<at::Tensor> args;
  for (int s : inputs) args.push_back(s >= 0 ? slots[s] : at::Tensor());
  return args;
}

}  // namespace

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
  std::unordered_map<const ir::Node*, int> step_of;
  for (const ir::Node* n : order) {
    Step step;
    step.node = n;
    step.kernel = registry.find(n->domain(), n->op_type(), opset_)->kernel;
    if (StepMemo::applies_to(*n)) {
      step.memo = static_cast<int>(memos_.size());
      memos_.emplace_back(*n);
    }
    for (const ir::Value* v : n->inputs()) {
      step.inputs.push_back(v ? slots_.at(v) : -1);
      if (v) last_read[slots_.at(v)] = steps_.size();
    }
    for (const ir::Value* v : n->outputs()) step.outputs.push_back(v ? slots_.at(v) : -1);
    step_of[n] = static_cast<int>(steps_.size());
    steps_.push_back(std::move(step));
  }
  for (size_t k = 0; k < steps_.size(); ++k) {
    Step& step = steps_[k];
    if (const ir::Node* bn = foldable_batchnorm(*step.node)) step.folded_batchnorm = step_of.at(bn);
    if (!at::hasMKLDNN() || !step.node->in_default_domain()) continue;
    step.blocked = registry.find_blocked(step.node->op_type());
    if (step.blocked && step.node->op_type() == "MatMul") plan_linear_epilogue(k, step_of);
    if (!step.blocked || step.node->op_type() != "Conv") continue;
    plan_epilogue(k, step_of);
    // A convolution computes in the blocked layout only when everything that reads its result
    // (after the ops it computes too) can: a reorder back to plain right after it would cost what
    // the layout saves.
    const std::vector<int> chain = step.fused_chain();
    for (const ir::Use& u : (chain.empty() ? step.node : steps_[static_cast<size_t>(chain.back())].node)->output(0)->uses())
      if (u.implicit || !registry.find_blocked(u.node->op_type())) step.blocked = nullptr;
    if (!step.blocked) step.fused_add = step.add_operand = step.fused_activation = -1;
  }
  // Free intermediates after their last reader; parameters and graph outputs stay.
  for (const auto& [slot, step] : last_read) {
    if (parameters_[slot].defined()) continue;
    bool keep = false;
    for (const ir::Value* v : outputs_) keep |= slots_.at(v) == slot;
    if (!keep) steps_[step].release.push_back(slot);
  }
}

void Executor::plan_linear_epilogue(size_t matmul_step, const std::unordered_map<const ir::Node*, int>& step_of) {
  Step& mm = steps_[matmul_step];
  // Only a product by a weight computes the ops after it (its kernel keeps the weight packed
  // with them); a product of two activations runs alone.
  const ir::Value* w = mm.node->inputs().size() == 2 ? mm.node->input(1) : nullptr;
  if (!w || !w->has_initializer() || w->initializer()->dims().size() != 2 || mm.node->outputs().size() != 1) return;
  size_t operand = 0;
  if (const ir::Node* add = bias_add(mm.node->output(0), w->initializer()->dims()[1], &operand)) {
    mm.fused_bias = step_of.at(add);
    mm.bias_operand = static_cast<int>(operand);
    for (const ir::Node* n : erf_gelu(add->output(0))) mm.fused_gelu.push_back(step_of.at(n));
  }
  plan_epilogue(matmul_step, step_of);
}

void Executor::plan_epilogue(size_t step, const std::unordered_map<const ir::Node*, int>& step_of) {
  Step& owner = steps_[step];
  const std::vector<int> chain = owner.fused_chain();
  const ir::Node* last = chain.empty() ? owner.node : steps_[static_cast<size_t>(chain.back())].node;
  const ir::Use* use = sole_use(last->output(0));
  if (use && use->node->op_type() == "Add" && use->node->in_default_domain() && use->node->inputs().size() == 2 &&
      use->node->outputs().size() == 1 && use->index < 2) {
    const ir::Value* other = use->node->input(1 - use->index);
    // The other operand must exist when the step runs (in a residual block, the later of
    // the two convolutions takes the Add).
    if (other && (!other->producer() || step_of.at(other->producer()) < static_cast<int>(step))) {
      owner.fused_add = step_of.at(use->node);
      owner.add_operand = static_cast<int>(1 - use->index);
      use = sole_use(use->node->output(0));
    }
  }
  if (use && use->index == 0 && fusable_activation(*use->node)) owner.fused_activation = step_of.at(use->node);
}

bool Executor::epilogue_for(const Step& step, const std::vector<at::Tensor>& slots,
                            const std::unordered_map<int, std::string>& wanted, Epilogue* e) const {
  if (step.fused_bias < 0 && step.fused_add < 0 && step.fused_activation < 0) return false;
  // The values before the chain's end are never produced: none may be wanted.
  const std::vector<int> chain = step.fused_chain();
  if (wanted.count(step.outputs[0])) return false;
  for (size_t i = 0; i + 1 < chain.size(); ++i)
    if (wanted.count(steps_[static_cast<size_t>(chain[i])].outputs[0])) return false;
  if (step.fused_bias >= 0) {
    e->bias = slots[static_cast<size_t>(steps_[static_cast<size_t>(step.fused_bias)].inputs[static_cast<size_t>(step.bias_operand)])];
    e->gelu = !step.fused_gelu.empty();
  }
  if (step.fused_add >= 0) {
    e->add = slots[static_cast<size_t>(steps_[static_cast<size_t>(step.fused_add)].inputs[static_cast<size_t>(step.add_operand)])];
    if (!e->add.defined()) return false;
  }
  if (step.fused_activation >= 0) {
    const Step& act = steps_[static_cast<size_t>(step.fused_activation)];
    e->clamp = true;
    e->min = 0.0f;
    e->max = FLT_MAX;
    if (act.node->op_type() == "Clip") {
      const std::optional<ClipRange> r = clip_range(*act.node, opset_, [&](size_t i) -> std::optional<at::Tensor> {
        if (act.inputs[i] < 0) return std::nullopt;
        return slots[static_cast<size_t>(act.inputs[i])];
      });
      if (!r) return false;
      e->min = static_cast<float>(r->lo);
      e->max = static_cast<float>(r->hi);
    }
  }
  return true;
}

std::vector<std::string> Executor::inference_fusions() const {
  std::vector<std::string> lines;
  for (const Step& s : steps_) {
    if (!s.blocked) continue;
    std::string line = label(*s.node);
    for (int k : s.fused_chain()) line += " + " + label(*steps_[static_cast<size_t>(k)].node);
    if (line != label(*s.node)) lines.push_back(line);
  }
  return lines;
}

bool Executor::fold_batchnorm_cached(size_t conv_step, std::vector<at::Tensor>& conv, const std::vector<at::Tensor>& bn,
                                     double eps) const {
  std::vector<at::Tensor> sources(conv.begin() + 1, conv.end());
  sources.insert(sources.end(), bn.begin() + 1, bn.end());
  std::vector<uint32_t> versions;
  for (const at::Tensor& t : sources) {
    if (t.defined() && t.is_inference()) return fold_batchnorm(conv, bn, eps);  // no version counter
    versions.push_back(t.defined() ? t._version() : 0);
  }
  if (folded_.size() != steps_.size()) folded_.assign(steps_.size(), {});
  FoldedConvolution& f = folded_[conv_step];
  const bool same = f.sources.size() == sources.size() && f.versions == versions &&
                    std::equal(sources.begin(), sources.end(), f.sources.begin(),
                               [](const at::Tensor& a, const at::Tensor& b) { return a.is_same(b); });
  if (!same) {
    std::vector<at::Tensor> folded = conv;
    if (!fold_batchnorm(folded, bn, eps)) return false;
    f = FoldedConvolution{std::move(sources), std::move(versions), std::vector<at::Tensor>(folded.begin() + 1, folded.end())};
  }
  conv.resize(1);
  conv.insert(conv.end(), f.folded.begin(), f.folded.end());
  return true;
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

at::Tensor plain(const at::Tensor& t) { return t.defined() && t.is_mkldnn() ? t.to_dense() : t; }

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

  const bool inference = !training_ && !at::GradMode::is_enabled();
  const bool blocked = inference && blocked_layout_;
  std::vector<char> done(steps_.size(), 0);  // steps a convolution computed with its own
  for (size_t k = 0; k < steps_.size(); ++k) {
    const Step& step = steps_[k];
    if (done[k]) {
      for (int s : step.release) slots[s] = at::Tensor();
      continue;
    }
    try {
      std::vector<at::Tensor> args = arguments(step.inputs, slots);
      const Step* last = nullptr;  // the last step this convolution computed too: its outputs are ours
      if (inference && step.folded_batchnorm >= 0 && !wanted.count(step.outputs[0])) {
        const Step& b = steps_[static_cast<size_t>(step.folded_batchnorm)];
        if (fold_batchnorm_cached(k, args, arguments(b.inputs, slots), b.node->attr_float("epsilon", 1e-5f))) {
          last = &b;
          done[static_cast<size_t>(step.folded_batchnorm)] = 1;
        }
      }
      std::vector<at::Tensor> outs;
      std::optional<OneThread> alone;
      if (inference && small_work(*step.node, args)) alone.emplace();
      StepMemo* memo = inference && step.memo >= 0 ? &memos_[static_cast<size_t>(step.memo)] : nullptr;
      const std::vector<at::Tensor>* kept = memo ? memo->find(args) : nullptr;
      if (kept) {
        outs = *kept;
      } else if (blocked && step.blocked) {
        Epilogue e;
        if ((step.folded_batchnorm < 0 || last) && epilogue_for(step, slots, wanted, &e)) {
          outs = step.blocked(KernelContext{*step.node, args, opset_, training_, &e});
          for (int f : step.fused_chain()) {
            if (f == step.folded_batchnorm || outs.empty()) continue;
            done[static_cast<size_t>(f)] = 1;
            last = &steps_[static_cast<size_t>(f)];
          }
        }
        if (outs.empty()) outs = step.blocked(KernelContext{*step.node, args, opset_, training_});
      }
      if (outs.empty()) {
        // Plain kernels see plain tensors; the converted value replaces the blocked one so that
        // later readers do not convert it again.
        for (size_t i = 0; i < args.size(); ++i) {
          if (!args[i].defined() || !args[i].is_mkldnn()) continue;
          args[i] = args[i].to_dense();
          if (i < step.inputs.size()) slots[step.inputs[i]] = args[i];
        }
        outs = step.kernel(KernelContext{*step.node, args, opset_, training_});
        if (memo) memo->keep(args, outs);
      }
      const std::vector<int>& out_slots = last ? last->outputs : step.outputs;
      for (size_t i = 0; i < out_slots.size(); ++i) {
        const int s = out_slots[i];
        if (s < 0) continue;
        if (i >= outs.size() || !outs[i].defined())
          throw internal_error("node " + step.node->describe() + " did not compute output " + std::to_string(i));
        slots[s] = std::move(outs[i]);
        if (captured && wanted.count(s)) (*captured)[wanted[s]] = plain(slots[s]);
      }
      for (int s : step.release) slots[s] = at::Tensor();
    } catch (const Error&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw bad_input("node " + step.node->describe() + " needs more memory than this machine has");
    } catch (const std::exception& e) {
      // LibTorch or oneDNN refuses what the model asks of it (shapes, attributes, sizes).
      const c10::Error* torch_error = dynamic_cast<const c10::Error*>(&e);
      const std::string msg = torch_error ? torch_error->msg() : e.what();
      throw bad_input("node " + step.node->describe() + " cannot run: " + msg.substr(0, msg.find('\n')));
    }
  }
  std::vector<at::Tensor> results;
  // Graph outputs in the standard layout, whatever layout the kernels computed them in.
  for (const ir::Value* v : outputs_) results.push_back(plain(slots[slots_.at(v)]).contiguous());
  return results;
}

}  // namespace nncompress::runtime
