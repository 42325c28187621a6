#pragma once
// Sub-8-bit weights stored compactly with standard ONNX ops, so the file really shrinks and any
// runtime loads it. A b-bit code tensor of n elements is kept as b bit planes, a uint8
// initializer [b, ceil(n/8), 1] (bit i of byte k of plane j is bit j of code 8k + i), and decoded
// by: BitShift (RIGHT by 0..7, broadcast) -> Cast(float) -> Mod 2 -> MatMul with [1, 2, 4, ...]
// -> Slice -> Reshape. All inputs are constants, so ONNX Runtime folds the decoding away when it
// loads the model. Needs opset 11 (BitShift).
#include <ATen/core/Tensor.h>

#include <string>

#include "nncompress/ir/graph.h"
#include "nncompress/passes/quant/uniform_weights.h"

namespace nncompress::passes {

// Adds the planes of `codes` (integers in [0, 2^bits), any shape) and the nodes that decode
// them; returns the value holding the codes as float32 in `codes`' shape.
ir::Value* add_packed_codes(ir::Graph& graph, const std::string& base, const at::Tensor& codes, int bits);

// Replaces the float weight read by `consumer`'s input 1, when it has at most 256 distinct
// values (e.g. power-of-two or weight-shared codes, pruned zeros included), with packed indices
// into a float32 codebook of those values, read through Gather. Returns the bits per index, or 0
// when the weight has more values (nothing changed). Call graph.sort_topologically() after.
int store_codebook_weight(ir::Graph& graph, ir::Node* consumer);

// The bits per code of a value computed from packed codes (found by walking up to the BitShift
// that reads the planes), or 0 when it is not.
int packed_bits(const ir::Value& value);

// How store_uniform_weight writes codes.
enum class UniformStorage {
  BitPlanes,             // every width as packed bit planes (opset 11-12: no per-channel DequantizeLinear)
  Int8DequantizeLinear,  // 8 bits as an INT8 initializer read through DequantizeLinear (opset >= 13),
                         // fewer as packed bit planes shifted and scaled by Sub and Mul
  Int4DequantizeLinear,  // DequantizeLinear only: INT4 initializers up to 4 bits, INT8 above (opset 21)
};

// Replaces the float weight read by `consumer`'s input 1 with `q`, stored as `storage` says. The
// old initializer is removed when nothing else reads it. Call graph.sort_topologically() after
// the last replacement.
void store_uniform_weight(ir::Graph& graph, ir::Node* consumer, const UniformWeights& q, UniformStorage storage);

}  // namespace nncompress::passes
