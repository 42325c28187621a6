#include "nncompress/passes/prune/channel_pruning.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>

#include "channel_plan.h"
#include "nncompress/passes/prune/importance.h"
#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

using analysis::ChannelGraph;

// First-order Taylor importance per output channel of each producer: (sum over the channel's
// weights of w * dL/dw)^2, summed over batches (Molchanov et al., CVPR 2019, on weights).
std::map<const ir::Node*, at::Tensor> taylor_importance(const ir::Model& model, const ChannelGraph& cg,
                                                        const ChannelPruneOptions& o) {
  if (!o.data || !o.data->has_labels()) throw bad_input("criterion taylor needs labeled data");
  runtime::Executor exec(model);
  std::map<const ir::Node*, at::Tensor> weights;
  for (const analysis::ChannelGroup& g : cg.groups)
    for (const ir::Node* p : g.producers) {
      at::Tensor& w = exec.parameter(p->input(1)->name());
      w = w.detach().clone().requires_grad_(true);
      weights[p] = w;
    }
  std::map<const ir::Node*, at::Tensor> importance;
  const int64_t n = o.data->size();
  for (int64_t b = 0; b < o.taylor_batches && b * o.batch < n; ++b) {
    const int64_t len = std::min(o.batch, n - b * o.batch);
    at::Tensor logits = exec.run(data::prepare_inputs(*o.data, b * o.batch, len, exec.inputs(), o.preprocess)).at(0);
    logits = logits.reshape({logits.size(0), -1});
    for (auto& [node, w] : weights)
      if (w.grad().defined()) w.mutable_grad().zero_();
    const at::Tensor labels = o.data->y.narrow(0, b * o.batch, len);
    eval::check_label_range(labels, logits.size(1));
    at::nll_loss(at::log_softmax(logits, 1), labels).backward();
    for (const auto& [node, w] : weights) {
      if (!w.grad().defined()) continue;
      const int64_t axis = analysis::output_channel_axis(*node);
      const at::Tensor contribution = (w.detach() * w.grad()).transpose(0, axis).reshape({w.size(axis), -1}).sum(1).pow(2);
      auto it = importance.find(node);
      if (it == importance.end()) importance[node] = contribution.to(at::kDouble);
      else it->second += contribution.to(at::kDouble);
    }
  }
  return importance;
}

}  // namespace

ChannelPruneReport prune_channels(ir::Model& model, const ir::TypeMap& types, const ChannelPruneOptions& o) {
  if (o.ratio < 0 || o.ratio >= 1) throw bad_input("ratio must be in [0, 1)");
  if (o.target_macs < 0 || o.target_macs > 1 || o.target_params < 0 || o.target_params > 1)
    throw bad_input("target-macs and target-params are fractions in (0, 1]");
  if (o.target_macs > 0 && o.target_params > 0) throw bad_input("give target-macs or target-params, not both");
  const Importance& criterion = find_importance(o.criterion);
  ir::Graph& graph = model.graph;
  const ChannelPlan plan = plan_channels(model, types, o.keep, o.keep_first_conv);
  ChannelPruneReport report;
  report.unprunable = plan.unprunable;

  ScoringContext scoring{plan.cg, {}};
  if (criterion.needs_gradients) scoring.gradient_scores = taylor_importance(model, plan.cg, o);
  std::map<int, at::Tensor> scores;
  for (const auto& [group, size] : plan.sizes) scores[group] = criterion.score(scoring, group);
  // All-zero gradients rank nothing: any channel would go first (torchvision initializes some
  // classifiers at zero, which stops every gradient behind them).
  if (criterion.needs_gradients && !scores.empty() &&
      std::all_of(scores.begin(), scores.end(), [](const auto& s) { return s.second.abs().max().template item<double>() == 0; }))
    throw bad_input("criterion " + o.criterion + ": every gradient reaching the prunable layers is zero on this data "
                    "(a classifier initialized at zero?), so it cannot rank their channels; use --criterion l1");
  KeptChannels kept;
  if (o.target_macs > 0 || o.target_params > 0) {
    // Scores relative to their group's mean, so groups of different layers compare.
    const bool macs = o.target_macs > 0;
    kept = meet_target(graph, analysis::compute_cost(graph, types), plan, scores, macs ? o.target_macs : o.target_params,
                       macs, o.round_to, /*normalize=*/true, report.predicted_fraction);
  } else {
    kept = decide(plan, scores, std::nullopt, o.ratio, o.round_to, /*normalize=*/true);
  }
  report.groups_pruned = static_cast<int>(kept.size());
  if (kept.empty()) return report;
  report.layers = remove_channels(graph, plan, kept);
  return report;
}

}  // namespace nncompress::passes
