#include "nncompress/passes/quant/bit_allocation.h"

#include <algorithm>

namespace nncompress::passes {

namespace {

struct State {
  int64_t cost;
  double error;
  int32_t parent;  // index in the previous layer's frontier
  int32_t option;
};

// Keeps the states that no cheaper (or equally cheap) state beats in error, sorted by cost.
std::vector<State> pareto(std::vector<State> states) {
  std::sort(states.begin(), states.end(), [](const State& a, const State& b) {
    return a.cost != b.cost ? a.cost < b.cost : a.error < b.error;
  });
  std::vector<State> kept;
  for (const State& s : states)
    if (kept.empty() || s.error < kept.back().error) kept.push_back(s);
  return kept;
}

}  // namespace

std::optional<Allocation> allocate_exact(const std::vector<std::vector<AllocationOption>>& layers, int64_t budget) {
  std::vector<std::vector<State>> frontiers;
  std::vector<State> current{{0, 0.0, -1, -1}};
  Allocation result;
  for (const auto& options : layers) {
    std::vector<State> next;
    next.reserve(current.size() * options.size());
    for (size_t i = 0; i < current.size(); ++i)
      for (size_t k = 0; k < options.size(); ++k) {
        const int64_t cost = current[i].cost + options[k].cost;
        if (cost <= budget)
          next.push_back({cost, current[i].error + options[k].error, static_cast<int32_t>(i), static_cast<int32_t>(k)});
      }
    if (next.empty()) return std::nullopt;
    frontiers.push_back(std::move(current));
    current = pareto(std::move(next));
    result.frontier_peak = std::max<int64_t>(result.frontier_peak, static_cast<int64_t>(current.size()));
  }
  // The frontier's last state has the least error within the budget.
  const State* s = &current.back();
  result.cost = s->cost;
  result.error = s->error;
  result.choice.assign(layers.size(), 0);
  for (size_t layer = layers.size(); layer-- > 0;) {
    result.choice[layer] = s->option;
    if (layer > 0) s = &frontiers[layer][s->parent];
  }
  return result;
}

}  // namespace nncompress::passes
