#include "nncompress/analysis/channel_groups.h"

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "nncompress/analysis/group_norm.h"
#include "nncompress/analysis/int_constant.h"
#include "nncompress/analysis/static_shape.h"

namespace nncompress::analysis {

int ChannelGraph::find(int g) const {
  while (parent[g] != g) g = parent[g];
  return g;
}

std::vector<int> ChannelGraph::prunable_groups() const {
  std::vector<int> out;
  for (const ChannelGroup& g : groups)
    if (find(g.id) == g.id && g.prunable) out.push_back(g.id);
  return out;
}

namespace {

const std::set<std::string> kPassThrough = {
    "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Elu", "Selu", "Softplus",
    "Softsign", "Gelu", "Dropout", "Identity", "Neg", "Abs", "Sqrt", "Erf", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "LpPool"};
const std::set<std::string> kElementwise = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum"};
// Reductions that keep each channel apart when they reduce neither the batch nor the channel axis
// (global pooling written as ReduceMean over [2, 3], with or without keepdims).
const std::set<std::string> kReductions = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL1", "ReduceL2",
                                           "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ReduceProd"};
// Pass-through ops that treat axis 1 as channels: wrong for features on the last axis.
const std::set<std::string> kPools = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool"};

struct Channels {
  SegmentList list;
  int64_t stride = 1;
  // Features on the last axis of a rank >= 3 tensor ([batch, tokens, features]: a MatMul over
  // token rows, as in transformer MLPs) rather than on axis 1.
  bool last = false;
};

class Builder {
 public:
  Builder(ir::Graph& g, const ir::TypeMap& types) : graph_(g), types_(types) {}

  ChannelGraph build() {
    blocks_ = find_attention_blocks(graph_, types_);
    block_group_.assign(blocks_.size(), -1);
    for (size_t b = 0; b < blocks_.size(); ++b) {
      for (ir::Node* p : blocks_[b].projections) projection_block_[p] = b;
      for (ir::Node* r : blocks_[b].splits) head_splits_.insert(r);
      merge_block_[blocks_[b].merge] = b;
    }
    block_joined_.assign(blocks_.size(), 0);
    group_norms_ = find_group_norms(graph_);
    for (size_t i = 0; i < group_norms_.size(); ++i) {
      group_norm_of_[group_norms_[i].split] = i;
      for (const ir::Node* inner : {group_norms_[i].norm, group_norms_[i].merge, group_norms_[i].shape})
        if (inner) group_norm_inner_.insert(inner);
    }
    for (ir::Node* n : graph_.topological_order()) visit(*n);
    for (size_t b = 0; b < blocks_.size(); ++b) {
      if (block_group_[b] < 0) continue;
      // Q, K and V lose the same heads or none: a projection that did not join blocks the rest.
      if (block_joined_[b] != static_cast<int>(blocks_[b].projections.size()))
        block({{block_group_[b], blocks_[b].heads}}, "not every projection of the attention block joined its heads");
      for (const HeadCountConstant& h : blocks_[b].head_counts) cg_.head_counts.push_back({h, block_group_[b]});
      for (const ComputedWidth& w : blocks_[b].computed_widths) cg_.computed_widths.push_back({w, block_group_[b]});
      for (const ir::Node* m : blocks_[b].head_matmuls) cg_.head_matmuls.push_back({m, block_group_[b]});
      for (const auto& [constant, axis] : blocks_[b].per_head_constants)
        cg_.users.push_back({constant, axis, {{block_group_[b], blocks_[b].heads}}, 1});
    }
    for (ir::Value* out : graph_.outputs())
      if (auto* c = find(out)) block(c->list, "reaches the graph output '" + out->name() + "'");
    // A tensor axis indexed by two different channel sources cannot be rewritten for both.
    std::map<std::pair<const ir::Value*, int64_t>, size_t> seen;
    for (size_t i = 0; i < cg_.users.size(); ++i) {
      auto [it, fresh] = seen.emplace(std::make_pair(cg_.users[i].tensor, cg_.users[i].axis), i);
      if (!fresh) {
        block(cg_.users[i].source, "shares the tensor '" + cg_.users[i].tensor->name() + "' with other channels");
        block(cg_.users[it->second].source, "shares the tensor '" + cg_.users[i].tensor->name() + "' with other channels");
      }
    }
    // Unprunable members make the whole union unprunable.
    for (ChannelGroup& g : cg_.groups) {
      ChannelGroup& root = cg_.groups[cg_.find(g.id)];
      if (!g.prunable && root.prunable) {
        root.prunable = false;
        root.reason = g.reason;
      }
    }
    return std::move(cg_);
  }

