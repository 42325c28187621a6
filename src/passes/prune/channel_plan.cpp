#include "channel_plan.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

using analysis::ChannelGraph;

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

// Positions of the kept channels when each covers `stride` consecutive positions.
at::Tensor spread(const at::Tensor& idx, int64_t stride) {
  return stride > 1 ? (idx.unsqueeze(1) * stride + at::arange(stride, at::kLong).unsqueeze(0)).reshape({-1}) : idx;
}

// Global indices along a tensor axis for the channels of `source` that survive.
at::Tensor global_indices(const ChannelGraph& cg, const analysis::SegmentList& source, int64_t stride,
                          const KeptChannels& kept) {
  std::vector<at::Tensor> parts;
  int64_t offset = 0;
  for (const analysis::Segment& s : source) {
    auto it = kept.find(cg.find(s.group));
    const at::Tensor k = it != kept.end() ? it->second : at::arange(s.count, at::kLong);
    parts.push_back(k + offset);
    offset += s.count;
  }
  if (parts.empty()) return at::empty({0}, at::kLong);  // the empty part before a Slice from 0
  return spread(at::cat(parts), stride);
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

// A producer's output positions of the channels `idx` of group g, from the group's offset.
at::Tensor producer_positions(const analysis::ChannelGroup& g, const at::Tensor& idx) {
  std::vector<at::Tensor> thirds;
  for (int64_t r = 0; r < g.replicas; ++r) thirds.push_back(spread(idx + r * g.size, g.stride));
  return at::cat(thirds);
}

// The output positions each producer of a pruned group keeps: a pruned group's part of its output
// axis keeps the chosen channels; the parts of groups left whole (other Split parts) stay.
std::map<ir::Node*, at::Tensor> kept_outputs(const ChannelGraph& cg, const KeptChannels& kept) {
  std::map<ir::Node*, at::Tensor> keep;
  for (const auto& [root, idx] : kept) {
    const analysis::ChannelGroup& g = cg.groups[root];
    const int64_t extent = g.replicas * g.size * g.stride;
    const at::Tensor part = at::zeros({extent}, at::kBool).index_fill_(0, producer_positions(g, idx), true);
    for (size_t i = 0; i < g.producers.size(); ++i) {
      ir::Node* p = g.producers[i];
      auto it = keep.find(p);
      if (it == keep.end()) {
        const int64_t outputs = p->input(1)->initializer()->dims()[analysis::output_channel_axis(*p)];
        it = keep.emplace(p, at::ones({outputs}, at::kBool)).first;
      }
      it->second.narrow(0, g.offsets[i], extent).copy_(part);
    }
  }
  for (auto& [p, mask] : keep) mask = mask.nonzero().reshape({-1});
  return keep;
}

// The dims every initializer would have after removing the channels not in `kept`.
std::map<const ir::Value*, std::vector<int64_t>> dims_after(const ChannelGraph& cg, const KeptChannels& kept) {
  std::map<const ir::Value*, std::vector<int64_t>> dims;
  auto set = [&](const ir::Value* v, int64_t axis, int64_t n) {
    auto it = dims.emplace(v, v->initializer()->dims()).first;
    it->second[axis] = n;
  };
  for (const auto& [p, outputs] : kept_outputs(cg, kept)) {
    set(p->input(1), analysis::output_channel_axis(*p), outputs.size(0));
    if (has_vector_bias(*p)) set(p->input(2), 0, outputs.size(0));
  }
  for (const analysis::ChannelUser& u : cg.users)
    set(u.tensor, u.axis, global_indices(cg, u.source, u.stride, kept).size(0));
  return dims;
}

// A Slice along channels gets the bounds of its middle part after pruning: as attributes before
// opset 10, as new constant inputs from then on (exporters share such tensors).
void write_slice_bounds(ir::Graph& graph, ir::Node& slice, const std::vector<int64_t>& sizes) {
  const int64_t start = sizes[0], end = sizes[0] + sizes[1];
  if (slice.has_attribute("starts")) {
    slice.set_attribute(ir::Attribute::make_ints("starts", {start}));
    slice.set_attribute(ir::Attribute::make_ints("ends", {end}));
    return;
  }
  auto bound = [&](const char* suffix, int64_t v) {
    return add_constant(graph, slice.name + suffix, at::tensor(std::vector<int64_t>{v}, at::kLong), ir::DataType::Int64);
  };
  graph.set_input(&slice, 1, bound("_kept_start", start));
  graph.set_input(&slice, 2, bound("_kept_end", end));
}

// A Split along channels gets the sizes its parts keep: as its `split` attribute before opset 13,
// as its second input from then on (a new constant: exporters share such tensors). A Slice's
// parts are the channels before, inside and after it.
void write_split_sizes(ir::Graph& graph, ir::Node& split, const ChannelGraph& cg,
                       const std::vector<analysis::SegmentList>& parts, const KeptChannels& kept, int64_t opset) {
  std::vector<int64_t> sizes;
  bool changed = false;
  for (const analysis::SegmentList& part : parts) {
    sizes.push_back(global_indices(cg, part, 1, kept).size(0));
    int64_t before = 0;
    for (const analysis::Segment& s : part) before += s.count;
    changed = changed || sizes.back() != before;
  }
  if (!changed) return;
  if (split.op_type() == "Slice") return write_slice_bounds(graph, split, sizes);
  if (split.has_attribute("split") || (opset < 13 && !split.input(1))) {
    split.set_attribute(ir::Attribute::make_ints("split", sizes));
    return;
  }
  split.remove_attribute("num_outputs");
  graph.set_input(&split, 1, add_constant(graph, split.name + "_kept_sizes", at::tensor(sizes, at::kLong), ir::DataType::Int64));
}

}  // namespace


