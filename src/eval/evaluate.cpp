#include "nncompress/eval/evaluate.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "nncompress/core/error.h"

namespace nncompress::eval {

namespace {

const ir::Value& single_input(const runtime::Executor& model) {
  if (model.inputs().size() != 1)
    throw bad_input("evaluation needs a model with one input; this one has " + std::to_string(model.inputs().size()));
  return *model.inputs()[0];
}

// Logits [B, classes] of the first output for one prepared batch.
at::Tensor logits(const runtime::Executor& model, const at::Tensor& batch) {
  at::NoGradGuard no_grad;  // also lets the executor keep convolutions in the blocked layout
  at::Tensor out = model.run({batch}).at(0);
  if (out.dim() != 2) out = out.reshape({out.size(0), -1});
  return out.to(at::kFloat);
}

// Calls f(prepared batch, labels or undefined) for each batch.
template <typename F>
void for_each_batch(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options, F f) {
  const ir::Value& input = single_input(model);
  const int64_t n = data.size(), step = std::max<int64_t>(1, options.batch);
  for (int64_t start = 0; start < n; start += step) {
    const int64_t len = std::min(step, n - start);
    const at::Tensor batch = data::prepare_batch(data.x.narrow(0, start, len), input.name(), input.type, options.preprocess);
    f(batch, data.has_labels() ? data.y.narrow(0, start, len) : at::Tensor());
    if (options.progress) options.progress(start + len, n);
  }
}

int64_t correct_in_top(const at::Tensor& scores, const at::Tensor& labels, int64_t k) {
  k = std::min<int64_t>(k, scores.size(1));
  const at::Tensor top = std::get<1>(scores.topk(k, 1));
  return top.eq(labels.unsqueeze(1)).any(1).sum().item<int64_t>();
}

}  // namespace

EvalResult evaluate(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options) {
  EvalResult r;
  int64_t top1 = 0, top5 = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for_each_batch(model, data, options, [&](const at::Tensor& batch, const at::Tensor& labels) {
    const at::Tensor scores = logits(model, batch);
    r.samples += scores.size(0);
    if (labels.defined()) {
      top1 += correct_in_top(scores, labels, 1);
      top5 += correct_in_top(scores, labels, 5);
    }
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (data.has_labels() && r.samples) {
    r.top1 = static_cast<double>(top1) / r.samples;
    r.top5 = static_cast<double>(top5) / r.samples;
  }
  return r;
}

Comparison compare(const runtime::Executor& base, const runtime::Executor& candidate, const data::Dataset& data,
                   const EvalOptions& options) {
  Comparison c;
  int64_t agree = 0, base_ok = 0, cand_ok = 0;
  double signal = 0, noise = 0;
  for_each_batch(base, data, options, [&](const at::Tensor& batch, const at::Tensor& labels) {
    const at::Tensor a = logits(base, batch), b = logits(candidate, batch);
    if (a.sizes() != b.sizes()) throw bad_input("the models' outputs differ in shape");
    const at::Tensor pa = a.argmax(1), pb = b.argmax(1);
    c.samples += a.size(0);
    agree += pa.eq(pb).sum().item<int64_t>();
    if (labels.defined()) {
      base_ok += pa.eq(labels).sum().item<int64_t>();
      cand_ok += pb.eq(labels).sum().item<int64_t>();
    }
    const at::Tensor diff = (a - b).to(at::kDouble);
    signal += a.to(at::kDouble).pow(2).sum().item<double>();
    noise += diff.pow(2).sum().item<double>();
    c.max_abs_diff = std::max(c.max_abs_diff, diff.abs().max().item<double>());
  });
  if (c.samples) c.agreement = static_cast<double>(agree) / c.samples;
  if (data.has_labels() && c.samples) {
    c.base_top1 = static_cast<double>(base_ok) / c.samples;
    c.candidate_top1 = static_cast<double>(cand_ok) / c.samples;
  }
  c.snr_db = noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
  return c;
}

}  // namespace nncompress::eval
