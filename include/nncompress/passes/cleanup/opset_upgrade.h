#pragma once
// Raises a model's default-domain opset (e.g. to 21, for INT4 DequantizeLinear). Ops whose form
// changed on the way are rewritten (Reduce* take their axes as an input from opset 18); ops whose
// meaning changed in ways we do not convert are refused by name; models older than opset 13, or
// with subgraphs (If/Loop/Scan), are refused. The IR version rises to what the opset needs.
#include <cstdint>

#include "nncompress/ir/model.h"

namespace nncompress::passes {

void upgrade_opset(ir::Model& model, int64_t target);

}  // namespace nncompress::passes
