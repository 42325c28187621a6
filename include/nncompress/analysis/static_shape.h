#pragma once
// The static shape of a value for graph analyses: an initializer's dims, else its inferred (or
// declared) shape with unknown dimensions as -1; nullopt when even the rank is unknown.
#include <cstdint>
#include <optional>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::analysis {

inline std::optional<std::vector<int64_t>> static_dims(const ir::Value* v, const ir::TypeMap& types) {
  if (!v) return std::nullopt;
  if (const ir::Tensor* t = v->initializer()) return t->dims();
  auto it = types.find(v->name());
  const ir::ValueType& t = it != types.end() ? it->second : v->type;
  if (!t.is_tensor() || !t.shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : *t.shape) dims.push_back(d.is_known() ? *d.value : -1);
  return dims;
}

}  // namespace nncompress::analysis