at::Tensor per_channel(const analysis::ChannelGroup& g, size_t producer, const at::Tensor& outputs) {
  return outputs.narrow(0, g.offsets[producer], g.replicas * g.size * g.stride)
      .reshape({g.replicas, g.size, -1})
      .transpose(0, 1)
      .reshape({g.size, -1});
}

bool has_vector_bias(const ir::Node& p) {
  return p.input(2) && p.input(2)->has_initializer() && p.input(2)->initializer()->dims().size() == 1;
}

at::Tensor output_rows(const ir::Node& n) {
  const at::Tensor w = runtime::to_aten(*n.input(1)->initializer()).to(at::kFloat);
  const int64_t axis = analysis::output_channel_axis(n);
  return w.transpose(0, axis).reshape({w.size(axis), -1});
}

ChannelPlan plan_channels(ir::Model& model, const ir::TypeMap& types, const std::vector<std::string>& keep_names,
                          bool keep_first_conv) {
  ir::Graph& graph = model.graph;
  ChannelPlan plan;
  for (const ir::Value* v : graph.initializers()) plan.params_baseline += static_cast<double>(v->initializer()->numel());
  make_constants_private(graph);
  plan.opset = model.opset_version();
  plan.cg = analysis::build_channel_graph(graph, types);

  // Producers left alone by request, with the true reason for each.
  std::map<std::string, std::string> keep;
  for (const std::string& name : keep_names) keep[name] = "kept (named in keep)";
  if (keep_first_conv)
    for (const ir::Node* n : graph.topological_order())
      if (n->op_type() == "Conv") {
        keep.emplace(n->name, "kept (the first convolution)");
        break;
      }
  for (const auto& n : graph.nodes())
    if (analysis::is_weighted_layer(*n))
      if (n->input(1) && n->input(1)->has_initializer() && n->input(1)->initializer()->dims().size() >= 2)
        plan.before[n.get()] = {n->input(1)->initializer()->dims()[analysis::output_channel_axis(*n)], params_of(*n)};

  for (const analysis::ChannelGroup& g : plan.cg.groups) {
    if (plan.cg.find(g.id) != g.id) continue;
    std::string reason = g.reason;
    if (g.prunable)
      for (const ir::Node* p : g.producers)
        if (auto it = keep.find(p->name); it != keep.end()) reason = it->second;
    if (!g.prunable || !reason.empty()) {
      for (const ir::Node* p : g.producers) plan.unprunable.push_back({p->name, reason});
      continue;
    }
    if (!g.producers.empty()) plan.sizes[g.id] = g.size;
  }
  return plan;
}

