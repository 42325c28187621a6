#pragma once
// Runs a recipe's steps on a model and measures it before and after each step: params, non-zero
// weights, MACs, per-layer channels and weight bits, accuracy on the validation data.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/ir/model.h"
#include "nncompress/passes/pass.h"
#include "nncompress/pipeline/recipe.h"

namespace nncompress::pipeline {

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
  // Every initializer as stored, but float tensors of rank >= 2 in CSR, or with 4-bit relative
  // indices between non-zeros (what sparse storage would take).
  int64_t csr_bytes = 0, relative_index_bytes = 0;
  std::optional<double> top1;             // a classifier's, on labeled data
  std::optional<double> map50, map50_95;  // a detector's, on data with boxes
  std::vector<LayerStats> layers;
  // What the accuracy gate compares: mAP@0.5 for a detector, else top-1.
  std::optional<double> accuracy() const { return map50 ? map50 : top1; }
};

struct StepResult {
  Step step;
  double seconds = 0;  // the pass and its fine-tuning, not the measuring
  Measurement after;
  passes::PassResult result;  // summary, details, per-layer table
};

// The model's size and cost, and its top-1 on `accuracy_data` when that has labels (its mAP when
// the context says the model is a detector and the data has boxes; preprocessed and batched as
// the context says).
Measurement measure(const ir::Model& model, const data::Dataset* accuracy_data, const passes::PassContext& context);

// Applies one (validated) step in place and measures the model after it.
StepResult run_step(ir::Model& model, const Step& step, const passes::PassContext& context,
                    const data::Dataset* accuracy_data);

}  // namespace nncompress::pipeline