 private:
  int new_group(int64_t size, ir::Node* producer, const std::string& unprunable_reason = "") {
    const int id = static_cast<int>(cg_.groups.size());
    ChannelGroup g;
    g.id = id;
    g.size = size;
    if (producer) {
      g.producers.push_back(producer);
      g.offsets.push_back(0);
    }
    g.prunable = unprunable_reason.empty();
    g.reason = unprunable_reason;
    cg_.groups.push_back(g);
    cg_.parent.push_back(id);
    return id;
  }

  void block(const SegmentList& list, const std::string& reason) {
    for (const Segment& s : list) {
      ChannelGroup& g = cg_.groups[s.group];
      if (g.prunable) {
        g.prunable = false;
        g.reason = reason;
      }
    }
  }

  void unite(int a, int b) {
    a = cg_.find(a);
    b = cg_.find(b);
    if (a == b) return;
    cg_.parent[b] = a;
    ChannelGroup& ga = cg_.groups[a];
    const ChannelGroup& gb = cg_.groups[b];
    ga.producers.insert(ga.producers.end(), gb.producers.begin(), gb.producers.end());
    ga.offsets.insert(ga.offsets.end(), gb.offsets.begin(), gb.offsets.end());
  }

  Channels* find(const ir::Value* v) {
    auto it = channels_.find(v);
    return it == channels_.end() ? nullptr : &it->second;
  }

  std::optional<std::vector<int64_t>> shape(const ir::Value* v) const { return static_dims(v, types_); }

  // The channels of a data input; values from outside any group (graph inputs) get a fixed group.
  Channels channels_of(ir::Value* v, int64_t size, const ir::Node& reader) {
    if (auto* c = find(v)) return *c;
    Channels c;
    c.list = {{new_group(size, nullptr, "comes from outside the prunable graph (input of " + reader.describe() + ")"), size}};
    return c;
  }

  static int64_t total(const SegmentList& l) {
    int64_t n = 0;
    for (const Segment& s : l) n += s.count;
    return n;
  }

  void user(ir::Value* tensor, int64_t axis, const Channels& c) {
    cg_.users.push_back({tensor, axis, c.list, c.stride});
  }

  void produce(ir::Node& n, size_t output, int64_t size, const std::string& unprunable = "") {
    if (n.output(output)) channels_[n.output(output)] = {{{new_group(size, unprunable.empty() ? &n : nullptr, unprunable), size}}, 1};
  }

  // Conv and ConvTranspose (weights [out, in / groups, ...] and [in, out / groups, ...]).
  void visit_conv(ir::Node& n) {
    ir::Value* w = n.input(1);
    if (!w || !w->has_initializer() || w->initializer()->dims().size() < 3) {
      if (auto* c = find(n.input(0))) block(c->list, "read by " + n.describe() + " whose weight is not a constant");
      return;
    }
    const auto& wd = w->initializer()->dims();
    const bool transposed = n.op_type() == "ConvTranspose";
    const int64_t in_axis = transposed ? 0 : 1;
    const int64_t groups = n.attr_int("group", 1);
    const int64_t cin = transposed ? wd[0] : wd[1] * groups, cout = transposed ? wd[1] * groups : wd[0];
    const Channels in = channels_of(n.input(0), cin, n);
    // A strided list (GroupNorm's groups: runs of channels) is read through the weight's input axis.
    if (total(in.list) * in.stride != cin || groups < 1 || (in.stride != 1 && groups != 1) || in.last) {
      block(in.list, "channel count mismatch at " + n.describe());
      produce(n, 0, cout, "follows a channel mismatch");
      return;
    }
    if (groups == 1) {
      user(w, in_axis, in);
      produce(n, 0, cout);
      return;
    }
    if (groups == cin && cout == cin) {  // depthwise: output channel i is input channel i
      user(w, 0, in);
      if (n.input(2) && n.input(2)->has_initializer()) user(n.input(2), 0, in);
      cg_.depthwise.push_back({&n, in.list});
      channels_[n.output(0)] = in;
      return;
    }
    // Grouped (ResNeXt, RegNet): output channel g * w + i follows input channel g * w + i when both
    // sides have w channels per group, so the same i leaves every group and `group` stays.
    const bool widens = cout != cin;
    if (widens && (transposed || cout % groups != 0)) {  // a ConvTranspose's axis 1 holds one group's outputs
      block(in.list, "read by the grouped convolution " + n.describe() + " whose groups widen or narrow");
      produce(n, 0, cout, "output of the grouped convolution " + n.describe());
      return;
    }
    std::optional<SegmentList> per_group = replicated(in.list, groups);
    if (!per_group) {
      block(in.list, "read by the grouped convolution " + n.describe() + " from channels of several sources");
      produce(n, 0, cout, "output of the grouped convolution " + n.describe());
      return;
    }
    if (widens) {  // its inputs lose the same i in every group; its outputs are a group repeated per conv group
      user(w, 1, {{per_group->front()}, 1, false});
      const int out = new_group(cout / groups, &n);
      cg_.groups[out].replicas = groups;
      channels_[n.output(0)] = {SegmentList(groups, {out, cout / groups}), 1, false};
      return;
    }
    // Axis 0 holds every channel (outputs of a Conv, inputs of a ConvTranspose), axis 1 a group's.
    const Channels across = {*per_group, 1, false};
    user(w, 0, across);
    user(w, 1, {{per_group->front()}, 1, false});
    if (n.input(2) && n.input(2)->has_initializer()) user(n.input(2), 0, across);
    channels_[n.output(0)] = across;
  }

