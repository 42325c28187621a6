#pragma once
// Layers with a weight (Conv, ConvTranspose, Gemm, MatMul: input 1) and the axis of that weight
// that holds the layer's output channels: the one definition pruning, quantization and the
// report's per-layer numbers share.
#include <cstdint>

#include "nncompress/ir/graph.h"

namespace nncompress::analysis {

// Conv, ConvTranspose, Gemm or MatMul of the default ONNX domain.
bool is_weighted_layer(const ir::Node& node);

// The axis of the layer's weight (input 1, of rank `weight_rank`) that holds output channels,
// or -1 when it has none (a batched MatMul).
int64_t output_channel_axis(const ir::Node& node, int64_t weight_rank);
// The same, with the rank of the weight's initializer (0 when it has none).
int64_t output_channel_axis(const ir::Node& node);

}  // namespace nncompress::analysis
