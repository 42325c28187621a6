#pragma once
// quant.mixed: mixed-precision weights. Every Conv/Gemm/MatMul weight gets its own bit width
// (from the candidate widths, 2..8), chosen to minimize the summed sensitivity (the KL divergence
// each layer causes when quantized alone to that width, measured on calibration data) under a
// size budget: an average bit width over the quantized weights, or a byte budget for the encoded
// weights (codes plus float32 scales). The allocation is exact (bit_allocation.h), not greedy.
// Weights are symmetric uniform per output channel (uniform_weights.h); with training data they
// are fine-tuned with the quantizer in the forward pass (straight-through gradients). 8-bit layers
// are stored as int8 DequantizeLinear, narrower ones as packed bit planes (packed_weights.h).
// A single candidate width gives uniform quantization through the same path.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/passes/sensitivity.h"
#include "nncompress/train/trainer.h"

namespace nncompress::passes {

struct MixedOptions {
  int min_bits = 2, max_bits = 8;
  std::optional<double> average_bits;  // budget: mean bits per quantized weight
  std::optional<int64_t> max_bytes;    // budget: encoded bytes of the quantized weights
  std::vector<std::string> keep;       // node names left in float
  // Store every layer through DequantizeLinear, INT4 up to 4 bits and INT8 above, raising the
  // model to opset 21 (for runtimes with int4 support) instead of packed bit planes.
  bool int4_qdq = false;
  SensitivityOptions sensitivity;
  train::TrainOptions train = train::no_training();
};

struct MixedLayer {
  std::string node, op, weight;
  int64_t elements = 0, channels = 0;
  int bits = 0;
  std::map<int, double> kl_by_bits;  // the sensitivity measurements behind the choice
  double rms_error = 0;              // of the final weights against their float values
  // Deployment sizes: fixed-width codes plus float32 scales; Huffman-coded codes plus scales
  // and a code-length byte per code in use.
  int64_t encoded_bytes = 0, huffman_bytes = 0;
};

struct MixedResult {
  std::vector<MixedLayer> layers;
  int64_t samples = 0;            // calibration samples the sensitivity was measured on
  double average_bits = 0;        // over the quantized weights
  double predicted_kl = 0;        // the allocation's summed sensitivity
  int64_t budget = 0;             // in the allocation's unit (bits for average_bits, else bytes)
  int64_t frontier_peak = 0;      // size of the exact search's largest Pareto frontier
  std::vector<train::TrainResult> training;
};

MixedResult quantize_mixed(ir::Model& model, const data::Dataset& calibration, const data::Dataset* train_data,
                           const data::Dataset* val_data, const MixedOptions& options);

}  // namespace nncompress::passes