  // `list` as `copies` equal runs of one group's channels, the layout a grouped convolution needs
  // (each of its groups keeps the same channels). A single segment of a plain group (one copy, one
  // position per channel) is re-divided in place; nullopt when the list cannot take that layout.
  std::optional<SegmentList> replicated(const SegmentList& list, int64_t copies) {
    if (list.empty()) return std::nullopt;
    const int root = cg_.find(list[0].group);
    if (static_cast<int64_t>(list.size()) == copies) {
      for (const Segment& s : list)
        if (cg_.find(s.group) != root || s.count != list[0].count) return std::nullopt;
      return cg_.groups[root].replicas == copies ? std::optional<SegmentList>(list) : std::nullopt;
    }
    ChannelGroup& g = cg_.groups[root];
    if (list.size() != 1 || g.replicas != 1 || g.stride != 1 || g.size != list[0].count || g.size % copies != 0)
      return std::nullopt;
    const int64_t whole = g.size;
    g.size = whole / copies;
    g.replicas = copies;
    rewrite_lists(root, whole, [&](const Segment& s) { return SegmentList(copies, {s.group, g.size}); });
    return SegmentList(copies, {list[0].group, g.size});
  }

  // Every list recorded so far that names the `whole` channels of `root` as one run gets
  // `parts(segment)` in its place.
  template <typename Parts>
  void rewrite_lists(int root, int64_t whole, Parts parts) {
    auto rewrite = [&](SegmentList& l) {
      SegmentList out;
      for (const Segment& s : l) {
        if (cg_.find(s.group) != root || s.count != whole) {
          out.push_back(s);
          continue;
        }
        const SegmentList p = parts(s);
        out.insert(out.end(), p.begin(), p.end());
      }
      l = std::move(out);
    };
    for (auto& [value, c] : channels_) rewrite(c.list);
    for (ChannelUser& u : cg_.users) rewrite(u.source);
    for (auto& [node, l] : cg_.depthwise) rewrite(l);
    for (auto& [node, outs] : cg_.splits)
      for (SegmentList& l : outs) rewrite(l);
  }

  // Cuts a plain group (one copy, one position per channel) after its first `at` channels: the
  // rest becomes a group of its own, made by the same producers further along their outputs.
  bool cut(const Segment& seg, int64_t at) {
    const int root = cg_.find(seg.group);
    const ChannelGroup& g = cg_.groups[root];
    if (g.replicas != 1 || g.stride != 1 || seg.count != g.size || at <= 0 || at >= g.size) return false;
    const int64_t whole = g.size;
    std::string reason;  // the cut-off channels stay as prunable as the union they leave
    for (const ChannelGroup& member : cg_.groups)
      if (!member.prunable && cg_.find(member.id) == root) reason = member.reason;
    const int rest = new_group(whole - at, nullptr, reason);
    ChannelGroup& head = cg_.groups[root];  // new_group may have moved the groups
    ChannelGroup& tail = cg_.groups[rest];
    for (size_t i = 0; i < head.producers.size(); ++i) {
      tail.producers.push_back(head.producers[i]);
      tail.offsets.push_back(head.offsets[i] + at);
    }
    head.size = at;
    rewrite_lists(root, whole, [&](const Segment& s) { return SegmentList{{s.group, at}, {rest, whole - at}}; });
    return true;
  }

