#pragma once
// Runs a recipe's steps on a model and measures it before and after each step: params, non-zero
// weights, MACs, per-layer channels and weight bits, accuracy on the validation data.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/pipeline/recipe.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::train {
struct EpochStats;
}

namespace nncompress::pipeline {

struct RunContext {
  const data::Dataset* train = nullptr;  // --data: training and calibration
  const data::Dataset* val = nullptr;    // accuracy (with labels); nullptr: not measured
  data::Preprocess preprocess;
  int64_t batch = 64;
  uint64_t seed = 0;
  const runtime::Executor* teacher = nullptr;  // the input model, for `distill: true`
  std::function<void(int, int64_t, int64_t, double, double)> progress;
  std::function<void(const train::EpochStats&)> epoch_done;
};

struct LayerStats {
  std::string node, op;
  int64_t channels = 0, params = 0, nonzeros = 0, macs = 0;
  int bits = 32;  // of the stored weight
  // The weight as dense float32, and encoded for deployment: `bits` per weight, or per non-zero
  // plus 4-bit relative indices (Deep Compression) when that is smaller. Scales, codebooks and
  // entropy coding are not counted (quantize --json has them per method).
  int64_t dense_bytes = 0, encoded_bytes = 0;
};

struct Measurement {
  int64_t params = 0, nonzeros = 0, macs = 0;
  int64_t weights_dense_bytes = 0, weights_encoded_bytes = 0;  // sums over the layers
  uint64_t initializer_bytes = 0;
  std::optional<double> top1;
  std::vector<LayerStats> layers;
};

struct StepResult {
  Step step;
  double seconds = 0;
  Measurement after;
  std::string summary;  // one line on what the pass did
};

Measurement measure(const ir::Model& model, const RunContext& context);

// Applies one step in place.
StepResult run_step(ir::Model& model, const Step& step, const RunContext& context);

}  // namespace nncompress::pipeline
