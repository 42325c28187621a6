#pragma once
// quant.focused: focused quantization for sparse CNNs (after Zhao, Gao, Bates, Mullins and Xu,
// NeurIPS 2019). The rules we implement are in docs/quantization.md. Per layer, the non-zero
// weights get a two-component Gaussian mixture; when it is bimodal every weight is recentralized
// to its component's mean and its offset quantized to a signed power of two (times a per-component
// scale), otherwise plain shift quantization (signed powers of two around 0) is used. Pruned zeros
// stay exactly zero. With training data the weights are quantized incrementally (the largest half
// first, then three quarters, ...), the rest fine-tuned in float between steps. The file stores
// each layer as packed indices into its codebook of values (packed_weights.h), or as float32 with
// `packed_storage` off (to keep training the weights afterwards).
#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/train/trainer.h"

namespace nncompress::passes {

struct FocusedOptions {
  int bits = 5;  // per non-zero weight, 3..8, the component bit included
  std::vector<std::string> keep;
  double bimodality = 2.0;  // Ashman's D above which a layer is recentralized
  bool packed_storage = true;  // needs opset 11; older models keep float32 weights
  // Fractions of each layer's weights fixed to their quantized values, one fine-tuning run
  // between steps (with train.epochs each); the last step quantizes all of them.
  std::vector<double> steps = {0.5, 0.75, 0.875};
  // epochs = 0 (the default here): one-shot, no data needed.
  train::TrainOptions train = train::no_training();
};

struct FocusedLayer {
  std::string node, op, weight;
  int bits = 0;
  bool recentralized = false;
  double mean_negative = 0, mean_positive = 0;  // component means (0 for shift quantization)
  double scale = 0;                             // largest power-of-two offset
  int64_t elements = 0, nonzeros = 0;
  int64_t levels = 0;                           // distinct values used by the non-zeros
  double rms_error = 0;                         // of the non-zeros, before fine-tuning
  // Deployment sizes of the non-zeros: relative indices (the best width from 2 to 8 bits) and
  // codes, fixed width or Huffman-coded, plus the quantizer's parameters (means, scales) and, for
  // Huffman, a code-length table.
  int index_bits = 0;  // of the fixed-width encoding
  int64_t fixed_bytes = 0;
  int64_t huffman_bytes = 0;
  int stored_bits = 32;  // bits per weight in the ONNX file (packed codebook index, or float32)
};

struct FocusedResult {
  std::vector<FocusedLayer> layers;
  int64_t other_parameter_bytes = 0;  // every other initializer (biases, BatchNorm), as stored
  std::vector<train::TrainResult> training;  // one per incremental step
};

FocusedResult quantize_focused(ir::Model& model, const data::Dataset* train_data, const data::Dataset* val_data,
                               const FocusedOptions& options);

}  // namespace nncompress::passes