  // Split along channels: each output carries its part of the list; a part boundary inside a
  // group's run cuts that group in two.
  void visit_split(ir::Node& n, const Channels& in) {
    const auto s = shape(n.input(0));
    int64_t axis = n.attr_int("axis", 0);
    if (axis < 0 && s) axis += static_cast<int64_t>(s->size());
    std::vector<int64_t> sizes = n.attr_ints("split", {});
    if (const auto constant = int_constant(n.input(1))) {
      sizes = *constant;
    } else if (n.input(1)) {
      return block(in.list, "split into computed sizes by " + n.describe());
    }
    const int64_t channels = total(in.list);
    if (sizes.empty() && !n.outputs().empty() && channels % static_cast<int64_t>(n.outputs().size()) == 0)
      sizes.assign(n.outputs().size(), channels / static_cast<int64_t>(n.outputs().size()));
    int64_t sum = 0;
    for (int64_t v : sizes) sum += v > 0 ? v : channels + 1;
    if (axis != 1 || in.stride != 1 || in.last || sizes.size() != n.outputs().size() || sum != channels)
      return block(in.list, "split by " + n.describe() + " not into parts along channels");
    const std::optional<std::vector<SegmentList>> parts = cut_into_parts(n, sizes);
    if (!parts) return;
    for (size_t o = 0; o < sizes.size(); ++o)
      if (n.output(o)) channels_[n.output(o)] = {(*parts)[o], 1, false};
    cg_.splits.push_back({&n, *parts});
  }

  // The channels of n's first input in consecutive parts of `sizes` channels (summing to all of
  // them); a part boundary inside a group's run cuts that group in two. nullopt (the channels
  // blocked) when a boundary falls where no cut is possible.
  std::optional<std::vector<SegmentList>> cut_into_parts(const ir::Node& n, const std::vector<int64_t>& sizes) {
    int64_t boundary = 0;
    for (size_t o = 0; o + 1 < sizes.size(); ++o) {
      boundary += sizes[o];
      const SegmentList list = find(n.input(0))->list;  // cut() rewrites it
      int64_t start = 0;
      for (const Segment& seg : list) {
        if (boundary > start && boundary < start + seg.count) {
          if (!cut(seg, boundary - start)) {
            block(list, "split by " + n.describe() + " inside channels it cannot cut");
            return std::nullopt;
          }
          break;
        }
        start += seg.count;
      }
    }
    const SegmentList list = find(n.input(0))->list;
    std::vector<SegmentList> parts(sizes.size());
    size_t next = 0;
    for (size_t o = 0; o < sizes.size(); ++o)
      for (int64_t filled = 0; filled < sizes[o] && next < list.size(); ++next) {
        filled += list[next].count;
        parts[o].push_back(list[next]);
      }
    return parts;
  }

  // Slice along channels only (one axis, step 1, constant bounds): the channels before, inside
  // and after the slice are cut apart like a Split's three parts, and the output gets the middle.
  void visit_slice(ir::Node& n, const Channels& in) {
    const std::optional<std::pair<int64_t, int64_t>> range = channel_slice(n, total(in.list));
    if (!range || in.stride != 1 || in.last) return block(in.list, "sliced by " + n.describe() + " other than along channels");
    const int64_t channels = total(in.list);
    const std::vector<int64_t> sizes = {range->first, range->second - range->first, channels - range->second};
    const std::optional<std::vector<SegmentList>> parts = cut_into_parts(n, sizes);
    if (!parts) return;
    channels_[n.output(0)] = {(*parts)[1], 1, false};
    cg_.splits.push_back({&n, *parts});
  }

  // [start, end) of a Slice that takes channels [start, end) with step 1 and leaves every other
  // axis whole; nullopt for anything else (computed bounds, other axes, steps, an empty range).
  std::optional<std::pair<int64_t, int64_t>> channel_slice(const ir::Node& n, int64_t channels) const {
    auto ints = [&](size_t input, const char* attribute) -> std::optional<std::vector<int64_t>> {
      if (n.has_attribute(attribute)) return n.attr_ints(attribute, {});
      const ir::Value* v = input < n.inputs().size() ? n.input(input) : nullptr;
      if (!v) return std::vector<int64_t>{};
      if (!v->has_initializer()) return std::nullopt;
      const at::Tensor t = v->initializer()->data().to(at::kLong).contiguous();
      return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
    };
    const auto starts = ints(1, "starts"), ends = ints(2, "ends"), axes = ints(3, "axes"), steps = ints(4, "steps");
    if (!starts || !ends || !axes || !steps || starts->size() != 1 || ends->size() != 1) return std::nullopt;
    const auto s = shape(n.input(0));
    const int64_t axis = axes->empty() ? 0 : (*axes)[0] < 0 && s ? (*axes)[0] + static_cast<int64_t>(s->size()) : (*axes)[0];
    if (axis != 1 || axes->size() > 1 || (!steps->empty() && (steps->size() != 1 || (*steps)[0] != 1))) return std::nullopt;
    auto clamp = [channels](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + channels : i, 0, channels); };
    const int64_t start = clamp((*starts)[0]), end = clamp((*ends)[0]);
    if (start >= end) return std::nullopt;
    return std::make_pair(start, end);
  }

