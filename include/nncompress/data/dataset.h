#pragma once
// Datasets for evaluation, calibration and fine-tuning: samples (and labels when known) read
// from .npz, .npy, IDX files or ONNX test-data folders, and the preprocessing that turns raw
// samples into what a model input expects.
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/ir/value_type.h"

namespace nncompress::ir {
class Value;
}

namespace nncompress::data {

struct Dataset {
  at::Tensor x;  // samples along dim 0, as stored (e.g. uint8 images); the first of `inputs`
  // For models with several inputs: arrays keyed by input name (an .npz whose arrays are named
  // after the model's inputs), or by position "#k" (input_k.pb of an ONNX test-data folder whose
  // tensors carry no name). Empty when the dataset is the single array `x`.
  std::vector<std::pair<std::string, at::Tensor>> inputs;
  at::Tensor y;  // int64 labels [N], undefined when the source has none
  // Objects for detection, float [N, K, 5]: (class, x1, y1, x2, y2) in pixels of the sample, K the
  // most objects of an image, rows of class -1 padding; undefined when the source has none.
  at::Tensor boxes;
  std::string source;
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
  bool has_labels() const { return y.defined(); }
  bool has_boxes() const { return boxes.defined(); }
};

// Reads a dataset:
//  - .npz with arrays `x` and optional `y` or `boxes` (or, without `x`, its only array, or arrays
//    named after the model's inputs);
//  - .npy (samples only);
//  - an IDX images file (`*-images-idx3-ubyte[.gz]`) with its labels file found beside it;
//  - an ONNX test-data folder (`input_0.pb`, or `test_data_set_*/input_0.pb` stacked);
//  - images: one file, a folder of them, or a folder of class folders (data/images.h).
// `limit` > 0 keeps the first `limit` samples. Throws bad_input with what was expected and found.
// Images are resampled to `resize` when it is set (other sources with it set are refused).
struct ImageSize {
  int64_t height = 0, width = 0;
  bool set() const { return height > 0 && width > 0; }
};
Dataset load_dataset(const std::string& path, int64_t limit = 0, const ImageSize& resize = {});

// The first `limit` samples (all when there are fewer), sharing storage with `data`.
Dataset first_samples(const Dataset& data, int64_t limit);
// Samples [first, first + count), sharing storage with `data` (a data-parallel rank's share).
Dataset sample_range(const Dataset& data, int64_t first, int64_t count);

struct Preprocess {
  // Multiplies samples; default: 1/255 for uint8 samples, 1 otherwise.
  std::optional<double> scale;
  // Per-channel normalization (x - mean) / std after scaling; empty = none.
  std::vector<double> mean, std;
  // "nchw", "nhwc" (channels last on disk, transposed to channels first) or "auto".
  std::string layout = "auto";
};

// The prepared batch of every model input for the samples `rows` (a 1-D index tensor) of `data`:
// a dataset of one array feeds a model with one input; named arrays feed the inputs of the same
// name (or "#k" the k-th input). Throws bad_input naming what is missing.
std::vector<at::Tensor> prepare_inputs(const Dataset& data, const at::Tensor& rows,
                                       const std::vector<const ir::Value*>& model_inputs, const Preprocess& options);
// The same for the samples [start, start + count).
std::vector<at::Tensor> prepare_inputs(const Dataset& data, int64_t start, int64_t count,
                                       const std::vector<const ir::Value*>& model_inputs, const Preprocess& options);

// Turns raw samples [B, ...] into the float batch `input` expects: scaling, layout, an added
// channel dimension ([B,H,W] -> [B,1,H,W]) and normalization. Throws bad_input naming the expected
// and found shapes when they cannot match.
at::Tensor prepare_batch(const at::Tensor& raw, const std::string& input_name, const ir::ValueType& input_type,
                         const Preprocess& options);

}  // namespace nncompress::data
