#include "nncompress/passes/prune/channel_pruning.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "nncompress/analysis/channel_groups.h"
#include "nncompress/analysis/cost.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

using analysis::ChannelGraph;

// The axis of a producer's weight that holds its output channels.
int64_t output_axis(const ir::Node& n) {
  if (n.op_type() == "Conv") return 0;
  if (n.op_type() == "Gemm") return n.attr_int("transB", 0) ? 0 : 1;
  return 1;  // MatMul
}

at::Tensor weight_of(const ir::Node& n) { return runtime::to_aten(*n.input(1)->initializer()).to(at::kFloat); }

// Per-output-channel rows of a producer's weight, [channels, rest].
at::Tensor rows(const ir::Node& n) {
  const at::Tensor w = weight_of(n);
  const int64_t axis = output_axis(n);
  return w.transpose(0, axis).reshape({w.size(axis), -1});
}

// First-order Taylor importance per output channel of each producer: (sum over the channel's
// weights of w * dL/dw)^2, summed over batches (Molchanov et al., CVPR 2019, on weights).
std::map<const ir::Node*, at::Tensor> taylor_importance(const ir::Model& model, const ChannelGraph& cg,
                                                        const ChannelPruneOptions& o) {
  if (!o.data || !o.data->has_labels()) throw bad_input("--criterion taylor needs labeled data (--data)");
  runtime::Executor exec(model);
  if (exec.inputs().size() != 1) throw bad_input("--criterion taylor needs a model with one input");
  std::map<const ir::Node*, at::Tensor> weights;
  for (const analysis::ChannelGroup& g : cg.groups)
    for (const ir::Node* p : g.producers) {
      at::Tensor& w = exec.parameter(p->input(1)->name());
      w = w.detach().clone().requires_grad_(true);
      weights[p] = w;
    }
  std::map<const ir::Node*, at::Tensor> importance;
  const ir::Value& input = *exec.inputs()[0];
  const int64_t n = o.data->size();
  for (int64_t b = 0; b < o.taylor_batches && b * o.batch < n; ++b) {
    const int64_t len = std::min(o.batch, n - b * o.batch);
    const at::Tensor x = data::prepare_batch(o.data->x.narrow(0, b * o.batch, len), input.name(), input.type, o.preprocess);
    at::Tensor logits = exec.run({x}).at(0);
    logits = logits.reshape({logits.size(0), -1});
    for (auto& [node, w] : weights)
      if (w.grad().defined()) w.mutable_grad().zero_();
    at::nll_loss(at::log_softmax(logits, 1), o.data->y.narrow(0, b * o.batch, len)).backward();
    for (const auto& [node, w] : weights) {
      if (!w.grad().defined()) continue;
      const int64_t axis = output_axis(*node);
      const at::Tensor contribution = (w.detach() * w.grad()).transpose(0, axis).reshape({w.size(axis), -1}).sum(1).pow(2);
      auto it = importance.find(node);
      if (it == importance.end()) importance[node] = contribution.to(at::kDouble);
      else it->second += contribution.to(at::kDouble);
    }
  }
  return importance;
}

at::Tensor score_group(const ChannelGraph& cg, int root, const ir::Graph& graph, const std::string& criterion,
                       const std::map<const ir::Node*, at::Tensor>& taylor) {
  const analysis::ChannelGroup& g = cg.groups[root];
  at::Tensor score = at::zeros({g.size}, at::kDouble);
  if (criterion == "bn-scale") {
    // |gamma| of the BatchNormalization layers indexed by exactly this group.
    bool found = false;
    for (const auto& u : cg.users) {
      if (u.source.size() != 1 || cg.find(u.source[0].group) != root) continue;
      for (const ir::Use& use : u.tensor->uses()) {
        if (use.node->op_type() == "BatchNormalization" && use.index == 1) {
          score += runtime::to_aten(*u.tensor->initializer()).to(at::kDouble).abs();
          found = true;
        }
      }
    }
    if (found) return score;  // otherwise fall back to the filters' L1 norm
  }
  if (criterion == "taylor") {
    for (const ir::Node* p : g.producers)
      if (auto it = taylor.find(p); it != taylor.end()) score += it->second;
    return score;
  }
  for (const ir::Node* p : g.producers) {
    const at::Tensor r = rows(*p).to(at::kDouble);
    if (criterion == "l2") score += r.pow(2).sum(1).sqrt();
    else if (criterion == "fpgm") score += at::cdist(r.unsqueeze(0), r.unsqueeze(0)).squeeze(0).sum(1);  // far from the median = keep
    else score += r.abs().sum(1);
  }
  return score;
}