KeptChannels decide(const ChannelPlan& plan, const std::map<int, at::Tensor>& scores, std::optional<double> threshold,
                    double ratio, int64_t round_to, bool normalize) {
  KeptChannels kept;
  for (const auto& [group, score] : scores) {
    const int64_t size = plan.sizes.at(group);
    // round_to counts features: a channel of `stride` features (an attention head) needs fewer
    // channels to a multiple (heads of 64 meet any multiple of 8 one by one).
    const int64_t stride = std::max<int64_t>(1, plan.cg.groups[group].stride);
    const int64_t rounding = round_to / std::gcd(round_to, stride);
    int64_t count = keep_count(size, ratio, rounding);
    if (threshold) {
      const at::Tensor d = score.to(at::kDouble);
      const at::Tensor s = normalize ? d / std::max(d.mean().item<double>(), 1e-30) : d;
      const int64_t above = s.ge(*threshold).sum().item<int64_t>();
      count = keep_count(size, 1.0 - static_cast<double>(above) / size, rounding);
    }
    if (count < size) kept[group] = top(score, count);
  }
  return kept;
}

// MACs of a Conv/Gemm/MatMul scale with its weight's element count, since spatial sizes do not
// change; those of attention's Q K^T and attention x V with the share of heads kept.
double fraction_left(const ir::Graph& graph, const analysis::ModelCost& cost, const ChannelPlan& plan,
                     const KeptChannels& kept, bool macs) {
  const auto dims = dims_after(plan.cg, kept);
  auto numel_after = [&](const ir::Value* v) {
    auto it = dims.find(v);
    return it == dims.end() ? v->initializer()->numel() : ir::element_count(it->second);
  };
  std::map<const ir::Node*, double> heads_kept;
  for (const auto& [node, group] : plan.cg.head_matmuls)
    if (auto it = kept.find(plan.cg.find(group)); it != kept.end())
      heads_kept[node] = static_cast<double>(it->second.size(0)) / static_cast<double>(plan.sizes.at(it->first));
  double before = 0, after = 0;
  if (macs) {
    for (const analysis::NodeCost& nc : cost.nodes) {
      if (!nc.macs || *nc.macs == 0) continue;
      before += static_cast<double>(*nc.macs);
      const ir::Value* w = nc.node->input(1);
      const bool scaled = w && w->has_initializer() && w->initializer()->numel() > 0;
      const auto share = heads_kept.find(nc.node);
      after += scaled                        ? static_cast<double>(*nc.macs) * numel_after(w) / w->initializer()->numel()
               : share != heads_kept.end() ? static_cast<double>(*nc.macs) * share->second
                                           : static_cast<double>(*nc.macs);
    }
  } else {
    before = plan.params_baseline;
    for (const ir::Value* v : graph.initializers()) after += static_cast<double>(numel_after(v));
  }
  return before > 0 ? after / before : 1.0;
}

void require_known_macs(const analysis::ModelCost& cost) {
  if (cost.nodes_with_unknown_macs == 0) return;
  for (const analysis::NodeCost& c : cost.nodes)
    if (!c.macs)
      throw bad_input("target-macs needs the MACs of every layer, but " + std::to_string(cost.nodes_with_unknown_macs) +
                      " have unknown shapes (first: " + c.node->describe() +
                      "); fix the input shapes with --input-shape NAME=1,3,H,W");
}

