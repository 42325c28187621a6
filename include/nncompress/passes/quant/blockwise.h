#pragma once
// Block-wise low-bit weights for weight-only quantization: a [K, N] weight (K the reduction
// dimension) cut into blocks of `block` consecutive rows per column, each block with its own
// scale and, unless symmetric, zero point — the layout of ONNX's blocked DequantizeLinear
// (opset 21, axis 0) and of ONNX Runtime's MatMulNBits.
//   rtn:  each block rounded to its nearest grid point.
//   gptq: GPTQ (Frantar et al., ICLR 2023): rows quantized one at a time, the error of each
//         spread over the rows not yet quantized through the inverse Hessian of the layer's
//         inputs (H = 2 X^T X), block by block with lazy updates (Algorithm 1).
// The grid follows GPTQ's quantizer: [min(x, 0), max(x, 0)] over 2^bits levels; symmetric puts
// the zero point at the middle code (2^(bits-1)).
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace nncompress::passes {

struct BlockwiseOptions {
  int bits = 4;
  int64_t block = 32;
  bool symmetric = false;
};

struct BlockwiseWeights {
  at::Tensor codes;        // [K, N] uint8 in [0, 2^bits)
  at::Tensor scales;       // [ceil(K / block), N] float
  at::Tensor zero_points;  // [ceil(K / block), N] uint8 (the middle code everywhere when symmetric)
  // scales * (codes - zero_points), block by block: [K, N] float.
  at::Tensor dequantized(int64_t block) const;
};

BlockwiseWeights quantize_rtn(const at::Tensor& weight, const BlockwiseOptions& options);

// `xtx`: the sum of x^T x over `rows` input rows ([K, K], passes/quant/calibration.h). `damp`:
// GPTQ's dampening, a fraction of the mean diagonal added to it. Throws bad_input when the
// dampened Hessian is still not positive definite.
BlockwiseWeights quantize_gptq(const at::Tensor& weight, const at::Tensor& xtx, int64_t rows,
                               const BlockwiseOptions& options, double damp);

}  // namespace nncompress::passes
