#pragma once
// SmoothQuant (Xiao et al., ICML 2023): before int8 calibration, move the scale of activation
// outliers into the weights. For a LayerNormalization (or the Mul(gamma) -> Add(beta) tail of
// one written out in elementwise ops) whose output X feeds only MatMul/Gemm layers with constant
// weights W, each feature j gets
//   s_j = max|X_j|^alpha / max|W_j,:|^(1 - alpha)
// (max|X_j| over calibration data, max|W_j,:| over every consumer's row j), and
//   X' = X / s  (the LayerNorm's scale and bias divided by s),  W'_j,: = s_j W_j,:
// so the float model computes the same function while X' has flatter ranges per feature.
#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/passes/quant/calibration.h"

namespace nncompress::passes {

struct SmoothQuantResult {
  int norms = 0;   // LayerNormalizations smoothed
  int layers = 0;  // MatMul/Gemm weights scaled
};

SmoothQuantResult smooth_quant(ir::Model& model, const data::Dataset& calibration_data, double alpha,
                               const CalibrationOptions& options);

}  // namespace nncompress::passes
