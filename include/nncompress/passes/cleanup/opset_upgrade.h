#pragma once
// Raises a model's default-domain opset (e.g. to 13 for per-channel int8, 21 for INT4
// DequantizeLinear). Below opset 13 ONNX's own version converter does the work (adapters up to 16);
// from 13 on our rules do: ops whose form changed are rewritten (Reduce* take their axes as an input
// from opset 18); ops whose meaning changed in ways we do not convert are refused by name, as are
// models with subgraphs (If/Loop/Scan). The IR version rises to what the opset needs.
#include <cstdint>

#include "nncompress/ir/model.h"

namespace nncompress::passes {

void upgrade_opset(ir::Model& model, int64_t target);
// Up or down: down (and up to 16) through ONNX's converter, beyond through upgrade_opset.
void convert_opset(ir::Model& model, int64_t target);

}  // namespace nncompress::passes
