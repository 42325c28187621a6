#pragma once
// The results of small shape computations kept between inference runs.
//
// Exported transformers compute every Reshape's target from the activations' shapes: Shape,
// Gather, Unsqueeze, Concat on a few int64 values, ~120 of vit-fmnist's 263 nodes. Each costs a
// LibTorch dispatch or several (2-3 us), a fifth of the model's time at batch 1, and gives the same
// values every batch. A step's memo keeps its last arguments and results: a Shape or Size is
// answered again while its input has the same sizes; another pure op while its arguments are the
// same small tensors at the same versions (an in-place change is seen) — which they are when they
// come from kept results or parameters. Kept results that someone changed in place are dropped.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::runtime {

class StepMemo {
 public:
  // Whether a node's results depend on its arguments' values (for Shape and Size: sizes) alone,
  // never on randomness or state, so that they may be kept.
  static bool applies_to(const ir::Node& n);

  explicit StepMemo(const ir::Node& n);

  // The results kept for these arguments, or nullptr.
  const std::vector<at::Tensor>* find(const std::vector<at::Tensor>& args) const;
  // Keeps results for the next run when arguments and results are small plain tensors.
  void keep(const std::vector<at::Tensor>& args, const std::vector<at::Tensor>& results);

 private:
  bool by_sizes_ = false;  // Shape and Size: keyed by the input's sizes
  bool valid_ = false;
  std::vector<at::Tensor> args_;  // held, so that no other tensor takes their addresses
  std::vector<int64_t> versions_;
  std::vector<int64_t> sizes_;
  std::vector<at::Tensor> results_;
  std::vector<int64_t> result_versions_;
};

}  // namespace nncompress::runtime