  // GroupNorm: its channels leave in whole groups of C / G, so the channel group it normalizes is
  // coarsened to one unit per norm group, and G is rewritten where it is written down.
  void visit_group_norm(const GroupNormBlock& b, const Channels in) {
    const int64_t channels = total(in.list);
    const int root = in.list.size() == 1 ? cg_.find(in.list[0].group) : -1;
    if (in.stride != 1 || root < 0 || channels % b.groups != 0 || !coarsen(root, channels, channels / b.groups))
      return block(in.list, "group-normalized by " + b.split->describe() + " in groups it cannot remove whole");
    const Channels groups = {{{in.list[0].group, b.groups}}, 1, false};
    channels_[b.split->output(0)] = groups;
    user(b.norm->input(1), 0, groups);
    user(b.norm->input(2), 0, groups);
    channels_[b.norm->output(0)] = groups;
    channels_[b.merge->output(0)] = {groups.list, channels / b.groups, false};
    cg_.head_counts.push_back({{b.split_target, 1, 1}, root});
    if (b.merge_target) cg_.head_counts.push_back({{b.merge_target, 1, channels / b.groups}, root});
  }

  // Makes each channel of the plain group `root` (`whole` channels) a run of `factor` consecutive
  // channels: one unit of size()/factor, `stride` factor. Every list naming the group must name
  // all of it alone (a user's stride covers its whole list); false, with nothing changed, if not.
  bool coarsen(int root, int64_t whole, int64_t factor) {
    ChannelGroup& g = cg_.groups[root];
    if (g.replicas != 1 || g.stride != 1 || g.size != whole || whole % factor != 0) return false;
    auto names = [&](const SegmentList& l) {
      return std::any_of(l.begin(), l.end(), [&](const Segment& s) { return cg_.find(s.group) == root; });
    };
    auto alone = [&](const SegmentList& l) { return l.size() == 1 && l[0].count == whole; };
    for (const auto& [value, c] : channels_)
      if (names(c.list) && !alone(c.list)) return false;
    for (const ChannelUser& u : cg_.users)
      if (names(u.source) && !alone(u.source)) return false;
    for (const auto& [node, l] : cg_.depthwise)
      if (names(l)) return false;
    for (const auto& [node, outs] : cg_.splits)
      for (const SegmentList& l : outs)
        if (names(l)) return false;
    for (const auto& [constant, group] : cg_.head_counts)
      if (cg_.find(group) == root) return false;
    g.size = whole / factor;
    g.stride = factor;
    for (auto& [value, c] : channels_)
      if (names(c.list)) c.list[0].count = g.size, c.stride *= factor;
    for (ChannelUser& u : cg_.users)
      if (names(u.source)) u.source[0].count = g.size, u.stride *= factor;
    return true;
  }

  // Gemm (A activation, B constant) and MatMul(activation, constant 2-D).
  void visit_dense(ir::Node& n) {
    ir::Value* w = n.input(1);
    const bool gemm = n.op_type() == "Gemm";
    const bool trans_b = gemm && n.attr_int("transB", 0) != 0;
    if (!w || !w->has_initializer() || w->initializer()->dims().size() != 2 || (gemm && n.attr_int("transA", 0))) {
      if (auto* c = find(n.input(0))) block(c->list, "read by " + n.describe());
      if (auto* c = find(n.input(1))) block(c->list, "read by " + n.describe());
      return;
    }
    bool batched = false;  // [..., rows, K] x [K, N]: features on the last axis
    if (!gemm) {
      const auto a = shape(n.input(0));
      if (!a || a->size() < 2) {
        if (auto* c = find(n.input(0))) block(c->list, "read by the MatMul " + n.describe() + " of unknown rank");
        return;
      }
      batched = a->size() > 2;
    }
    const auto& wd = w->initializer()->dims();
    const int64_t k = trans_b ? wd[1] : wd[0], out = trans_b ? wd[0] : wd[1];
    const bool grouped = find(n.input(0)) != nullptr;
    const Channels in = channels_of(n.input(0), k, n);
    // A batched MatMul reads the last axis: channels on axis 1 of a feature map are not its rows.
    if (total(in.list) * in.stride != k || (grouped && batched && !in.last)) {
      block(in.list, "feature count mismatch at " + n.describe());
      produce(n, 0, out, "follows a feature mismatch");
      return;
    }
    user(w, trans_b ? 1 : 0, in);
    ir::Value* c = gemm ? n.input(2) : nullptr;
    const bool per_output_bias = !c || (c->has_initializer() && c->initializer()->dims() == std::vector<int64_t>{out});
    produce(n, 0, out, per_output_bias ? "" : "has a bias that is not per output feature (" + n.describe() + ")");
    if (batched && n.output(0)) channels_[n.output(0)].last = true;
    if (auto it = projection_block_.find(&n); batched && it != projection_block_.end()) head_projection(n, blocks_[it->second], it->second);
  }

