#pragma once
// GroupNorm as torch (<= 1.13, any opset) and most exporters write it: Reshape x [N, C, ...] to
// [N, G, -1], InstanceNormalization over the G groups (scale and bias [G]), Reshape back to x's
// shape, then a per-channel affine (Mul, Add). Channel pruning removes whole groups of C / G
// channels there and rewrites G in the first Reshape's target.
#include <cstdint>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::analysis {

struct GroupNormBlock {
  ir::Node* split = nullptr;  // Reshape to [N, G, -1]
  ir::Node* norm = nullptr;   // InstanceNormalization
  ir::Node* merge = nullptr;  // Reshape back
  ir::Node* shape = nullptr;  // Shape(x) feeding `merge`, when the target is computed (else nullptr)
  int64_t groups = 0;
  ir::Value* split_target = nullptr;  // constant [0 or N, G, -1], read by `split` only
  ir::Value* merge_target = nullptr;  // constant target of `merge` ([N, C, ...], read by it only), or nullptr
};

std::vector<GroupNormBlock> find_group_norms(const ir::Graph& graph);

}  // namespace nncompress::analysis
