#pragma once
// Datasets for evaluation, calibration and fine-tuning: samples (and labels when known) read
// from .npz, .npy, IDX files or ONNX test-data folders, and the preprocessing that turns raw
// samples into what a model input expects.
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "nncompress/ir/value_type.h"

namespace nncompress::data {

struct Dataset {
  at::Tensor x;  // samples along dim 0, as stored (e.g. uint8 images)
  at::Tensor y;  // int64 labels [N], undefined when the source has none
  std::string source;
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
  bool has_labels() const { return y.defined(); }
};

// Reads a dataset:
//  - .npz with arrays `x` and optional `y` (or, without `x`, its only array);
//  - .npy (samples only);
//  - an IDX images file (`*-images-idx3-ubyte[.gz]`) with its labels file found beside it;
//  - an ONNX test-data folder (`input_0.pb`, or `test_data_set_*/input_0.pb` stacked).
// `limit` > 0 keeps the first `limit` samples. Throws bad_input with what was expected and found.
Dataset load_dataset(const std::string& path, int64_t limit = 0);

// The first `limit` samples (all when there are fewer), sharing storage with `data`.
Dataset first_samples(const Dataset& data, int64_t limit);

struct Preprocess {
  // Multiplies samples; default: 1/255 for uint8 samples, 1 otherwise.
  std::optional<double> scale;
  // Per-channel normalization (x - mean) / std after scaling; empty = none.
  std::vector<double> mean, std;
  // "nchw", "nhwc" (channels last on disk, transposed to channels first) or "auto".
  std::string layout = "auto";
};

// Turns raw samples [B, ...] into the float batch `input` expects: scaling, layout, an added
// channel dimension ([B,H,W] -> [B,1,H,W]) and normalization. Throws bad_input naming the expected
// and found shapes when they cannot match.
at::Tensor prepare_batch(const at::Tensor& raw, const std::string& input_name, const ir::ValueType& input_type,
                         const Preprocess& options);

}  // namespace nncompress::data
