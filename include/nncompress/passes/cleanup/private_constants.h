#pragma once
// Gives every weight-like input its own initializer: inputs that are Identity(initializer)
// (exporters deduplicate equal tensors this way) or initializers shared by several nodes are
// replaced by private copies, and Identity nodes left unused are removed. Passes that rewrite
// weights per node (pruning, quantization) run this first so a change never leaks into another
// node. Numerics are unchanged.
#include "nncompress/ir/graph.h"

namespace nncompress::passes {

// Returns the number of inputs that got a private copy.
int make_constants_private(ir::Graph& graph);

}  // namespace nncompress::passes
