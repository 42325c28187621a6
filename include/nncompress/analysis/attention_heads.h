#pragma once
// Multi-head attention blocks whose heads can be removed, found by their shape in the graph:
//   X_q = x W_q [+ b_q]  -> Reshape [B, T, H, dh] -> Transpose (0, 2, 1, 3)            -> Q
//   X_k = x W_k [+ b_k]  -> Reshape [B, T, H, dh] -> Transpose(s) to (0, 2, 3, 1)       -> K^T
//   X_v = x W_v [+ b_v]  -> Reshape [B, T, H, dh] -> Transpose (0, 2, 1, 3)            -> V
//   Softmax(Q K^T [scaled, masked, biased per head]) V -> Transpose (0, 2, 1, 3) -> Reshape [B, T, H * dh] -> W_o
// (separate Q, K and V projections, as BERT-style encoders and nncompress's ViT write them). A
// head is dh consecutive features of X_q, X_k and X_v and the same rows of W_o; removing heads
// rewrites those and the constants that name H in the Reshape shapes.
//
// A fused projection (timm's and torchvision Swin's qkv Linear) is one MatMul split into heads
// by one Reshape:
//   X = x W_qkv [+ b] -> Reshape [B, T, 3, H, dh] -> Transpose (2, 0, 3, 1, 4)
//     -> Split (axis 0) + Squeeze, or Gather (axis 0, index 0/1/2) -> Q, K (-> Transpose -> K^T), V
// whose output features are [3, H, dh]: a head is dh features in each of the three thirds.
//
// torch's nn.MultiheadAttention (torchvision's ViT) cuts one such projection into thirds with
// Slices and merges the heads into the batch axis:
//   P = x W_in [+ b] -> Slice (last axis) x 3 -> Reshape [T, B * H, dh] -> Transpose (1, 0, 2)
//   ... Softmax over [B * H, T, T] ... -> Transpose (1, 0, 2) -> Reshape [T * B, H * dh] -> W_out
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

// A Concat input that computes the merged width H * dh from the stream's shape (exports that
// write `reshape(B, T, C)` with C read from the input): pruning writes the kept width there.
struct ComputedWidth {
  ir::Node* concat = nullptr;
  size_t input = 0;
  int64_t head_dim = 0;
};

struct AttentionBlock {
  int64_t heads = 0, head_dim = 0;
  int64_t replicas = 1;                // 3 for a fused QKV projection: its features are [3, H, dh]
  std::vector<ir::Node*> projections;  // the MatMuls of Q, K and V (constant weights), or the fused one
  // What reads the projections into heads: their Reshapes, or the Slices of a chunked projection
  // and the Shape nodes of it that computed Slice bounds read.
  std::vector<ir::Node*> splits;
  ir::Node* merge = nullptr;           // the Reshape back to [B, T, H * dh]
  std::vector<ir::Node*> head_matmuls;  // Q K^T and attention x V: per head, no weights
  std::vector<HeadCountConstant> head_counts;
  std::vector<ComputedWidth> computed_widths;
  // Constants added to the scores with one entry per head on `axis` (relative position biases).
  std::vector<std::pair<ir::Value*, int64_t>> per_head_constants;
};

// The blocks of `graph` that match in full; anything else is left to the channel analysis.
std::vector<AttentionBlock> find_attention_blocks(const ir::Graph& graph, const ir::TypeMap& types);

}  // namespace nncompress::analysis
