// Structured AutoPrune: one auxiliary parameter per prunable channel, trained like the
// per-weight ones (docs/autoprune.md, "Channels"), then real removal as in prune.channels.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "auxiliary_signal.h"
#include "channel_plan.h"
#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/prune/autoprune.h"
#include "nncompress/passes/prune/importance.h"

namespace nncompress::passes {

namespace {

// The gate of each channel: `open` in value (1 keeps it, 0 closes it), derivative 1 with respect
// to its auxiliary m (straight through).
at::Tensor gate(const at::Tensor& open, const at::Tensor& m) { return open + (m - m.detach()); }

// A tensor whose channels along `axis` create channels of pruned groups: the forward pass sees
// it multiplied by their gates, so a closed gate makes the channel exactly zero downstream.
struct GatedTensor {
  std::string name;
  int64_t axis = 0;
  std::vector<std::pair<int, int64_t>> segments;  // (root group, or -1 if not pruned; channel count)
  int64_t stride = 1;                             // positions per channel (an attention head's features)
};

// Per-channel tensors that put a channel's value back after its producer was gated: the scale
// and bias of a normalization, a depthwise convolution's filter and bias, an added constant.
// Means, variances, consumers' input weights and multiplied constants need no gate.
bool restores_channel(const analysis::ChannelUser& u, const std::set<const ir::Node*>& depthwise) {
  for (const ir::Use& use : u.tensor->uses()) {
    const std::string& op = use.node->op_type();
    if ((op == "BatchNormalization" || op == "InstanceNormalization") && (use.index == 1 || use.index == 2)) return true;
    if (depthwise.count(use.node) && (use.index == 1 || use.index == 2)) return true;
    if (op == "Add" || op == "Sub") return true;
  }
  return false;
}

std::vector<GatedTensor> gated_tensors(const ChannelPlan& plan) {
  const analysis::ChannelGraph& cg = plan.cg;
  std::vector<GatedTensor> gated;
  // Each producer's output axis: the pruned groups it makes at their offsets (replicas of one: a
  // fused QKV's Q, K, V thirds), ungated channels between them.
  std::map<const ir::Node*, std::map<int64_t, int>> made;  // producer -> offset -> root group
  for (const auto& [root, size] : plan.sizes) {
    const analysis::ChannelGroup& g = cg.groups[root];
    for (size_t i = 0; i < g.producers.size(); ++i) made[g.producers[i]][g.offsets[i]] = root;
  }
  for (const auto& [p, parts] : made) {
    GatedTensor t{p->input(1)->name(), analysis::output_channel_axis(*p), {}, 1};
    int64_t at = 0;
    for (const auto& [offset, root] : parts) {
      const analysis::ChannelGroup& g = cg.groups[root];
      if (offset > at) t.segments.push_back({-1, offset - at});
      t.segments.insert(t.segments.end(), g.replicas, {root, g.size});
      t.stride = g.stride;  // more than 1 only for heads, whose groups take a producer's whole axis
      at = offset + g.replicas * g.size * g.stride;
    }
    const int64_t outputs = p->input(1)->initializer()->dims()[t.axis];
    if (outputs > at) t.segments.push_back({-1, outputs - at});
    gated.push_back(t);
    if (has_vector_bias(*p)) gated.push_back({p->input(2)->name(), 0, t.segments, t.stride});
  }
  std::set<const ir::Node*> depthwise;
  for (const auto& [node, source] : cg.depthwise) depthwise.insert(node);
  for (const analysis::ChannelUser& u : cg.users) {
    if (!restores_channel(u, depthwise)) continue;
    GatedTensor g{u.tensor->name(), u.axis, {}, u.stride};
    bool any = false;
    for (const analysis::Segment& s : u.source) {
      const int root = cg.find(s.group);
      const bool pruned = plan.sizes.count(root) > 0;
      any = any || pruned;
      g.segments.push_back({pruned ? root : -1, s.count});
    }
    if (any) gated.push_back(std::move(g));
  }
  return gated;
}

// The fraction of the model's MACs (or params) one channel of each group costs, scaled so the
// mean over all prunable channels is 1: the regularization pull on that group's auxiliaries.
std::map<int, double> channel_costs(const ir::Graph& graph, const analysis::ModelCost& cost, const ChannelPlan& plan,
                                    bool macs) {
  std::map<int, double> costs;
  double sum = 0, channels = 0;
  for (const auto& [group, size] : plan.sizes) {
    if (size < 2) continue;
    const double left = fraction_left(graph, cost, plan, {{group, at::arange(size - 1, at::kLong)}}, macs);
    costs[group] = std::max(0.0, 1.0 - left);
    sum += costs[group] * static_cast<double>(size);
    channels += static_cast<double>(size);
  }
  const double mean = sum > 0 ? sum / channels : 1.0;
  for (auto& [group, c] : costs) c /= mean;
  return costs;
}

std::map<int, at::Tensor> initial_auxiliaries(const ChannelPlan& plan, const std::string& init) {
  std::map<int, at::Tensor> aux;
  for (const auto& [group, size] : plan.sizes) {
    at::Tensor m = at::ones({size}, at::kFloat);
    if (init == "magnitude") {  // the group's filters' L1 norms relative to their mean, as for weights
      const at::Tensor l1 = find_importance("l1").score(ScoringContext{plan.cg, {}}, group).to(at::kFloat);
      m = (l1 / (2 * std::max(l1.mean().item<double>(), 1e-12))).clamp_max(1.0);
    }
    aux[group] = m.requires_grad_(true);
  }
  return aux;
}

// Each tensor that creates or restores a pruned channel is seen by the forward pass multiplied by
// the channels' gates.
void add_gate_views(train::TrainOptions& t, const ChannelPlan& plan, const std::map<int, at::Tensor>& aux,
                    const std::map<int, at::Tensor>& open) {
  for (const GatedTensor& g : gated_tensors(plan))
    t.views.push_back({g.name, [g, aux, open](const at::Tensor& w) {
                         std::vector<at::Tensor> parts;
                         for (const auto& [group, count] : g.segments)
                           parts.push_back(group >= 0 ? gate(open.at(group), aux.at(group)) : at::ones({count}, at::kFloat));
                         at::Tensor gates = at::cat(parts);
                         if (g.stride > 1) gates = gates.repeat_interleave(g.stride);  // a head's features share its gate
                         std::vector<int64_t> shape(w.dim(), 1);
                         shape[g.axis] = -1;
                         return w * gates.view(shape).to(w.scalar_type());
                       }});
}

// One search step of the auxiliaries (ascending group order, as the signal's). With a target
// only their order matters: no pull (it would shift all alike, or, cost weighted, empty the
// costliest groups first) and no clipping (the order never saturates). Without one, the pull of
// lambda weighted by each channel's cost decides, within [-1, 1].
void move_auxiliaries(std::map<int, at::Tensor>& aux, const AuxiliarySignal& signal, bool has_target,
                      const std::map<int, double>& costs, const AutoPruneOptions& o) {
  size_t i = 0;
  for (auto& [group, m] : aux) {
    at::Tensor v = m.detach();
    const at::Tensor& s = signal[i++];
    if (has_target) {
      v.sub_(o.aux_lr * s);
    } else {
      const auto c = costs.find(group);
      v.sub_(o.aux_lr * (s + o.lambda * (c != costs.end() ? c->second : 1.0))).clamp_(-1.0, 1.0);
    }
  }
}

// The auxiliaries' values as scores (no copy: decide() and meet_target() only read them).
std::map<int, at::Tensor> values_of(const std::map<int, at::Tensor>& aux) {
  std::map<int, at::Tensor> v;
  for (const auto& [group, m] : aux) v[group] = m.detach();
  return v;
}

}  // namespace

ChannelAutoPruneResult prune_autoprune_channels(ir::Model& model, const ir::TypeMap& types, const data::Dataset& train_data,
                                                const data::Dataset* val_data, const AutoPruneOptions& o) {
  check_autoprune_options(o);
  if (o.target_sparsity > 0) throw bad_input("structured AutoPrune takes target-macs or target-params, not sparsity");
  ir::Graph& graph = model.graph;
  ChannelPlan plan = plan_channels(model, types, o.keep, o.keep_first_conv);
  if (plan.sizes.empty()) throw bad_input("the model has no prunable channel groups");
  const bool macs = o.target_params <= 0;
  const double target = macs ? o.target_macs : o.target_params;
  const analysis::ModelCost cost = analysis::compute_cost(graph, types);
  if (macs && target > 0) require_known_macs(cost);
  const std::map<int, double> costs = target > 0 ? std::map<int, double>() : channel_costs(graph, cost, plan, macs);
  std::map<int, at::Tensor> aux = initial_auxiliaries(plan, o.aux_init);
  // The gates: 1 keeps a channel open. Without a target a gate is open while its auxiliary is
  // positive; with one, the open channels are the highest auxiliaries that meet the ramp.
  std::map<int, at::Tensor> open, ever_closed;
  std::vector<at::Tensor> aux_in_order;  // the signal's order: ascending group ids
  for (const auto& [group, m] : aux) {
    open[group] = m.detach().gt(0).to(at::kFloat);
    ever_closed[group] = open[group].eq(0);
    aux_in_order.push_back(m);
  }
  AuxiliarySignal signal(aux_in_order, o.aux_momentum);
  auto set_gates = [&](const KeptChannels& kept) {
    for (auto& [group, g] : open) {
      g.fill_(1.0);
      if (auto k = kept.find(group); k != kept.end()) g.fill_(0.0).index_fill_(0, k->second, 1.0);
      ever_closed[group].logical_or_(g.eq(0));
    }
  };

  train::TrainOptions t = o.train;
  t.keep_best_epoch = false;  // the gates change over training: the last epoch is the pruned model
  t.synced_gradients = aux_in_order;  // read by the signal after each step
  add_gate_views(t, plan, aux, open);

  const int64_t search_end = search_steps(train_data.size(), t, o.search_fraction.value_or(1.0 / 3.0));
  constexpr double kOpen = 1e-12;  // m above this: the gate is open (m > 0)
  constexpr int64_t kReselect = 10;  // steps between choices of the open channels on the ramp
  double predicted = 1.0;
  if (target > 0) meet_target(graph, cost, plan, values_of(aux), target, macs, o.round_to, false, predicted);  // reachable?
  int64_t step = 0;
  KeptChannels kept;
  std::vector<ChannelAutoPruneResult::SearchPoint> trace;
  t.after_step = [&] {
    at::NoGradGuard no_grad;
    ++step;
    if (step <= search_end) {
      signal.update();
      move_auxiliaries(aux, signal, target > 0, costs, o);
      const bool last = step == search_end;
      if (target > 0 && (step % kReselect == 0 || last)) {
        // The channels kept follow a cubic ramp from the whole model down to the target (as
        // AGP), chosen by their auxiliaries, so a channel whose auxiliary rises comes back.
        const double progress = static_cast<double>(step) / static_cast<double>(search_end);
        const double goal = 1.0 - (1.0 - target) * (1.0 - std::pow(1.0 - progress, 3));
        kept = meet_target(graph, cost, plan, values_of(aux), last ? target : goal, macs, last ? o.round_to : 1, false,
                           predicted);
        set_gates(kept);
        if (step % 50 == 0 || last) trace.push_back({step, predicted, goal});
      } else if (target <= 0) {
        // lambda alone decides: open while positive; counts rounded up at the end.
        kept = decide(plan, values_of(aux), kOpen, 0, last ? o.round_to : 1, false);
        set_gates(kept);
      }
      // Past the search the gates stay as they are and the weights fine-tune under them.
    }
    signal.clear_gradients();
  };

  ChannelAutoPruneResult result;
  result.training = train::fine_tune(model, train_data, val_data, t);
  result.trace = std::move(trace);
  for (const auto& [group, g] : open) result.recovered += (ever_closed[group] & g.gt(0)).sum().item<int64_t>();
  result.report.unprunable = plan.unprunable;
  result.report.groups_pruned = static_cast<int>(kept.size());
  result.report.predicted_fraction = target > 0 ? predicted : fraction_left(graph, cost, plan, kept, macs);
  result.report.layers = remove_channels(graph, plan, kept);
  return result;
}

}  // namespace nncompress::passes
