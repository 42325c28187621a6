#include "nncompress/eval/evaluate.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "nncompress/core/error.h"
#include "nncompress/dist/process_group.h"

namespace nncompress::eval {

namespace {

// Logits [B, classes] of the first output for one prepared batch.
at::Tensor logits(const runtime::Executor& model, const std::vector<at::Tensor>& batch) {
  at::NoGradGuard no_grad;  // also lets the executor keep convolutions in the blocked layout
  at::Tensor out = model.run(batch).at(0);
  if (out.dim() != 2) out = out.reshape({out.size(0), -1});
  return out.to(at::kFloat);
}

// Calls f(prepared inputs, labels or undefined) for each batch, and times the run into `r`:
// seconds, the first batch's, and the steady throughput after it.
template <typename F>
void for_each_batch(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options, EvalResult& r,
                    F f) {
  using Clock = std::chrono::steady_clock;
  const int64_t n = data.size(), step = std::max<int64_t>(1, options.batch);
  const auto start_time = Clock::now();
  auto first_done = start_time;
  for (int64_t start = 0; start < n; start += step) {
    const int64_t len = std::min(step, n - start);
    const std::vector<at::Tensor> batch = data::prepare_inputs(data, start, len, model.inputs(), options.preprocess);
    f(batch, data.has_labels() ? data.y.narrow(0, start, len) : at::Tensor());
    if (start == 0) first_done = Clock::now();
    if (options.progress) options.progress(start + len, n);
  }
  const auto end = Clock::now();
  r.seconds = std::chrono::duration<double>(end - start_time).count();
  r.first_batch_seconds = std::chrono::duration<double>(first_done - start_time).count();
  const double steady = std::chrono::duration<double>(end - first_done).count();
  const int64_t after_first = n - std::min(n, step);
  r.steady_samples_per_second = after_first > 0 && steady > 0 ? static_cast<double>(after_first) / steady : 0;
}

int64_t correct_in_top(const at::Tensor& scores, const at::Tensor& labels, int64_t k) {
  k = std::min<int64_t>(k, scores.size(1));
  const at::Tensor top = std::get<1>(scores.topk(k, 1));
  return top.eq(labels.unsqueeze(1)).any(1).sum().item<int64_t>();
}

}  // namespace

bool is_class_scores(at::IntArrayRef output_shape) { return output_shape.size() == 2 && output_shape[1] >= 2; }

void check_label_range(const at::Tensor& labels, int64_t classes) {
  if (!labels.defined() || labels.numel() == 0) return;
  const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
  if (lo < 0 || hi >= classes)
    throw bad_input("label " + std::to_string(lo < 0 ? lo : hi) + " is not a class of the model (its output has " +
                    std::to_string(classes) + " classes: labels 0.." + std::to_string(classes - 1) + ")");
}

namespace {

// The detections of the model's first output over the dataset, and their mAP when it has boxes.
EvalResult evaluate_detector(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options) {
  EvalResult r;
  std::vector<Detection> detections;
  for_each_batch(model, data, options, r, [&](const std::vector<at::Tensor>& batch, const at::Tensor&) {
    at::NoGradGuard no_grad;
    const at::Tensor& image = batch.at(0);
    if (image.dim() != 4)
      throw bad_input("a detector's first input must be images [batch, channels, height, width], found " +
                      c10::str(image.sizes()));
    const Anchors anchors = anchor_points(image.size(2), image.size(3), options.detection->head);
    const DecodedHead decoded = decode_head(model.run(batch).at(0), anchors, options.detection->head);
    const std::vector<Detection> found = select_detections(decoded, r.samples, options.detection->nms);
    detections.insert(detections.end(), found.begin(), found.end());
    r.samples += image.size(0);
  });
  if (data.has_boxes()) r.map = mean_average_precision(detections, data.boxes);
  return r;
}

// Samples whose label is among the model's top 1 and top 5 scores.
struct Hits {
  int64_t top1 = 0, top5 = 0;
};

// The hits of the model's first output over all of `data`, in this process; `r` gets the samples
// and the timing.
Hits score(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options, EvalResult& r) {
  Hits hits;
  for_each_batch(model, data, options, r, [&](const std::vector<at::Tensor>& batch, const at::Tensor& labels) {
    const at::Tensor scores = logits(model, batch);
    r.samples += scores.size(0);
    if (labels.defined()) {
      check_label_range(labels, scores.size(1));
      hits.top1 += correct_in_top(scores, labels, 1);
      hits.top5 += correct_in_top(scores, labels, 5);
    }
  });
  return hits;
}

}  // namespace

EvalResult evaluate(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options) {
  if (options.detection) return evaluate_detector(model, data, options);
  // Data-parallel ranks (every rank calls this with the same data) each score their share of
  // labeled data and add up the counts. Without labels there is nothing to add up, and a
  // detector's mAP does not add up: every rank runs all of it.
  EvalResult r;
  Hits hits;
  const int64_t ranks = dist::world_size();
  if (ranks > 1 && data.has_labels() && data.size() >= ranks) {
    const int64_t n = data.size(), first = n * dist::rank() / ranks, count = n * (dist::rank() + 1) / ranks - first;
    hits = score(model, data::sample_range(data, first, count), options, r);
    std::vector<at::Tensor> sums = {at::tensor({hits.top1, hits.top5, r.samples}, at::kLong)};
    dist::all_reduce_sum(sums);
    const int64_t* total = sums[0].data_ptr<int64_t>();
    hits = {total[0], total[1]};
    r.steady_samples_per_second *= static_cast<double>(total[2]) / static_cast<double>(count);  // every rank at this rank's pace
    r.samples = total[2];
  } else {
    hits = score(model, data, options, r);
  }
  if (data.has_labels() && r.samples) {
    r.top1 = static_cast<double>(hits.top1) / r.samples;
    r.top5 = static_cast<double>(hits.top5) / r.samples;
  }
  return r;
}

Comparison compare(const runtime::Executor& base, const runtime::Executor& candidate, const data::Dataset& data,
                   const EvalOptions& options) {
  if (base.outputs().size() != candidate.outputs().size())
    throw bad_input("the models have " + std::to_string(base.outputs().size()) + " and " +
                    std::to_string(candidate.outputs().size()) + " outputs");
  Comparison c;
  struct Sums {
    double signal = 0, noise = 0, cosine = 0, abs_diff = 0;
    int64_t elements = 0, agree = 0;
  };
  std::vector<Sums> sums(base.outputs().size());
  for (size_t i = 0; i < base.outputs().size(); ++i) {
    OutputFidelity f;
    f.name = base.outputs()[i]->name();
    c.outputs.push_back(f);
  }
  int64_t base_ok = 0, cand_ok = 0;
  EvalResult timing;  // not reported
  for_each_batch(base, data, options, timing, [&](const std::vector<at::Tensor>& batch, const at::Tensor& labels) {
    at::NoGradGuard no_grad;
    const std::vector<at::Tensor> a_all = base.run(batch), b_all = candidate.run(batch);
    const int64_t n = batch.at(0).size(0);
    for (size_t i = 0; i < a_all.size(); ++i) {
      if (a_all[i].sizes() != b_all[i].sizes())
        throw bad_input("output '" + c.outputs[i].name + "' differs in shape: " + c10::str(a_all[i].sizes()) + " and " +
                        c10::str(b_all[i].sizes()));
      const at::Tensor a = a_all[i].to(at::kDouble).reshape({n, -1}), b = b_all[i].to(at::kDouble).reshape({n, -1});
      OutputFidelity& f = c.outputs[i];
      Sums& s = sums[i];
      f.shape = a_all[i].sizes().vec();
      const at::Tensor diff = a - b;
      s.signal += a.pow(2).sum().item<double>();
      s.noise += diff.pow(2).sum().item<double>();
      s.abs_diff += diff.abs().sum().item<double>();
      s.elements += a.numel();
      f.max_abs_diff = std::max(f.max_abs_diff, a.numel() ? diff.abs().max().item<double>() : 0.0);
      // Cosine per sample; two all-zero outputs are identical (1), one all-zero is orthogonal (0).
      const at::Tensor na = a.norm(2, 1), nb = b.norm(2, 1);
      const at::Tensor cos = (a * b).sum(1) / (na * nb).clamp_min(1e-300);
      s.cosine += at::where((na == 0) & (nb == 0), at::ones_like(cos), cos).sum().item<double>();
      if (is_class_scores(a_all[i].sizes())) {
        const at::Tensor pa = a.argmax(1), pb = b.argmax(1);
        s.agree += pa.eq(pb).sum().item<int64_t>();
        if (i == 0 && labels.defined()) {
          check_label_range(labels, a.size(1));
          base_ok += pa.eq(labels).sum().item<int64_t>();
          cand_ok += pb.eq(labels).sum().item<int64_t>();
        }
      }
    }
    c.samples += n;
  });
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    OutputFidelity& f = c.outputs[i];
    const Sums& s = sums[i];
    if (!c.samples) continue;
    f.cosine = s.cosine / c.samples;
    f.snr_db = s.noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(s.signal / s.noise);
    f.mean_abs_diff = s.elements ? s.abs_diff / s.elements : 0;
    if (is_class_scores(f.shape)) f.agreement = static_cast<double>(s.agree) / c.samples;
  }
  if (data.has_labels() && c.samples && c.outputs.front().agreement) {
    c.base_top1 = static_cast<double>(base_ok) / c.samples;
    c.candidate_top1 = static_cast<double>(cand_ok) / c.samples;
  }
  return c;
}

double Comparison::min_cosine() const {
  double m = 1;
  for (const OutputFidelity& f : outputs) m = std::min(m, f.cosine);
  return m;
}

double Comparison::min_snr_db() const {
  double m = std::numeric_limits<double>::infinity();
  for (const OutputFidelity& f : outputs) m = std::min(m, f.snr_db);
  return m;
}

}  // namespace nncompress::eval
