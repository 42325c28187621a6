#include "nncompress/passes/quant/channel_padding.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "nncompress/analysis/channel_groups.h"
#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/format.h"
#include "nncompress/onnx/model_copy.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/run_shapes.h"
#include "nncompress/runtime/tensor_convert.h"
#include "../prune/channel_plan.h"  // has_vector_bias

namespace nncompress::passes {

namespace {

using analysis::ChannelGraph;

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

// MLAS's fast int8 convolution on x86 needs input channels in multiples of 4 and at least 16
// outputs, in multiples of 8 (AVX2; 4 on AVX-512).
constexpr int64_t kInputChannelAlign = 4, kMinOutputs = 16, kOutputAlign = 8;

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Group `root` can widen: prunable, plain (see the header), no producer in `keep`. `depthwise`: the
// convolutions of cg.depthwise.
bool plain(const ChannelGraph& cg, int root, const std::set<std::string>& keep, const std::set<const ir::Node*>& depthwise) {
  const analysis::ChannelGroup& g = cg.groups[root];
  if (!g.prunable || !g.reason.empty() || g.stride != 1 || g.replicas != 1 || g.producers.empty()) return false;
  for (size_t i = 0; i < g.producers.size(); ++i)
    if (g.offsets[i] != 0 || output_extent(*g.producers[i]) != g.size || keep.count(g.producers[i]->name)) return false;
  for (const auto& [split, parts] : cg.splits)
    for (const analysis::SegmentList& part : parts)
      if (mentions(cg, part, root)) return false;
  for (const auto& [constant, group] : cg.head_counts)
    if (cg.find(group) == root) return false;
  for (const auto& [width, group] : cg.computed_widths)
    if (cg.find(group) == root) return false;
  for (const auto& [matmul, group] : cg.head_matmuls)
    if (cg.find(group) == root) return false;
  for (const analysis::ChannelUser& u : cg.users) {
    if (!mentions(cg, u.source, root)) continue;
    if (u.stride != 1 || !end_of(cg, u.source, root)) return false;
    for (const ir::Use& r : u.tensor->uses())
      if (r.node->op_type() == "Conv" && r.node->attr_int("group", 1) > 1 && !depthwise.count(r.node)) return false;
  }
  return true;
}

// The root group of all of `producer`'s output channels, or -1.
int output_group(const ChannelGraph& cg, const ir::Node* producer) {
  for (const analysis::ChannelGroup& g : cg.groups)
    if (cg.find(g.id) == g.id && std::find(g.producers.begin(), g.producers.end(), producer) != g.producers.end())
      return output_extent(*producer) == g.size ? g.id : -1;
  return -1;
}

struct Plan {
  std::map<int, int64_t> sizes;    // root group -> its padded channel count
  std::vector<ir::Node*> inputs;   // convolutions whose model input gets a Pad
};

Plan plan_padding(const ir::Graph& graph, const ChannelGraph& cg, int64_t multiple, const std::set<std::string>& keep) {
  Plan plan;
  std::set<const ir::Node*> depthwise;
  for (const auto& [node, source] : cg.depthwise) depthwise.insert(node);
  for (const auto& [node, source] : cg.depthwise) {
    if (source.size() != 1 || keep.count(node->name)) continue;
    const int root = cg.find(source[0].group);
    const int64_t size = cg.groups[root].size;
    if (size % multiple != 0 && plain(cg, root, keep, depthwise)) plan.sizes[root] = round_up(size, multiple);
  }
  for (const auto& n : graph.nodes()) {
    const ir::Value* x = n->input(0);
    const ir::Value* w = n->input(1);
    if (n->op_type() != "Conv" || !n->in_default_domain() || n->attr_int("group", 1) != 1 || keep.count(n->name) ||
        !x || !x->is_graph_input() || x->has_initializer() || !w || !w->has_initializer() ||
        w->initializer()->dtype() != ir::DataType::Float || w->initializer()->dims().size() < 3)
      continue;
    if (x->type.is_tensor() && x->type.elem_type != ir::DataType::Float) continue;
    // At most a third more input channels (an RGB image's 3 -> 4): a grayscale image's 1 -> 4
    // quadrupled LeNet-5's first layer and made its int8 model 0.94x as fast (docs/benchmarks.md).
    const int64_t inputs = w->initializer()->dims()[1];
    if (round_up(inputs, kInputChannelAlign) * 3 > inputs * 4) continue;
    const int64_t outputs = w->initializer()->dims()[0];
    if (outputs < kMinOutputs || outputs % kOutputAlign != 0) {
      const int root = output_group(cg, n.get());
      if (root < 0 || !plain(cg, root, keep, depthwise)) continue;  // the fast kernel would stay out of reach
      const bool depthwise = plan.sizes.count(root) > 0;  // then the count stays a multiple of `multiple`
      int64_t& size = plan.sizes.emplace(root, outputs).first->second;
      size = std::max(size, round_up(std::max(outputs, kMinOutputs), kOutputAlign));
      if (depthwise) size = round_up(size, multiple);
    }
    if (inputs % kInputChannelAlign != 0) plan.inputs.push_back(n.get());
  }
  return plan;
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

// A Pad of the convolution's model input with zero channels up to a multiple of 4, and zero
// weight columns for them. Pad's amounts are an attribute before opset 11 and an input from then on.
void pad_input(ir::Model& model, ir::Node& conv) {
  ir::Graph& graph = model.graph;
  ir::Value* w = conv.input(1);
  const int64_t rank = static_cast<int64_t>(w->initializer()->dims().size());
  const int64_t channels = w->initializer()->dims()[1];
  const int64_t added = round_up(channels, kInputChannelAlign) - channels;
  std::vector<int64_t> pads(2 * rank, 0);
  pads[rank + 1] = added;  // at the end of axis 1
  ir::Value* x = conv.input(0);
  const std::string base = x->name() + "_padded";
  ir::Node* pad = model.opset_version("") < 11
                      ? add_op(graph, "Pad", base, {x}, {ir::Attribute::make_ints("pads", pads)})
                      : add_op(graph, "Pad", base, {x, add_constant(graph, base + "_pads", at::tensor(pads, at::kLong), ir::DataType::Int64)});
  graph.set_input(&conv, 0, pad->output(0));
  widen(w, 1, channels, added, 0.0);
}

void apply(ir::Model& model, const ChannelGraph& cg, const Plan& plan) {
  ir::Graph& graph = model.graph;
  auto padded = [&](const analysis::Segment& s) {
    auto it = plan.sizes.find(cg.find(s.group));
    return it != plan.sizes.end() ? it->second : s.count;
  };
  for (const auto& [root, size] : plan.sizes) {
    const int64_t count = size - cg.groups[root].size;
    for (ir::Node* p : cg.groups[root].producers) {
      widen(p->input(1), analysis::output_channel_axis(*p), cg.groups[root].size, count, 0.0);
      if (has_vector_bias(*p)) widen(p->input(2), 0, cg.groups[root].size, count, 0.0);
    }
  }
  // Users: each padded segment gains its channels at its end, from the last segment back, so the
  // positions of the earlier ones stay as they were (a Concat of two padded groups).
  for (const analysis::ChannelUser& u : cg.users) {
    int64_t end = 0;
    for (const analysis::Segment& s : u.source) end += s.count;
    for (auto s = u.source.rbegin(); s != u.source.rend(); ++s) {
      if (padded(*s) != s->count) widen(u.tensor, u.axis, end, padded(*s) - s->count, fill_value(u.tensor));
      end -= s->count;
    }
  }
  for (const auto& [node, source] : cg.depthwise) {
    int64_t channels = 0;
    for (const analysis::Segment& s : source) channels += padded(s);
    if (channels != node->attr_int("group", 1)) node->set_attribute(ir::Attribute::make_int("group", channels));
  }
  for (ir::Node* conv : plan.inputs) pad_input(model, *conv);
  if (!plan.inputs.empty()) graph.sort_topologically();
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

ChannelPadding pad_channels_for_int8(ir::Model& model, int64_t multiple, const std::vector<std::string>& keep,
                                     const data::Dataset& check_data, const data::Preprocess& preprocess) {
  ChannelPadding result;
  const auto& nodes = model.graph.nodes();
  const bool convolutions = std::any_of(nodes.begin(), nodes.end(), [](const auto& n) { return n->op_type() == "Conv"; });
  if (multiple <= 1 || check_data.size() == 0 || !convolutions) return result;  // no analysis for transformers
  make_constants_private(model.graph);
  const ChannelGraph cg = analysis::build_channel_graph(model.graph, runtime::known_shapes(model));
  const Plan plan = plan_padding(model.graph, cg, multiple, {keep.begin(), keep.end()});
  if (plan.sizes.empty() && plan.inputs.empty()) return result;
  const std::optional<onnxio::ModelCopy> original = onnxio::ModelCopy::of(model);
  if (!original) return result;  // over 2 GiB: nothing to restore from
  const std::vector<at::Tensor> before = outputs_on(model, check_data, preprocess);
  apply(model, cg, plan);
  result.restored = difference(before, outputs_on(model, check_data, preprocess));
  if (!result.restored.empty()) {
    model = original->make();
    return result;
  }
  result.groups = static_cast<int>(plan.sizes.size());
  for (const auto& [root, padded] : plan.sizes) result.channels_added += padded - cg.groups[root].size;
  result.inputs = static_cast<int>(plan.inputs.size());
  return result;
}

}  // namespace nncompress::passes