// How many of `size` channels stay when `ratio` of them go, rounded up to a multiple of round_to.
int64_t keep_count(int64_t size, double ratio, int64_t round_to) {
  int64_t keep = size - static_cast<int64_t>(std::floor(ratio * size));
  if (round_to > 1) keep = std::min(size, (keep + round_to - 1) / round_to * round_to);
  return std::max<int64_t>(1, keep);
}

// The `count` best-scoring channels, in ascending index order. Ties keep the lower index (stable
// sort), so results are deterministic.
at::Tensor top(const at::Tensor& score, int64_t count) {
  const at::Tensor order = std::get<1>(score.sort(/*stable=*/true, 0, /*descending=*/true));
  return std::get<0>(order.narrow(0, 0, count).sort());
}

// Global indices along a tensor axis for the channels of `source` that survive.
at::Tensor global_indices(const ChannelGraph& cg, const analysis::SegmentList& source, int64_t stride,
                          const std::map<int, at::Tensor>& kept) {
  std::vector<at::Tensor> parts;
  int64_t offset = 0;
  for (const analysis::Segment& s : source) {
    auto it = kept.find(cg.find(s.group));
    const at::Tensor k = it != kept.end() ? it->second : at::arange(s.count, at::kLong);
    parts.push_back(k + offset);
    offset += s.count;
  }
  at::Tensor idx = at::cat(parts);
  if (stride > 1) idx = (idx.unsqueeze(1) * stride + at::arange(stride, at::kLong).unsqueeze(0)).reshape({-1});
  return idx;
}

void select(ir::Value* v, int64_t axis, const at::Tensor& idx) {
  ir::Tensor* t = v->mutable_initializer();
  const at::Tensor data = runtime::to_aten(*t);
  if (data.size(axis) == idx.size(0)) return;
  runtime::replace_data(*t, data.index_select(axis, idx));
}

int64_t params_of(const ir::Node& n) {
  int64_t p = 0;
  for (size_t i = 1; i < n.inputs().size(); ++i)
    if (n.input(i) && n.input(i)->has_initializer()) p += n.input(i)->initializer()->numel();
  return p;
}

}  // namespace

// Channels kept per pruned root group, for a uniform ratio or for a global threshold on
// scores normalized by their group's mean (so groups of different layers compare).
std::map<int, at::Tensor> decide(const std::map<int, at::Tensor>& scores, const std::map<int, int64_t>& sizes,
                                 std::optional<double> threshold, double ratio, int64_t round_to) {
  std::map<int, at::Tensor> kept;
  for (const auto& [group, score] : scores) {
    const int64_t size = sizes.at(group);
    int64_t count = keep_count(size, ratio, round_to);
    if (threshold) {
      const at::Tensor normalized = score / std::max(score.mean().item<double>(), 1e-30);
      const int64_t above = normalized.ge(*threshold).sum().item<int64_t>();
      count = keep_count(size, 1.0 - static_cast<double>(above) / size, round_to);
    }
    if (count < size) kept[group] = top(score, count);
  }
  return kept;
}

