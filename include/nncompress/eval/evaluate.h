#pragma once
// Accuracy and agreement of models on a dataset, computed batch by batch.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/eval/detection.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::eval {

// How to read a detector's first output (a raw head, detection.h).
struct DetectionOptions {
  DetectionHead head;
  NmsOptions nms;
};

struct EvalOptions {
  int64_t batch = 64;
  data::Preprocess preprocess;
  std::optional<DetectionOptions> detection;  // set: the model is a detector
  // Called after each batch with (samples done, samples total).
  std::function<void(int64_t, int64_t)> progress;
};

struct EvalResult {
  int64_t samples = 0;
  std::optional<double> top1, top5;  // fractions in [0, 1], when the dataset has labels
  std::optional<MeanAveragePrecision> map;  // of a detector, when the dataset has boxes
  double seconds = 0;                // model execution time, data preparation included
  double samples_per_second() const { return seconds > 0 ? samples / seconds : 0; }
  // The first batch alone (kernel and oneDNN primitive creation, first allocations), and the
  // throughput of the batches after it: the steady state a deployed model sees (0 with one batch).
  double first_batch_seconds = 0;
  double steady_samples_per_second = 0;
};

// Top-1/top-5 of the model's first output (logits [N, classes]); with options.detection, the mAP of
// its detections instead. Data-parallel ranks (dist/process_group.h) each score their share of
// labeled data and sum the counts; `seconds` is this rank's.
EvalResult evaluate(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options);

// True when `data` holds what the task is measured against: boxes for a detector (`detection`
// set), else labels.
inline bool has_truths(const data::Dataset& data, const std::optional<DetectionOptions>& detection) {
  return detection ? data.has_boxes() : data.has_labels();
}

// True for an output shaped as class scores, [N, C] with C >= 2: the outputs where top-1 (and
// agreement on it) means something.
bool is_class_scores(at::IntArrayRef output_shape);

// Labels must index the model's `classes` output scores: bad_input naming the first one outside
// [0, classes) (a torch "Target 11 is out of bounds" or a silent 0% top-1 otherwise).
void check_label_range(const at::Tensor& labels, int64_t classes);

// How closely one output of a candidate model follows the base model's, over all samples.
struct OutputFidelity {
  std::string name;
  std::vector<int64_t> shape;  // of one batch's output, batch first
  double cosine = 1;           // of the flattened outputs, per sample, averaged
  double snr_db = 0;           // 10 log10(sum base^2 / sum (base - candidate)^2); infinity when equal
  double max_abs_diff = 0, mean_abs_diff = 0;
  // Share of samples with the same top-1 class: only for class scores ([N, C], C >= 2).
  std::optional<double> agreement;
};

struct Comparison {
  int64_t samples = 0;
  std::vector<OutputFidelity> outputs;  // one per model output, in order
  std::optional<double> base_top1, candidate_top1;  // of the first output, when labels exist
  // The worst output's numbers, for gates over every output.
  double min_cosine() const;
  double min_snr_db() const;
};

// Runs both models on the same batches and compares every output (the models must have the
// same outputs in number and shape).
Comparison compare(const runtime::Executor& base, const runtime::Executor& candidate, const data::Dataset& data,
                   const EvalOptions& options);

}  // namespace nncompress::eval
