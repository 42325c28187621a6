#pragma once
// prune.magnitude: unstructured pruning of the smallest weights of Conv, Gemm and MatMul layers,
// to a sparsity either over all those weights at once (global threshold) or layer by layer.
// Returns the masks so fine-tuning keeps pruned weights at zero.
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/ir/model.h"
#include "nncompress/train/trainer.h"

namespace nncompress::passes {

struct MagnitudePruneOptions {
  double sparsity = 0.5;
  bool per_layer = false;         // false: one global threshold
  std::vector<std::string> keep;  // node names whose weights stay dense
};

struct SparsityRow {
  std::string node, op, weight;
  int64_t elements = 0, nonzeros_before = 0, nonzeros_after = 0;
};

struct MagnitudePruneResult {
  std::vector<SparsityRow> layers;
  std::vector<std::pair<std::string, at::Tensor>> masks;  // weight initializer name -> 0/1 mask
};

// The weights unstructured pruning works on: float weights (rank >= 2) of Conv, ConvTranspose,
// Gemm and MatMul nodes (analysis::is_weighted_layer), except nodes named in `keep`.
struct PrunableWeight {
  ir::Node* node;
  ir::Value* weight;
};
std::vector<PrunableWeight> prunable_weights(ir::Graph& graph, const std::vector<std::string>& keep);

MagnitudePruneResult prune_magnitude(ir::Model& model, const MagnitudePruneOptions& options);

// Gradual magnitude pruning (Zhu & Gupta's AGP) as a train::TrainOptions::update_masks schedule:
// every `every` steps the masks are recomputed so that a sparsity of
// final + (initial - final) * (1 - t)^3 holds over all masked parameters together (one global
// magnitude threshold; t: progress through the first 2/3 of training, the last third fine-tunes
// at the final sparsity). Pair it with keep_best_epoch = false: only the last epoch is final.
std::function<void(int64_t, int64_t, train::TrainOptions::MaskedParameters&)> gradual_magnitude_schedule(
    double initial_sparsity, double final_sparsity, int64_t every = 50);

// Marks weights with at least `min_sparsity` zeros to be written as ONNX sparse initializers.
int mark_sparse_storage(ir::Model& model, double min_sparsity = 0.5);

}  // namespace nncompress::passes
