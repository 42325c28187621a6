#pragma once
// Multi-head attention blocks whose heads can be removed, found by their shape in the graph:
//   X_q = x W_q [+ b_q]  -> Reshape [B, T, H, dh] -> Transpose (0, 2, 1, 3)            -> Q
//   X_k = x W_k [+ b_k]  -> Reshape [B, T, H, dh] -> Transpose(s) to (0, 2, 3, 1)       -> K^T
//   X_v = x W_v [+ b_v]  -> Reshape [B, T, H, dh] -> Transpose (0, 2, 1, 3)            -> V
//   Softmax(Q K^T [scaled, masked]) V -> Transpose (0, 2, 1, 3) -> Reshape [B, T, H * dh] -> W_o
// (separate Q, K and V projections, as BERT-style encoders and nncompress's ViT write them). A
// head is dh consecutive features of X_q, X_k and X_v and the same rows of W_o; removing heads
// rewrites those and the constants that name H in the Reshape shapes.
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::analysis {

// A constant element that holds the head count (times `multiplier`: H * dh in a merge shape).
struct HeadCountConstant {
  ir::Value* tensor = nullptr;
  int64_t element = 0;
  int64_t multiplier = 1;
};

struct AttentionBlock {
  int64_t heads = 0, head_dim = 0;
  std::vector<ir::Node*> projections;  // the MatMuls of Q, K and V (constant weights)
  std::vector<ir::Node*> splits;       // their Reshapes into heads
  ir::Node* merge = nullptr;           // the Reshape back to [B, T, H * dh]
  std::vector<HeadCountConstant> head_counts;
};

// The blocks of `graph` that match in full; anything else is left to the channel analysis.
std::vector<AttentionBlock> find_attention_blocks(const ir::Graph& graph, const ir::TypeMap& types);

}  // namespace nncompress::analysis