KeptChannels meet_target(const ir::Graph& graph, const analysis::ModelCost& cost, const ChannelPlan& plan,
                         const std::map<int, at::Tensor>& scores, double target, bool macs, int64_t round_to,
                         bool normalize, double& predicted) {
  if (macs) require_known_macs(cost);
  double lo = 0, hi = 0;
  for (const auto& [group, score] : scores) {
    const at::Tensor s = normalize ? score / std::max(score.mean().item<double>(), 1e-30) : score;
    // Margins relative to the values, and decide() compares in double: float32 scores (AutoPrune's
    // auxiliaries) would otherwise round the margin away.
    const double min = s.min().item<double>(), max = s.max().item<double>();
    lo = std::min(lo, min - 1e-9 * (1 + std::abs(min)));
    hi = std::max(hi, max + 1e-9 * (1 + std::abs(max)));
  }
  KeptChannels kept = decide(plan, scores, hi, 0, round_to, normalize);
  predicted = fraction_left(graph, cost, plan, kept, macs);
  if (predicted > target) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "cannot reach %s %.3f: the prunable channel groups allow at most %.3f",
                  macs ? "target-macs" : "target-params", target, predicted);
    throw bad_input(buf);
  }
  for (int i = 0; i < 40; ++i) {
    const double mid = 0.5 * (lo + hi);
    KeptChannels candidate = decide(plan, scores, mid, 0, round_to, normalize);
    const double f = fraction_left(graph, cost, plan, candidate, macs);
    if (f <= target) {
      hi = mid;
      kept = std::move(candidate);
      predicted = f;
    } else {
      lo = mid;
    }
  }
  return kept;
}

std::vector<LayerChange> remove_channels(ir::Graph& graph, const ChannelPlan& plan, const KeptChannels& kept) {
  const ChannelGraph& cg = plan.cg;
  if (!kept.empty()) {
    // Producers: output channels of the weight and the bias.
    for (const auto& [p, outputs] : kept_outputs(cg, kept)) {
      select(p->input(1), analysis::output_channel_axis(*p), outputs);
      if (has_vector_bias(*p)) select(p->input(2), 0, outputs);
    }
    for (const auto& [node, parts] : cg.splits) write_split_sizes(graph, *node, cg, parts, kept, plan.opset);
    for (const auto& [constant, group] : cg.head_counts)
      if (auto it = kept.find(cg.find(group)); it != kept.end()) {
        const at::Tensor t = runtime::to_aten(*constant.tensor->initializer()).clone();
        t.view({-1})[constant.element] = it->second.size(0) * constant.multiplier;
        runtime::replace_data(*constant.tensor->mutable_initializer(), t);
      }
    for (const auto& [width, group] : cg.computed_widths)
      if (auto it = kept.find(cg.find(group)); it != kept.end())
        graph.set_input(width.concat, width.input,
                        add_constant(graph, width.concat->name + "_kept_width",
                                     at::tensor(std::vector<int64_t>{it->second.size(0) * width.head_dim}, at::kLong),
                                     ir::DataType::Int64));
    // Every tensor indexed by pruned channels.
    for (const analysis::ChannelUser& u : cg.users) select(u.tensor, u.axis, global_indices(cg, u.source, u.stride, kept));
    for (const auto& [node, source] : cg.depthwise)
      node->set_attribute(ir::Attribute::make_int("group", global_indices(cg, source, 1, kept).size(0)));
    for (ir::Value* shape : cg.flatten_shapes)
      runtime::replace_data(*shape->mutable_initializer(), at::tensor(std::vector<int64_t>{0, -1}, at::kLong));
    // Shapes of intermediate values changed: drop what we knew about them.
    for (ir::Value* v : graph.values())
      if (!v->is_graph_input() && !v->is_graph_output()) v->type = ir::ValueType();
  }
  std::vector<LayerChange> layers;
  for (const auto& n : graph.nodes()) {
    auto it = plan.before.find(n.get());
    if (it == plan.before.end()) continue;
    const int64_t channels = n->input(1)->initializer()->dims()[analysis::output_channel_axis(*n)];
    layers.push_back({n->name, n->op_type(), it->second.first, channels, it->second.second, params_of(*n)});
  }
  return layers;
}

}  // namespace nncompress::passes
