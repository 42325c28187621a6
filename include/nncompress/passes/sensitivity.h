#pragma once
// Sensitivity analysis: each layer's weights changed alone (quantized to b bits, or pruned to a
// sparsity) while the rest of the model stays as it is, measured on data against the unchanged
// model's outputs. Mixed precision and the `sensitivity` command share these measurements.
// The error measure is the mean KL divergence of the changed model's softmax from the original's
// (no labels needed, and nearly additive over layers for small changes, which is what the exact
// bit allocation sums); top-1 agreement, and top-1 accuracy when there are labels, come along.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/passes/prune/magnitude_pruning.h"

namespace nncompress::passes {

struct SensitivityOptions {
  int64_t batch = 256;
  data::Preprocess preprocess;
  std::function<void(int64_t, int64_t)> progress;  // (measurements done, total)
};

struct SensitivityPoint {
  double setting = 0;  // bits, or sparsity
  double kl = 0;       // mean KL(original || changed) of the softmax outputs, nats
  double agreement = 0;
  std::optional<double> top1;
};

struct LayerSensitivity {
  std::string node, op, weight;
  int64_t elements = 0;
  std::vector<SensitivityPoint> points;  // one per setting, in the order given
};

struct SensitivityResult {
  int64_t samples = 0;
  std::optional<double> base_top1;
  std::vector<LayerSensitivity> layers;
};

// The changed weight for a setting.
using WeightTransform = std::function<at::Tensor(const PrunableWeight&, const at::Tensor& weight, double setting)>;

// Uniform symmetric per-channel quantization to `setting` bits (see uniform_weights.h).
WeightTransform quantize_weights_transform();
// The smallest-magnitude `setting` fraction of the layer's weights set to zero.
WeightTransform prune_weights_transform();

SensitivityResult measure_sensitivity(ir::Model& model, const std::vector<PrunableWeight>& layers,
                                      const std::vector<double>& settings, const WeightTransform& transform,
                                      const data::Dataset& data, const SensitivityOptions& options);

}  // namespace nncompress::passes
