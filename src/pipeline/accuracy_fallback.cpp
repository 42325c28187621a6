#include "nncompress/pipeline/accuracy_fallback.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "nncompress/core/format.h"
#include "nncompress/onnx/model_copy.h"
#include "nncompress/passes/cleanup/fold_batchnorm.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::pipeline {

namespace {

bool produced_by(const ir::Value* v, const char* op) { return v && v->producer() && v->producer()->op_type() == op; }

// The float tensor a quantized layer's input was quantized from (its Q/DQ pair's input).
const ir::Value* float_source(const ir::Value* x) {
  if (produced_by(x, "DequantizeLinear") && produced_by(x->producer()->input(0), "QuantizeLinear"))
    return x->producer()->input(0)->producer()->input(0);
  return x;
}

double relative_noise(const at::Tensor& reference, const at::Tensor& other) {
  if (reference.sizes() != other.sizes()) return 0;
  const at::Tensor r = reference.to(at::kDouble);
  const double power = r.pow(2).sum().item<double>();
  return (r - other.to(at::kDouble)).pow(2).sum().item<double>() / std::max(power, 1e-30);
}

// Layers with int8 weights, the ones adding the most relative noise first: the noise of the
// layer's output against the float model's minus that of the tensor it reads. The float model is
// the input with BatchNorms and affine blocks folded, as the int8 pass folds them, so that every
// layer's output means the same in both.
std::vector<std::string> noisiest_layers(ir::Model original, const ir::Model& quantized, const data::Dataset& data,
                                         const passes::PassContext& c) {
  passes::fold_batchnorm(original.graph);
  passes::fold_affine_into_conv(original.graph);
  std::vector<const ir::Node*> layers;
  std::vector<std::string> names;
  for (const auto& n : quantized.graph.nodes()) {
    const std::string& op = n->op_type();
    if ((op != "Conv" && op != "Gemm" && op != "MatMul") || !produced_by(n->input(1), "DequantizeLinear")) continue;
    const ir::Value* in = float_source(n->input(0));
    if (!original.graph.find_value(in->name()) || !original.graph.find_value(n->output(0)->name())) continue;
    layers.push_back(n.get());
    names.push_back(in->name());
    names.push_back(n->output(0)->name());
  }
  const int64_t count = std::min<int64_t>(c.batch, data.size());
  at::NoGradGuard no_grad;
  std::unordered_map<std::string, at::Tensor> reference, noisy;
  const runtime::Executor float_model(original), int8_model(quantized);
  float_model.run(data::prepare_inputs(data, 0, count, float_model.inputs(), c.preprocess), names, &reference);
  int8_model.run(data::prepare_inputs(data, 0, count, int8_model.inputs(), c.preprocess), names, &noisy);
  std::vector<std::pair<double, std::string>> ranked;
  for (const ir::Node* n : layers) {
    auto noise = [&](const std::string& v) {
      auto r = reference.find(v), q = noisy.find(v);
      return r == reference.end() || q == noisy.end() ? 0.0 : relative_noise(r->second, q->second);
    };
    ranked.push_back({noise(n->output(0)->name()) - noise(float_source(n->input(0))->name()), n->name});
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (const auto& r : ranked)
    if (r.second.find(',') == std::string::npos) out.push_back(r.second);  // a keep list is comma-joined
  return out;
}

double drop_pp(std::optional<double> base, const StepResult& r) {
  const std::optional<double> after = r.after.accuracy();
  return base && after ? (*base - *after) * 100.0 : 0.0;
}

}  // namespace

StepResult run_step_within_drop(ir::Model& model, const Step& step, const passes::PassContext& context,
                                const data::Dataset* accuracy_data, std::optional<double> base_accuracy,
                                std::optional<double> max_drop_pp) {
  const bool applies = step.pass == "quant.int8" && max_drop_pp && base_accuracy && accuracy_data;
  const std::optional<onnxio::ModelCopy> input = applies ? onnxio::ModelCopy::of(model) : std::nullopt;
  StepResult first = run_step(model, step, context, accuracy_data);
  const double first_drop = drop_pp(base_accuracy, first);
  if (!input || first_drop <= *max_drop_pp || !first.result.unchanged.empty()) return first;

  const std::vector<std::string> ranked = noisiest_layers(input->make(), model, *accuracy_data, context);
  spdlog::info("  accuracy drop {:.2f} pp > {:.2f}: leaving the noisiest of {} int8 layers float", first_drop, *max_drop_pp,
               ranked.size());
  struct Trial {
    size_t kept;
    double drop;
  };
  std::vector<Trial> trials{{0, first_drop}};
  double seconds = first.seconds;  // every trial's pass time, reported as the step's
  ir::Model best_model = std::move(model);
  StepResult best = std::move(first);
  size_t best_kept = 0;
  double best_drop = first_drop;
  auto attempt = [&](size_t k) {
    Step s = step;
    std::string keep = s.options.count("keep") ? s.options.at("keep") : "";
    for (size_t i = 0; i < k; ++i) keep += (keep.empty() ? "" : ",") + ranked[i];
    s.options["keep"] = keep;
    ir::Model m = input->make();
    StepResult r = run_step(m, s, context, accuracy_data);
    seconds += r.seconds;
    const double d = drop_pp(base_accuracy, r);
    trials.push_back({k, d});
    spdlog::info("  {} layers float: accuracy drop {:.2f} pp", k, d);
    // All layers float is no int8 model at all (the step changed nothing): never a way to pass.
    const bool passes = d <= *max_drop_pp && r.result.unchanged.empty();
    const bool best_passes = best_drop <= *max_drop_pp;
    if ((passes && (!best_passes || k < best_kept)) || (!passes && !best_passes && r.result.unchanged.empty() && d < best_drop)) {
      best_model = std::move(m);
      best = std::move(r);
      best_kept = k;
      best_drop = d;
    }
    return passes;
  };
  // Doubling until the budget holds, then bisection between the last failure and that success;
  // at least one layer stays int8.
  const size_t most = ranked.empty() ? 0 : ranked.size() - 1;
  size_t failed = 0, held = 0;
  for (size_t k = 1; k <= most; k = std::min(k * 2, most)) {
    if (attempt(k)) {
      held = k;
      break;
    }
    failed = k;
    if (k == most) break;
  }
  while (held > 0 && held - failed > 1) {
    const size_t mid = failed + (held - failed) / 2;
    (attempt(mid) ? held : failed) = mid;
  }

  model = std::move(best_model);
  best.seconds = seconds;
  std::vector<std::string> kept(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(best_kept));
  nlohmann::json tried = nlohmann::json::array();
  for (const Trial& t : trials) tried.push_back({{"float_layers", t.kept}, {"accuracy_drop_pp", t.drop}});
  best.result.details["accuracy_fallback"] = {{"max_drop_pp", *max_drop_pp}, {"float_layers", kept}, {"trials", tried},
                                              {"met", best_drop <= *max_drop_pp}};
  std::string names;
  for (const std::string& k : kept) names += (names.empty() ? "" : ", ") + k;
  best.result.notes.push_back(
      best_drop <= *max_drop_pp
          ? format("%zu of %zu int8 layers left float to stay within the %.2f pp accuracy budget (drop %.2f pp, was %.2f): %s",
                   kept.size(), ranked.size(), *max_drop_pp, best_drop, first_drop, names.c_str())
          : format("the %.2f pp accuracy budget is not met with up to all but one int8 layer left float (their "
                   "activations stay int8): the smallest drop was %.2f pp, with %zu of %zu layers float",
                   *max_drop_pp, best_drop, kept.size(), ranked.size()));
  return best;
}

}  // namespace nncompress::pipeline
