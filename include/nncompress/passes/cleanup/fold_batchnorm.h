#pragma once
// Folds inference-mode BatchNormalization into the Conv before it: W' = W * g / sqrt(var + eps)
// per output channel, b' = (b - mean) * g / sqrt(var + eps) + beta. Quantization runs this first so
// the weights it quantizes are the weights that run. Only folds when the Conv's output feeds that
// BatchNormalization alone and the BatchNormalization's output is not a graph output (its name
// would change).
#include <string>
#include <vector>

#include "nncompress/ir/model.h"

namespace nncompress::passes {

// Returns the number of BatchNormalization nodes folded.
int fold_batchnorm(ir::Graph& graph);

// Folds Mul and Add by a constant per output channel (a scalar or [C, 1, 1]) right after a Conv
// into its weight and bias, under the same conditions; repeated, so Conv -> Mul -> Add chains
// (PP-LCNetV3's learnable affine blocks) fold whole. Returns how many nodes were folded.
int fold_affine_into_conv(ir::Graph& graph);

// A HardSigmoid that alone reads a Conv's output (squeeze-excitation gates):
// HardSigmoid(conv(x)) = clip(alpha conv(x) + beta, 0, 1), so alpha and beta are folded into the
// Conv and the HardSigmoid becomes Clip(0, 1), which int8 quantization absorbs into the Conv's
// uint8 output (no integer Add for the gate). Same conditions as above; not when the HardSigmoid
// or the Conv is named in `keep`. Returns how many.
int fold_hard_sigmoid_into_conv(ir::Model& model, const std::vector<std::string>& keep);

}  // namespace nncompress::passes
