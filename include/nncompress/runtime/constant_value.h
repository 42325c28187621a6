#pragma once
// The value of a tensor that depends on initializers only (e.g. a weight decoded from packed
// codes or read through DequantizeLinear), computed by running just the nodes it depends on.
#include <ATen/core/Tensor.h>

#include <optional>

#include "nncompress/ir/model.h"

namespace nncompress::runtime {

// nullopt when the value depends on a graph input or on a node with subgraphs.
std::optional<at::Tensor> constant_value(const ir::Model& model, const ir::Value& value);

}  // namespace nncompress::runtime
