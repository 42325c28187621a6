#pragma once
// Pads the channels of depthwise convolutions to a multiple of N with channels that carry zeros,
// for int8: ONNX Runtime's int8 depthwise convolution has its vectorized kernel only for channel
// counts that are multiples of 16 on x86 (8 on ARM; MLAS's MlasConvSymPackWSize), and runs other
// counts through a generic kernel. In PP-OCR's direction classifier (depthwise convolutions of 8
// to 200 channels) its 200-channel 5x5 layers took 90 us there and 29-34 us padded to 208, and the
// int8 model went from 0.8x its float model's speed to 1.02-1.11x (docs/benchmarks.md).
//
// The depthwise convolution's whole channel group (analysis/channel_groups.h) widens: producers
// get zero weight rows and zero biases, the depthwise convolution zero filters, and every tensor
// indexed by the channels (the next layers' input weights, squeeze-excitation weights, BatchNorm
// parameters, per-channel constants) zeros, except BatchNorm variances and divisors, which get
// ones. A new channel then holds 0, or a constant after an activation such as a gate, and every
// layer that mixes channels reads it with weight 0: the outputs do not change. They are checked:
// the model runs on one calibration sample before and after, and if any output differs by more
// than float rounding the model is restored and nothing is padded.
#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"

namespace nncompress::passes {

struct DepthwisePadding {
  int groups = 0;              // channel groups padded
  int64_t channels_added = 0;  // over all of them
  std::string restored;        // why the padding was undone (outputs changed), or empty
};

// Groups are left as they are when a node named in `keep` produces or depthwise-convolves them, or
// when they are not plain (split, sliced, attention heads, flattened, read by a grouped
// convolution that is not depthwise, fed to a depthwise convolution with other channels).
DepthwisePadding pad_depthwise_channels(ir::Model& model, int64_t multiple, const std::vector<std::string>& keep,
                                        const data::Dataset& check_data, const data::Preprocess& preprocess);

}  // namespace nncompress::passes