  // Q, K and V of one attention block: one group whose channels are heads.
  void head_projection(ir::Node& n, const AttentionBlock& b, size_t block) {
    Channels& c = channels_[n.output(0)];
    ChannelGroup& g = cg_.groups[c.list[0].group];
    g.size = b.heads;
    g.stride = b.head_dim;
    g.replicas = b.replicas;
    c = {SegmentList(b.replicas, {g.id, b.heads}), b.head_dim, true};
    if (block_group_[block] < 0) block_group_[block] = g.id;
    else unite(block_group_[block], g.id);
    ++block_joined_[block];
  }

  // Shape of a tensor with features on the last axis, read only for other axes (batch, tokens).
  bool reads_other_axes(const ir::Node& shape_node, int64_t rank) const {
    if (shape_node.has_attribute("start") || shape_node.has_attribute("end")) return false;
    for (const ir::Use& u : shape_node.output(0)->uses()) {
      const ir::Node& g = *u.node;
      const ir::Value* idx = g.input(1);
      if (g.op_type() != "Gather" || u.index != 0 || !idx || !idx->has_initializer() || idx->initializer()->numel() != 1)
        return false;
      const int64_t i = int_scalar(*idx->initializer());
      if (i == rank - 1 || i == -1) return false;
    }
    return true;
  }

  // An integer constant's one value (-1, the last axis, for other types: the safe answer here).
  static int64_t int_scalar(const ir::Tensor& t) {
    const at::Tensor d = t.data().contiguous();
    return d.scalar_type() == at::kLong ? d.data_ptr<int64_t>()[0] : d.scalar_type() == at::kInt ? d.data_ptr<int32_t>()[0] : -1;
  }

  // A plain run of channels meeting channels laid out per group (a grouped convolution's output,
  // which RegNet's squeeze-excitation multiplies) takes that layout too.
  void align_layouts(const ir::Node& n) {
    int64_t copies = 1;
    for (ir::Value* in : n.inputs())
      if (auto* c = find(in); c && c->list.size() > 1 && cg_.groups[cg_.find(c->list[0].group)].replicas > 1)
        copies = cg_.groups[cg_.find(c->list[0].group)].replicas;
    if (copies == 1) return;
    for (ir::Value* in : n.inputs())
      if (auto* c = find(in); c && c->list.size() == 1 && c->stride == 1 && !c->last) replicated(c->list, copies);
  }

  void visit_elementwise(ir::Node& n) {
    align_layouts(n);
    std::vector<Channels> lists;
    const auto out_shape = shape(n.output(0));
    for (ir::Value* in : n.inputs())
      if (auto* c = find(in)) lists.push_back(*c);
    if (lists.empty()) return;
    const Channels& first = lists[0];
    for (size_t i = 1; i < lists.size(); ++i) {
      const Channels& other = lists[i];
      if (other.list.size() != first.list.size() || other.stride != first.stride || other.last != first.last) {
        block(first.list, "mixed channel layouts at " + n.describe());
        block(other.list, "mixed channel layouts at " + n.describe());
        continue;
      }
      for (size_t s = 0; s < first.list.size(); ++s) {
        if (first.list[s].count != other.list[s].count ||
            cg_.group(first.list[s].group).replicas != cg_.group(other.list[s].group).replicas) {
          block(first.list, "mixed channel layouts at " + n.describe());
          block(other.list, "mixed channel layouts at " + n.describe());
          break;
        }
        unite(first.list[s].group, other.list[s].group);
      }
    }
    // Constant operands: scalars broadcast; per-channel tensors become users; anything else blocks.
    for (ir::Value* in : n.inputs()) {
      if (!in || find(in)) continue;
      const auto s = shape(in);
      const int64_t c = total(first.list) * first.stride;
      if (s && ir::element_count(*s) == 1) continue;
      if (first.last && in->has_initializer() && s && !s->empty() && s->back() == c &&
          ir::element_count(*s) == c) {  // [C] or [1, ..., 1, C]: per feature on the last axis
        user(in, static_cast<int64_t>(s->size()) - 1, first);
        continue;
      }
      const size_t out_rank = out_shape ? out_shape->size() : 0;
      if (!first.last && in->has_initializer() && s && out_rank >= 2 && s->size() + 1 >= out_rank) {
        // Aligned to the output's rank from the right, the channel axis is out_rank - 1 - 1 counted from the end.
        const int64_t axis = static_cast<int64_t>(s->size()) - static_cast<int64_t>(out_rank - 1);
        bool per_channel = axis >= 0 && (*s)[axis] == c;
        for (size_t i = 0; per_channel && i < s->size(); ++i)
          if (static_cast<int64_t>(i) != axis && (*s)[i] != 1) per_channel = false;
        if (per_channel) {
          user(in, axis, first);
          continue;
        }
      }
      block(first.list, "combined with a tensor that is not per channel at " + n.describe());
    }
    channels_[n.output(0)] = first;
  }

