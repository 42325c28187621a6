#include "nncompress/passes/quant/depthwise_padding.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "nncompress/analysis/channel_groups.h"
#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/format.h"
#include "nncompress/onnx/model_copy.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/run_shapes.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

using analysis::ChannelGraph;

bool has_vector_bias(const ir::Node& p) {
  return p.input(2) && p.input(2)->has_initializer() && p.input(2)->initializer()->dims().size() == 1;
}

int64_t output_extent(const ir::Node& p) {
  return p.input(1)->initializer()->dims()[analysis::output_channel_axis(p)];
}

// Where group `root` ends along a user's axis, or nullopt when the list holds it other than once.
std::optional<int64_t> end_of(const ChannelGraph& cg, const analysis::SegmentList& source, int root) {
  std::optional<int64_t> end;
  int64_t offset = 0;
  for (const analysis::Segment& s : source) {
    offset += s.count;
    if (cg.find(s.group) != root) continue;
    if (end) return std::nullopt;
    end = offset;
  }
  return end;
}

bool mentions(const ChannelGraph& cg, const analysis::SegmentList& source, int root) {
  return std::any_of(source.begin(), source.end(), [&](const analysis::Segment& s) { return cg.find(s.group) == root; });
}

// The nodes reading an initializer.
std::vector<const ir::Node*> readers(const ir::Value* v) {
  std::vector<const ir::Node*> out;
  for (const ir::Use& u : v->uses()) out.push_back(u.node);
  return out;
}

// Root groups worth padding, with their sizes: see the header for what is left alone.
std::map<int, int64_t> groups_to_pad(const ChannelGraph& cg, int64_t multiple, const std::set<std::string>& keep) {
  std::set<const ir::Node*> depthwise;
  for (const auto& [node, source] : cg.depthwise) depthwise.insert(node);
  std::map<int, int64_t> out;
  for (const auto& [node, source] : cg.depthwise) {
    if (source.size() != 1 || keep.count(node->name)) continue;
    const int root = cg.find(source[0].group);
    const analysis::ChannelGroup& g = cg.groups[root];
    if (!g.prunable || !g.reason.empty() || g.stride != 1 || g.replicas != 1 || g.size % multiple == 0 || g.producers.empty())
      continue;
    bool plain = true;
    for (size_t i = 0; i < g.producers.size(); ++i)
      plain = plain && g.offsets[i] == 0 && output_extent(*g.producers[i]) == g.size && !keep.count(g.producers[i]->name);
    for (const auto& [split, parts] : cg.splits)
      for (const analysis::SegmentList& part : parts) plain = plain && !mentions(cg, part, root);
    for (const auto& [constant, group] : cg.head_counts) plain = plain && cg.find(group) != root;
    for (const auto& [width, group] : cg.computed_widths) plain = plain && cg.find(group) != root;
    for (const auto& [matmul, group] : cg.head_matmuls) plain = plain && cg.find(group) != root;
    for (const analysis::ChannelUser& u : cg.users) {
      if (!mentions(cg, u.source, root)) continue;
      plain = plain && u.stride == 1 && end_of(cg, u.source, root).has_value();
      for (const ir::Node* r : readers(u.tensor))
        plain = plain && !(r->op_type() == "Conv" && r->attr_int("group", 1) > 1 && !depthwise.count(r));
    }
    if (plain) out[root] = g.size;
  }
  return out;
}

// What a new channel of `v` holds: 1 where 0 would divide by zero (a BatchNorm variance, a
// divisor), else 0.
double fill_value(const ir::Value* v) {
  for (const ir::Use& u : v->uses()) {
    const std::string& op = u.node->op_type();
    if ((op == "BatchNormalization" && u.index == 4) || (op == "Div" && u.index == 1)) return 1.0;
  }
  return 0.0;
}

// Inserts `count` channels holding `fill` at position `at` of `v`'s axis.
void widen(ir::Value* v, int64_t axis, int64_t at, int64_t count, double fill) {
  ir::Tensor* t = v->mutable_initializer();
  const at::Tensor data = runtime::to_aten(*t);
  std::vector<int64_t> shape = data.sizes().vec();
  shape[axis] = count;
  const at::Tensor added = at::full(shape, fill, data.options());
  runtime::replace_data(*t, at::cat({data.narrow(axis, 0, at), added, data.narrow(axis, at, data.size(axis) - at)}, axis));
}

