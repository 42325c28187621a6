#pragma once
// Hard-swish in one form: Mul(x, HardSigmoid(x, alpha=1/6, beta=1/2)).
// Exporters write hard-swish as a chain — x + 3 -> Clip(0, 6) -> * x -> / 6 (paddle2onnx, tf2onnx,
// torch before opset 14), the last two in either order, / 6 also as * (1/6) — or as one HardSwish
// node (opset 14). int8 quantization needs the form above: its HardSigmoid and Mul map onto
// ONNX Runtime's integer Add and Mul (passes/quant/int8.h), where the chain would run in float
// between a DequantizeLinear and a QuantizeLinear. The result equals the original up to float
// rounding (x/6 + 1/2 instead of (x + 3)/6).
#include "nncompress/ir/model.h"

namespace nncompress::passes {

// Rewrites every hard-swish chain and HardSwish node whose output is not a graph output. Returns
// how many.
int expand_hard_swish(ir::Model& model);

}  // namespace nncompress::passes
