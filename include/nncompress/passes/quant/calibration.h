#pragma once
// Activation ranges for post-training quantization, measured by running the float model over
// calibration data. Streaming: a first pass keeps each tensor's min and max, a second (percentile
// and entropy only) fills a fixed-size histogram per tensor, so memory does not grow with the data.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"

namespace nncompress::passes {

struct Range {
  double lo = 0, hi = 0;
};

struct CalibrationOptions {
  // minmax: the observed extremes. percentile: the `percentile`-th and (100 - percentile)-th
  // percentiles. entropy: the clipping threshold whose 8-bit quantized histogram is closest to the
  // observed one in KL divergence (TensorRT's calibration), on |x|. Exact zeros are left out of
  // that histogram: every candidate represents them exactly, and the spike a Relu leaves at 0
  // would otherwise make the narrowest candidate look best. The threshold never clips more than
  // 0.1% of the non-zero values (a guard of ours against spikes of one repeated value).
  std::string method = "minmax";
  double percentile = 99.99;
  int64_t bins = 2048;
  int64_t batch = 64;
  // entropy: the target is symmetric int8 (128 levels per side); otherwise uint8, which has 256
  // levels for a tensor that is never negative.
  bool symmetric = false;
  data::Preprocess preprocess;
  std::function<void(int64_t, int64_t)> progress;  // (samples done, total), per pass
};

// Ranges of the named values (graph inputs or node outputs) over `data`.
std::map<std::string, Range> calibrate(const ir::Model& model, const std::vector<std::string>& tensors,
                                       const data::Dataset& data, const CalibrationOptions& options);

// The sum of x^T x over the rows of a value (every dimension but the last), in float64.
struct Gram {
  at::Tensor xtx;  // [D, D]
  int64_t rows = 0;
};
// Gram matrices of the named values over `data`: the input statistics GPTQ weighs errors by.
std::map<std::string, Gram> gram_matrices(const ir::Model& model, const std::vector<std::string>& tensors,
                                          const data::Dataset& data, const CalibrationOptions& options);

// max |x| per feature (the last axis) of the named values over `data`: SmoothQuant's statistics.
std::map<std::string, at::Tensor> channel_absmax(const ir::Model& model, const std::vector<std::string>& tensors,
                                                 const data::Dataset& data, const CalibrationOptions& options);

// The entropy threshold for a histogram of |x| over [0, bin_width * hist.size()) (exposed for tests).
double entropy_threshold(const std::vector<double>& hist, double bin_width, int64_t levels);

}  // namespace nncompress::passes