// The dims every initializer would have after removing the channels not in `kept`.
std::map<const ir::Value*, std::vector<int64_t>> dims_after(const ChannelGraph& cg, const std::map<int, at::Tensor>& kept) {
  std::map<const ir::Value*, std::vector<int64_t>> dims;
  auto set = [&](const ir::Value* v, int64_t axis, int64_t n) {
    auto it = dims.emplace(v, v->initializer()->dims()).first;
    it->second[axis] = n;
  };
  for (const auto& [root, idx] : kept)
    for (const ir::Node* p : cg.groups[root].producers) {
      set(p->input(1), output_axis(*p), idx.size(0));
      if (p->input(2) && p->input(2)->has_initializer() && p->input(2)->initializer()->dims().size() == 1)
        set(p->input(2), 0, idx.size(0));
    }
  for (const analysis::ChannelUser& u : cg.users)
    set(u.tensor, u.axis, global_indices(cg, u.source, u.stride, kept).size(0));
  return dims;
}

// The fraction of MACs (or params) left after pruning to `kept`: MACs of a Conv/Gemm/MatMul
// scale with its weight's element count, since spatial sizes do not change.
// `params_baseline` is the model's parameter count before constants were made private (copies of
// shared tensors must not count as parameters the user had).
double fraction_left(const ir::Graph& graph, const analysis::ModelCost& cost, const ChannelGraph& cg,
                     const std::map<int, at::Tensor>& kept, bool macs, double params_baseline) {
  const auto dims = dims_after(cg, kept);
  auto numel_after = [&](const ir::Value* v) {
    auto it = dims.find(v);
    return it == dims.end() ? v->initializer()->numel() : ir::element_count(it->second);
  };
  double before = 0, after = 0;
  if (macs) {
    for (const analysis::NodeCost& nc : cost.nodes) {
      if (!nc.macs || *nc.macs == 0) continue;
      before += static_cast<double>(*nc.macs);
      const ir::Value* w = nc.node->input(1);
      const bool scaled = w && w->has_initializer() && w->initializer()->numel() > 0;
      after += scaled ? static_cast<double>(*nc.macs) * numel_after(w) / w->initializer()->numel() : *nc.macs;
    }
  } else {
    before = params_baseline;
    for (const ir::Value* v : graph.initializers()) after += static_cast<double>(numel_after(v));
  }
  return before > 0 ? after / before : 1.0;
}