void pad(ir::Graph& graph, const ChannelGraph& cg, const std::map<int, int64_t>& groups, int64_t multiple) {
  for (const auto& [root, size] : groups) {
    const int64_t count = (size + multiple - 1) / multiple * multiple - size;
    for (ir::Node* p : cg.groups[root].producers) {
      widen(p->input(1), analysis::output_channel_axis(*p), size, count, 0.0);
      if (has_vector_bias(*p)) widen(p->input(2), 0, size, count, 0.0);
    }
    for (const analysis::ChannelUser& u : cg.users)
      if (const std::optional<int64_t> end = end_of(cg, u.source, root))
        widen(u.tensor, u.axis, *end, count, fill_value(u.tensor));
  }
  for (const auto& [node, source] : cg.depthwise)
    if (auto it = groups.find(cg.find(source[0].group)); source.size() == 1 && it != groups.end())
      node->set_attribute(ir::Attribute::make_int("group", (it->second + multiple - 1) / multiple * multiple));
  for (ir::Value* v : graph.values())  // intermediate shapes changed
    if (!v->is_graph_input() && !v->is_graph_output()) v->type = ir::ValueType();
}

std::vector<at::Tensor> outputs_on(const ir::Model& model, const data::Dataset& data, const data::Preprocess& preprocess) {
  const runtime::Executor exec(model);
  at::NoGradGuard no_grad;
  return exec.run(data::prepare_inputs(data, 0, 1, exec.inputs(), preprocess));
}

// Empty when `after` equals `before` to float rounding; else what differs.
std::string difference(const std::vector<at::Tensor>& before, const std::vector<at::Tensor>& after) {
  for (size_t i = 0; i < before.size(); ++i) {
    if (!before[i].sizes().equals(after[i].sizes())) return format("output %zu changed shape", i);
    if (!before[i].is_floating_point()) {
      if (!before[i].equal(after[i])) return format("output %zu changed", i);
      continue;
    }
    const at::Tensor a = before[i].to(at::kDouble), b = after[i].to(at::kDouble);
    if (!b.isfinite().eq(a.isfinite()).all().item<bool>()) return format("output %zu has new NaN or infinite values", i);
    const at::Tensor finite = a.isfinite();
    if (!finite.any().item<bool>()) continue;
    const double scale = std::max(1.0, a.masked_select(finite).abs().max().item<double>());
    const double diff = (a - b).masked_select(finite).abs().max().item<double>();
    if (diff > 1e-4 * scale) return format("output %zu differs by %.3g", i, diff);
  }
  return "";
}

}  // namespace

DepthwisePadding pad_depthwise_channels(ir::Model& model, int64_t multiple, const std::vector<std::string>& keep,
                                        const data::Dataset& check_data, const data::Preprocess& preprocess) {
  DepthwisePadding result;
  if (multiple <= 1 || check_data.size() == 0) return result;
  make_constants_private(model.graph);
  const ChannelGraph cg = analysis::build_channel_graph(model.graph, runtime::known_shapes(model));
  const std::map<int, int64_t> groups = groups_to_pad(cg, multiple, {keep.begin(), keep.end()});
  if (groups.empty()) return result;
  const std::optional<onnxio::ModelCopy> original = onnxio::ModelCopy::of(model);
  if (!original) return result;  // over 2 GiB: nothing to restore from
  const std::vector<at::Tensor> before = outputs_on(model, check_data, preprocess);
  pad(model.graph, cg, groups, multiple);
  result.restored = difference(before, outputs_on(model, check_data, preprocess));
  if (!result.restored.empty()) {
    model = original->make();
    return result;
  }
  result.groups = static_cast<int>(groups.size());
  for (const auto& [root, size] : groups) result.channels_added += (size + multiple - 1) / multiple * multiple - size;
  return result;
}

}  // namespace nncompress::passes
