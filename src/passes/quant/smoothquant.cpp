#include "nncompress/passes/quant/smoothquant.h"

#include <ATen/ATen.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// A consumer of the normalized features: its weight and the axis that indexes them.
struct Consumer {
  ir::Value* weight;
  int64_t feature_axis;
};

// The per-feature constants that make `n`'s output, to divide by s: a LayerNormalization's scale
// and bias (last axis), or the Mul(x, gamma) -> Add(beta) tail of a LayerNorm written out in
// elementwise ops (exporters before opset 17). Empty when `n` is neither.
std::vector<ir::Value*> affine_tail(const ir::Node& n) {
  auto per_feature = [](const ir::Value* v) {
    return v && v->has_initializer() && v->initializer()->dims().size() == 1;
  };
  if (!n.in_default_domain()) return {};
  if (n.op_type() == "LayerNormalization") {
    if (n.attr_int("axis", -1) != -1 || n.outputs().size() > 1 || !per_feature(n.input(1))) return {};
    if (n.input(2) && !per_feature(n.input(2))) return {};
    return n.input(2) ? std::vector<ir::Value*>{n.input(1), n.input(2)} : std::vector<ir::Value*>{n.input(1)};
  }
  if (n.op_type() != "Add" || n.inputs().size() != 2) return {};
  const ir::Node* mul = n.input(0)->producer();
  if (!per_feature(n.input(1)) || !mul || mul->op_type() != "Mul" || n.input(0)->uses().size() != 1 ||
      !per_feature(mul->input(1)) || mul->input(1)->initializer()->dims() != n.input(1)->initializer()->dims())
    return {};
  return {mul->input(1), n.input(1)};
}

// The layers reading `v`: MatMul/Gemm with a constant 2-D weight of their own; nullopt when
// anything else reads it.
std::optional<std::vector<Consumer>> linear_readers(const ir::Value* v) {
  if (v->is_graph_output() || v->uses().empty()) return std::nullopt;
  std::vector<Consumer> out;
  for (const ir::Use& u : v->uses()) {
    const ir::Node& n = *u.node;
    ir::Value* w = n.input(1);
    const bool dense = (n.op_type() == "MatMul" || n.op_type() == "Gemm") && n.in_default_domain() && u.index == 0;
    if (!dense || !w || !w->has_initializer() || w->initializer()->dims().size() != 2 || w->uses().size() != 1 ||
        (n.op_type() == "Gemm" && n.attr_int("transA", 0) != 0))
      return std::nullopt;
    out.push_back({w, n.op_type() == "Gemm" && n.attr_int("transB", 0) != 0 ? 1 : 0});
  }
  return out;
}

struct Site {
  std::vector<ir::Value*> divided;  // per-feature constants of the source
  std::vector<Consumer> consumers;
};

void scale_along(ir::Value* v, const at::Tensor& factor, int64_t axis, bool divide) {
  ir::Tensor* t = v->mutable_initializer();
  const at::Tensor data = runtime::to_aten(*t).to(at::kFloat);
  std::vector<int64_t> shape(data.dim(), 1);
  shape[axis] = -1;
  const at::Tensor f = factor.view(shape);
  runtime::replace_data(*t, (divide ? data / f : data * f).to(runtime::to_aten(*t).scalar_type()));
}

}  // namespace

SmoothQuantResult smooth_quant(ir::Model& model, const data::Dataset& data, double alpha, const CalibrationOptions& o) {
  SmoothQuantResult result;
  std::map<std::string, Site> sites;  // by the smoothed value's name
  for (const auto& n : model.graph.nodes()) {
    std::vector<ir::Value*> divided = affine_tail(*n);
    if (divided.empty()) continue;
    if (auto c = linear_readers(n->output(0))) sites[n->output(0)->name()] = {std::move(divided), std::move(*c)};
  }
  if (sites.empty()) return result;
  std::vector<std::string> names;
  for (const auto& [name, site] : sites) names.push_back(name);
  const std::map<std::string, at::Tensor> act_max = channel_absmax(model, names, data, o);
  for (auto& [name, site] : sites) {
    const at::Tensor& x_max = act_max.at(name);
    at::Tensor w_max = at::zeros_like(x_max);
    bool fits = true;
    for (const Consumer& c : site.consumers) {
      const at::Tensor w = runtime::to_aten(*c.weight->initializer()).to(at::kFloat).abs();
      fits = fits && w.size(c.feature_axis) == x_max.size(0);
      if (fits) w_max = at::maximum(w_max, w.amax(1 - c.feature_axis));
    }
    for (const ir::Value* d : site.divided) fits = fits && d->initializer()->numel() == x_max.size(0);
    if (!fits) continue;  // features broadcast from fewer constants: leave it
    // Features that are always zero or whose weights are all zero keep a factor of 1.
    at::Tensor s = x_max.clamp_min(1e-5).pow(alpha) / w_max.clamp_min(1e-5).pow(1 - alpha);
    s = at::where((x_max > 0) & (w_max > 0), s, at::ones_like(s));
    for (ir::Value* d : site.divided) scale_along(d, s, 0, /*divide=*/true);
    for (const Consumer& c : site.consumers) scale_along(c.weight, s, c.feature_axis, /*divide=*/false);
    ++result.norms;
    result.layers += static_cast<int>(site.consumers.size());
  }
  return result;
}

}  // namespace nncompress::passes
