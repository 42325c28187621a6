#include "nncompress/passes/prune/importance.h"

#include <ATen/ATen.h>

#include "channel_plan.h"
#include "nncompress/core/error.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// Sums f(rows) over the group's producers, rows = a producer's weight per channel of the group
// (an attention head's channel holds `stride` output features: their rows together).
template <typename F>
at::Tensor over_filters(const ScoringContext& c, int root, F f) {
  const analysis::ChannelGroup& g = c.cg.groups[root];
  at::Tensor score = at::zeros({g.size}, at::kDouble);
  for (size_t i = 0; i < g.producers.size(); ++i)
    score += f(per_channel(g, i, output_rows(*g.producers[i]).to(at::kDouble)));
  return score;
}

at::Tensor l1(const ScoringContext& c, int root) {
  return over_filters(c, root, [](const at::Tensor& r) { return r.abs().sum(1); });
}

at::Tensor l2(const ScoringContext& c, int root) {
  return over_filters(c, root, [](const at::Tensor& r) { return r.pow(2).sum(1).sqrt(); });
}

// Filter pruning via geometric median (He et al., CVPR 2019): far from the others = keep.
at::Tensor fpgm(const ScoringContext& c, int root) {
  return over_filters(c, root, [](const at::Tensor& r) { return at::cdist(r.unsqueeze(0), r.unsqueeze(0)).squeeze(0).sum(1); });
}

// |gamma| of the BatchNormalization layers indexed by exactly this group; the filters' L1 norm
// when there is none.
at::Tensor bn_scale(const ScoringContext& c, int root) {
  at::Tensor score = at::zeros({c.cg.groups[root].size}, at::kDouble);
  bool found = false;
  for (const auto& u : c.cg.users) {
    if (u.source.size() != 1 || c.cg.find(u.source[0].group) != root) continue;
    for (const ir::Use& use : u.tensor->uses())
      if (use.node->op_type() == "BatchNormalization" && use.index == 1) {
        score += runtime::to_aten(*u.tensor->initializer()).to(at::kDouble).abs();
        found = true;
      }
  }
  return found ? score : l1(c, root);
}

at::Tensor taylor(const ScoringContext& c, int root) {
  const analysis::ChannelGroup& g = c.cg.groups[root];
  at::Tensor score = at::zeros({g.size}, at::kDouble);
  for (size_t i = 0; i < g.producers.size(); ++i)
    if (auto it = c.gradient_scores.find(g.producers[i]); it != c.gradient_scores.end())
      score += per_channel(g, i, it->second).sum(1);
  return score;
}

}  // namespace

const std::vector<Importance>& importance_criteria() {
  static const std::vector<Importance> criteria = {
      {"l1", "L1 norm of each channel's filters", false, l1},
      {"l2", "L2 norm of each channel's filters", false, l2},
      {"bn-scale", "|gamma| of the BatchNorm after the channel (Network Slimming)", false, bn_scale},
      {"fpgm", "distance from the other filters (geometric median)", false, fpgm},
      {"taylor", "first-order Taylor importance on labeled data", true, taylor},
  };
  return criteria;
}

std::vector<std::string> importance_names() {
  std::vector<std::string> names;
  for (const Importance& i : importance_criteria()) names.push_back(i.name);
  return names;
}

const Importance& find_importance(const std::string& name) {
  for (const Importance& i : importance_criteria())
    if (i.name == name) return i;
  std::string all;
  for (const std::string& n : importance_names()) all += (all.empty() ? "" : ", ") + n;
  throw bad_input("unknown criterion '" + name + "' (" + all + ")");
}

}  // namespace nncompress::passes
