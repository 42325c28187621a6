#pragma once
// Accuracy and agreement of models on a dataset, computed batch by batch.
#include <cstdint>
#include <functional>
#include <optional>

#include "nncompress/data/dataset.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::eval {

struct EvalOptions {
  int64_t batch = 64;
  data::Preprocess preprocess;
  // Called after each batch with (samples done, samples total).
  std::function<void(int64_t, int64_t)> progress;
};

struct EvalResult {
  int64_t samples = 0;
  std::optional<double> top1, top5;  // fractions in [0, 1], when the dataset has labels
  double seconds = 0;                // model execution time, data preparation included
  double samples_per_second() const { return seconds > 0 ? samples / seconds : 0; }
};

// Top-1/top-5 of the model's first output (logits [N, classes]).
EvalResult evaluate(const runtime::Executor& model, const data::Dataset& data, const EvalOptions& options);

struct Comparison {
  int64_t samples = 0;
  double agreement = 0;                          // fraction of samples with the same top-1 class
  std::optional<double> base_top1, candidate_top1;
  double snr_db = 0;                             // 10 log10(sum base^2 / sum (base - candidate)^2)
  double max_abs_diff = 0;
};

// Runs both models on the same batches and compares their first outputs.
Comparison compare(const runtime::Executor& base, const runtime::Executor& candidate, const data::Dataset& data,
                   const EvalOptions& options);

}  // namespace nncompress::eval
