#pragma once
// Refuses, right after loading, what would crash or mislead the libraries a model is handed to:
// ONNX's shape inference divides by strides and trusts attribute types, LibTorch aborts on
// negative pads or zero groups, and element counts past int64 overflow our own arithmetic.
// Every refusal is a bad-input error naming the node (or value) and the reason.
#include "nncompress/ir/model.h"

namespace nncompress::onnxio {

// Throws bad_input on the first problem found in the main graph (subgraphs stay opaque).
void check_model_sanity(const ir::Model& model);

}  // namespace nncompress::onnxio
