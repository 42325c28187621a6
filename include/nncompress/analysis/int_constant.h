#pragma once
// The elements of an int64 constant, as graph analyses read shapes, axes and sizes from them.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::analysis {

// nullopt unless `v` is an initializer of type int64.
inline std::optional<std::vector<int64_t>> int_constant(const ir::Value* v) {
  if (!v || !v->has_initializer() || v->initializer()->dtype() != ir::DataType::Int64) return std::nullopt;
  const at::Tensor t = v->initializer()->data().contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

}  // namespace nncompress::analysis