  // Resize/Upsample by constant scales that are 1 on the batch and channel axes: each channel is
  // resized on its own, so channels pass through. Resizes to fixed `sizes` name the channel count
  // and would need rewriting: those block.
  static bool resizes_only_spatially(const ir::Node& n) {
    std::vector<float> scales;
    if (const ir::Attribute* a = n.find_attribute("scales")) scales = a->floats;  // Upsample before opset 9
    const ir::Value* s = n.op_type() == "Upsample" || n.inputs().size() == 2 ? n.input(1) : n.input(2);
    if (s && s->has_initializer() && s->initializer()->dtype() == ir::DataType::Float) {
      const at::Tensor t = s->initializer()->data().contiguous();
      scales.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    } else if (s) {
      return false;  // computed scales
    }
    if (n.op_type() == "Resize" && n.inputs().size() >= 4 && n.input(3)) return false;  // sizes
    return scales.size() >= 2 && scales[0] == 1.0f && scales[1] == 1.0f;
  }

  // True when the reduction `n` leaves axes 0 and 1 alone: its axes (an attribute, or a constant
  // input from opset 18 and ReduceSum-13) all lie past the channel axis. No axes reduces all.
  bool reduces_only_spatially(const ir::Node& n) const {
    std::vector<int64_t> axes;
    if (const ir::Attribute* a = n.find_attribute("axes")) {
      axes = a->ints;
    } else if (n.inputs().size() > 1 && n.input(1)) {
      if (!n.input(1)->has_initializer()) return false;  // computed axes
      const at::Tensor t = n.input(1)->initializer()->data().to(at::kLong).contiguous();
      axes.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
    }
    if (axes.empty()) return false;
    const auto s = shape(n.input(0));  // for negative axes
    const int64_t rank = s ? static_cast<int64_t>(s->size()) : -1;
    return std::all_of(axes.begin(), axes.end(), [rank](int64_t a) { return a >= 2 || (a < 0 && rank >= 0 && a + rank >= 2); });
  }

  void visit_flatten(ir::Node& n, const Channels& in) {
    const auto s = shape(n.input(0));
    int64_t axis = n.op_type() == "Flatten" ? n.attr_int("axis", 1) : 1;
    if (n.op_type() == "Reshape") {
      // Reshape to [N, -1] (or [N, C*H*W]) is a flatten; any other reshape moves channels.
      const ir::Value* target = n.input(1);
      bool flat = target && target->has_initializer() && target->initializer()->numel() == 2 && s && s->size() >= 2;
      if (flat) {
        const at::Tensor t = target->initializer()->data();
        const int64_t second = t.scalar_type() == at::kLong ? t.data_ptr<int64_t>()[1] : -2;
        int64_t inner = 1;
        for (size_t i = 1; i < s->size(); ++i) inner *= (*s)[i];
        flat = (second == -1 || second == inner) && (second == -1 || target->uses().size() == 1) &&
               n.attr_int("allowzero", 0) == 0;
        if (flat && second != -1) cg_.flatten_shapes.push_back(const_cast<ir::Value*>(target));
      }
      if (!flat) axis = -1;
    }
    if (axis != 1 || !s || s->size() < 2) {
      block(in.list, "reshaped by " + n.describe());
      return;
    }
    int64_t spatial = 1;
    for (size_t i = 2; i < s->size(); ++i) {
      if ((*s)[i] < 0) {
        block(in.list, "flattened with an unknown spatial size at " + n.describe());
        return;
      }
      spatial *= (*s)[i];
    }
    channels_[n.output(0)] = {in.list, in.stride * spatial};
  }