ChannelPruneReport prune_channels(ir::Model& model, const ir::TypeMap& types, const ChannelPruneOptions& o) {
  if (o.ratio < 0 || o.ratio >= 1) throw bad_input("--ratio must be in [0, 1)");
  if (o.target_macs < 0 || o.target_macs > 1 || o.target_params < 0 || o.target_params > 1)
    throw bad_input("--target-macs and --target-params are fractions in (0, 1]");
  if (o.target_macs > 0 && o.target_params > 0) throw bad_input("give --target-macs or --target-params, not both");
  if (o.criterion != "l1" && o.criterion != "l2" && o.criterion != "bn-scale" && o.criterion != "fpgm" &&
      o.criterion != "taylor")
    throw bad_input("unknown criterion '" + o.criterion + "' (l1, l2, bn-scale, fpgm, taylor)");
  ir::Graph& graph = model.graph;
  double params_baseline = 0;
  for (const ir::Value* v : graph.initializers()) params_baseline += static_cast<double>(v->initializer()->numel());
  make_constants_private(graph);
  const ChannelGraph cg = analysis::build_channel_graph(graph, types);

  std::set<std::string> keep(o.keep.begin(), o.keep.end());
  if (o.keep_first_conv)
    for (const ir::Node* n : graph.topological_order())
      if (n->op_type() == "Conv") {
        keep.insert(n->name);
        break;
      }

  ChannelPruneReport report;
  std::map<const ir::Node*, std::pair<int64_t, int64_t>> before;  // channels, params
  for (const auto& n : graph.nodes())
    if (n->op_type() == "Conv" || n->op_type() == "Gemm" || n->op_type() == "MatMul")
      if (n->input(1) && n->input(1)->has_initializer() && n->input(1)->initializer()->dims().size() >= 2)
        before[n.get()] = {n->input(1)->initializer()->dims()[output_axis(*n)], params_of(*n)};

  const std::map<const ir::Node*, at::Tensor> taylor =
      o.criterion == "taylor" ? taylor_importance(model, cg, o) : std::map<const ir::Node*, at::Tensor>();
  std::map<int, at::Tensor> scores;
  std::map<int, int64_t> sizes;
  for (const analysis::ChannelGroup& g : cg.groups) {
    if (cg.find(g.id) != g.id) continue;
    std::string reason = g.reason;
    if (g.prunable)
      for (const ir::Node* p : g.producers)
        if (keep.count(p->name)) reason = "kept (--keep or first convolution)";
    if (!g.prunable || !reason.empty()) {
      for (const ir::Node* p : g.producers) report.unprunable.push_back({p->name, reason});
      continue;
    }
    if (g.producers.empty()) continue;
    scores[g.id] = score_group(cg, g.id, graph, o.criterion, taylor);
    sizes[g.id] = g.size;
  }
  std::map<int, at::Tensor> kept;
  if (o.target_macs > 0 || o.target_params > 0) {
    // Bisection on the global threshold: the smallest one that meets the target.
    const bool macs = o.target_macs > 0;
    const double target = macs ? o.target_macs : o.target_params;
    const analysis::ModelCost cost = analysis::compute_cost(graph, types);
    double lo = 0, hi = 0;
    for (const auto& [group, score] : scores)
      hi = std::max(hi, (score / std::max(score.mean().item<double>(), 1e-30)).max().item<double>() + 1e-9);
    kept = decide(scores, sizes, hi, 0, o.round_to);
    report.predicted_fraction = fraction_left(graph, cost, cg, kept, macs, params_baseline);
    if (report.predicted_fraction > target) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "cannot reach %s %.3f: the prunable channel groups allow at most %.3f",
                    macs ? "--target-macs" : "--target-params", target, report.predicted_fraction);
      throw bad_input(buf);
    } else {
      for (int i = 0; i < 40; ++i) {
        const double mid = 0.5 * (lo + hi);
        const auto candidate = decide(scores, sizes, mid, 0, o.round_to);
        const double f = fraction_left(graph, cost, cg, candidate, macs, params_baseline);
        if (f <= target) {
          hi = mid;
          kept = candidate;
          report.predicted_fraction = f;
        } else {
          lo = mid;
        }
      }
    }
  } else {
    kept = decide(scores, sizes, std::nullopt, o.ratio, o.round_to);
  }
  report.groups_pruned = static_cast<int>(kept.size());
  if (kept.empty()) return report;

  // Producers: output channels of the weight and the bias.
  for (const auto& [root, idx] : kept) {
    for (ir::Node* p : cg.groups[root].producers) {
      select(p->input(1), output_axis(*p), idx);
      if (p->input(2) && p->input(2)->has_initializer() && p->input(2)->initializer()->dims().size() == 1)
        select(p->input(2), 0, idx);
    }
  }
  // Every tensor indexed by pruned channels.
  for (const analysis::ChannelUser& u : cg.users) select(u.tensor, u.axis, global_indices(cg, u.source, u.stride, kept));
  for (const auto& [node, source] : cg.depthwise)
    node->set_attribute(ir::Attribute::make_int("group", global_indices(cg, source, 1, kept).size(0)));
  // Shapes of intermediate values changed: drop what we knew about them.
  for (ir::Value* v : graph.values())
    if (!v->is_graph_input() && !v->is_graph_output()) v->type = ir::ValueType();

  for (const auto& n : graph.nodes()) {
    auto it = before.find(n.get());
    if (it == before.end()) continue;
    const int64_t channels = n->input(1)->initializer()->dims()[output_axis(*n)];
    report.layers.push_back({n->name, n->op_type(), it->second.first, channels, it->second.second, params_of(*n)});
  }
  return report;
}

}  // namespace nncompress::passes
