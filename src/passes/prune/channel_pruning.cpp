#include "nncompress/passes/prune/channel_pruning.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "nncompress/analysis/channel_groups.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/private_constants.h"
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

at::Tensor score_group(const ChannelGraph& cg, int root, const ir::Graph& graph, const std::string& criterion) {
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
  for (const ir::Node* p : g.producers) {
    const at::Tensor r = rows(*p).to(at::kDouble);
    if (criterion == "l2") score += r.pow(2).sum(1).sqrt();
    else if (criterion == "fpgm") score += at::cdist(r.unsqueeze(0), r.unsqueeze(0)).squeeze(0).sum(1);  // far from the median = keep
    else score += r.abs().sum(1);
  }
  return score;
}

// Kept indices (ascending) of a group with `size` channels.
at::Tensor choose(const at::Tensor& score, double ratio, int64_t round_to) {
  const int64_t size = score.size(0);
  int64_t keep = size - static_cast<int64_t>(std::floor(ratio * size));
  if (round_to > 1) keep = std::min(size, (keep + round_to - 1) / round_to * round_to);
  keep = std::max<int64_t>(1, keep);
  // Stable: equal scores keep the lower index, so results are deterministic.
  const at::Tensor order = std::get<1>(score.sort(/*stable=*/true, 0, /*descending=*/true));
  return std::get<0>(order.narrow(0, 0, keep).sort());
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
  ir::Tensor updated = runtime::from_aten(data.index_select(axis, idx), t->dtype());
  updated.name = t->name;
  updated.doc_string = t->doc_string;
  *t = std::move(updated);
}

int64_t params_of(const ir::Node& n) {
  int64_t p = 0;
  for (size_t i = 1; i < n.inputs().size(); ++i)
    if (n.input(i) && n.input(i)->has_initializer()) p += n.input(i)->initializer()->numel();
  return p;
}

}  // namespace

ChannelPruneReport prune_channels(ir::Model& model, const ir::TypeMap& types, const ChannelPruneOptions& o) {
  if (o.ratio < 0 || o.ratio >= 1) throw bad_input("--ratio must be in [0, 1)");
  if (o.criterion != "l1" && o.criterion != "l2" && o.criterion != "bn-scale" && o.criterion != "fpgm")
    throw bad_input("unknown criterion '" + o.criterion + "' (l1, l2, bn-scale, fpgm)");
  ir::Graph& graph = model.graph;
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

  std::map<int, at::Tensor> kept;
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
    const at::Tensor idx = choose(score_group(cg, g.id, graph, o.criterion), o.ratio, o.round_to);
    if (idx.size(0) == g.size) continue;
    kept[g.id] = idx;
    ++report.groups_pruned;
  }
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