  void visit(ir::Node& n) {
    const std::string& op = n.op_type();
    const bool standard = n.in_default_domain();
    if (head_splits_.count(&n)) return;  // into heads: what follows is the attention itself
    if (group_norm_inner_.count(&n)) return;
    if (auto it = merge_block_.find(&n); it != merge_block_.end()) {  // heads back to features
      const AttentionBlock& b = blocks_[it->second];
      if (block_group_[it->second] >= 0)
        channels_[n.output(0)] = {{{block_group_[it->second], b.heads}}, b.head_dim, true};
      return;
    }
    if (standard && op == "Shape") {
      const Channels* c = find(n.input(0));
      const auto s = shape(n.input(0));
      if (c && c->last && s && reads_other_axes(n, static_cast<int64_t>(s->size()))) return;
    }
    if (standard && (op == "Conv" || op == "ConvTranspose")) return visit_conv(n);
    if (standard && (op == "Gemm" || op == "MatMul")) return visit_dense(n);
    Channels* in = find(n.input(0));
    if (standard && kElementwise.count(op)) return visit_elementwise(n);
    if (standard && op == "Concat") {
      std::vector<Channels> parts;
      bool ok = true;
      for (ir::Value* v : n.inputs()) {
        auto* c = find(v);
        if (!c || c->stride != 1 || c->last) ok = false;
        else parts.push_back(*c);
      }
      const auto s = shape(n.output(0));
      int64_t axis = n.attr_int("axis", 0);
      if (axis < 0 && s) axis += static_cast<int64_t>(s->size());
      if (!ok || axis != 1) {
        const std::string why = axis != 1 ? " not along channels"
                                          : " with a part whose channels cannot be followed (computed, reshaped or shuffled)";
        for (const auto& p : parts) block(p.list, "concatenated by " + n.describe() + why);
        return;
      }
      Channels out;
      for (const auto& p : parts) out.list.insert(out.list.end(), p.list.begin(), p.list.end());
      channels_[n.output(0)] = out;
      return;
    }
    if (!in) {
      for (ir::Value* v : n.inputs())
        if (auto* c = find(v)) block(c->list, "read by " + n.describe());
      return;
    }
    if (in->last && (!standard || !kPassThrough.count(op) || kPools.count(op)))
      return block(in->list, "read by " + n.describe());
    if (auto it = group_norm_of_.find(&n); it != group_norm_of_.end()) return visit_group_norm(group_norms_[it->second], *in);
    if (standard && (op == "BatchNormalization" || op == "InstanceNormalization")) {
      const size_t params = op == "BatchNormalization" ? 5 : 3;
      for (size_t i = 1; i < params && i < n.inputs().size(); ++i) {
        if (n.input(i) && n.input(i)->has_initializer()) user(n.input(i), 0, *in);
        else return block(in->list, "normalized with computed parameters at " + n.describe());
      }
      channels_[n.output(0)] = *in;
      return;
    }
    if (standard && op == "PRelu") {
      const auto s = shape(n.input(1));
      if (s && ir::element_count(*s) == 1) channels_[n.output(0)] = *in;
      else if (n.input(1)->has_initializer() && s && !s->empty() && (*s)[0] == total(in->list)) {
        user(n.input(1), 0, *in);
        channels_[n.output(0)] = *in;
      } else {
        block(in->list, "PRelu slope shape at " + n.describe());
      }
      return;
    }
    if (standard && (op == "Resize" || op == "Upsample")) {
      if (!resizes_only_spatially(n)) return block(in->list, "resized to fixed sizes or along channels by " + n.describe());
      channels_[n.output(0)] = *in;
      return;
    }
    if (standard && kReductions.count(op)) {
      if (in->stride != 1 || !reduces_only_spatially(n)) return block(in->list, "reduced along channels by " + n.describe());
      channels_[n.output(0)] = *in;
      return;
    }
    if (standard && kPassThrough.count(op)) {
      for (size_t i = 1; i < n.inputs().size(); ++i)
        if (auto* c = find(n.input(i))) block(c->list, "read by " + n.describe());
      channels_[n.output(0)] = *in;
      return;
    }
    if (standard && (op == "Flatten" || op == "Reshape")) return visit_flatten(n, *in);
    if (standard && op == "Split") return visit_split(n, *in);
    if (standard && op == "Slice") return visit_slice(n, *in);
    for (ir::Value* v : n.inputs())
      if (auto* c = find(v)) block(c->list, "read by " + n.describe());
  }

  ir::Graph& graph_;
  const ir::TypeMap& types_;
  ChannelGraph cg_;
  std::vector<AttentionBlock> blocks_;
  std::vector<int> block_group_;   // per block: its heads' group, once a projection was seen
  std::vector<int> block_joined_;  // per block: projections that joined that group
  std::map<const ir::Node*, size_t> projection_block_, merge_block_;
  std::set<const ir::Node*> head_splits_;
  std::vector<GroupNormBlock> group_norms_;
  std::map<const ir::Node*, size_t> group_norm_of_;  // a GroupNorm's first Reshape -> its block
  std::set<const ir::Node*> group_norm_inner_;       // the rest of each block: visit_group_norm handles them
  std::unordered_map<const ir::Value*, Channels> channels_;
};

}  // namespace

ChannelGraph build_channel_graph(ir::Graph& graph, const ir::TypeMap& types) { return Builder(graph, types).build(); }

}  // namespace nncompress::analysis
