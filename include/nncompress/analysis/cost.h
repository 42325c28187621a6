#pragma once
// Parameters and multiply-accumulates per node and for the whole model.
#include <cstdint>
#include <optional>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::analysis {

struct NodeCost {
  const ir::Node* node = nullptr;
  // Elements of the initializers this node reads (an initializer shared by several nodes counts
  // at its first reader only, so the node params sum to the model's).
  int64_t params = 0;
  // Multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul at batch 1 when the batch
  // dimension is symbolic; 0 for other ops and for nodes that compute from constants only
  // (runtimes fold those when loading, e.g. the decoding of packed weights). nullopt when a shape
  // it needs is unknown.
  std::optional<int64_t> macs = 0;
  bool constant = false;  // all inputs are initializers or computed from them
};

struct ModelCost {
  std::vector<NodeCost> nodes;  // in the graph's stored order
  int64_t params = 0;           // elements of all initializers
  int64_t macs = 0;             // sum of the known node MACs
  int64_t nodes_with_unknown_macs = 0;
  uint64_t initializer_bytes = 0;
};

// `types` gives the shapes of values (e.g. from shape inference); values missing there fall
// back to the type the graph carries.
ModelCost compute_cost(const ir::Graph& graph, const ir::TypeMap& types);

// A tensor shape with a symbolic or unknown first (batch) dimension taken as 1; nullopt when
// any other dimension or the rank is unknown.
std::optional<std::vector<int64_t>> shape_at_batch1(const ir::ValueType& type);

}  // namespace nncompress::analysis
