#pragma once
// Pads channels with channels that carry zeros where ONNX Runtime's int8 convolutions need
// particular counts for their vectorized kernels (MLAS's MlasConvSymPackWSize, which also needs
// symmetric weights, as ours are); other counts run a generic kernel:
//  - Depthwise convolutions: channels a multiple of 16 on x86 (8 on ARM). In PP-OCR's direction
//    classifier (depthwise convolutions of 8 to 200 channels) its 200-channel 5x5 layers took 90 us
//    there and 29-34 us padded to 208, and the int8 model went from 0.8x its float model's speed
//    to 1.02-1.11x (docs/benchmarks.md).
//  - Convolutions reading a model input (an image's 3 channels): input channels a multiple of 4
//    and at least 16 outputs (a multiple of 8). The input gets a Pad node with zero channels and
//    the weight zero columns, when that adds at most a third (3 -> 4, not a grayscale 1 -> 4); too
//    few outputs are padded like a depthwise group.
//
// A padded channel group (analysis/channel_groups.h) widens as a whole: producers get zero weight
// rows and zero biases, depthwise convolutions zero filters, and every tensor indexed by the
// channels (the next layers' input weights, squeeze-excitation weights, BatchNorm parameters,
// per-channel constants) zeros, except BatchNorm variances and divisors, which get ones. A new
// channel then holds 0, or a constant after an activation such as a gate, and every layer that
// mixes channels reads it with weight 0: the outputs do not change. They are checked: the model
// runs on one calibration sample before and after, and if any output differs by more than float
// rounding the model is restored and nothing is padded.
#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"

namespace nncompress::passes {

struct ChannelPadding {
  int groups = 0;              // channel groups padded
  int64_t channels_added = 0;  // over all of them
  int inputs = 0;              // model inputs padded for the convolution reading them
  std::string restored;        // why the padding was undone (outputs changed), or empty
};

// Depthwise groups are padded to a multiple of `multiple` (0 or 1: nothing is padded). Groups are
// left as they are when a node named in `keep` produces or depthwise-convolves them, or when they
// are not plain (split, sliced, attention heads, flattened, read by a grouped convolution that is
// not depthwise, fed to a depthwise convolution with other channels).
ChannelPadding pad_channels_for_int8(ir::Model& model, int64_t multiple, const std::vector<std::string>& keep,
                                     const data::Dataset& check_data, const data::Preprocess& preprocess);

}  // namespace nncompress::passes
