#pragma once
// Exact bit allocation: choose one option per layer (a bit width with its integer cost and its
// measured error) minimizing the summed error under a total cost budget. This is the
// multiple-choice knapsack problem, solved exactly by dynamic programming over Pareto frontiers
// (as ZeroQ does for mixed precision): after each layer only the (cost, error) pairs that no
// cheaper pair beats in error are kept, so the optimum is never dropped.
#include <cstdint>
#include <optional>
#include <vector>

namespace nncompress::passes {

struct AllocationOption {
  int64_t cost = 0;
  double error = 0;
};

struct Allocation {
  std::vector<int> choice;  // index into each layer's options
  int64_t cost = 0;
  double error = 0;
  int64_t frontier_peak = 0;  // largest frontier kept, for the curious
};

// nullopt when even the cheapest choices exceed the budget.
std::optional<Allocation> allocate_exact(const std::vector<std::vector<AllocationOption>>& layers, int64_t budget);

}  // namespace nncompress::passes
