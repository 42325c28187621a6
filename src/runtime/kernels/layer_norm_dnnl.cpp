// LayerNormalization in inference through oneDNN's layer normalization primitive, kept per shape
// (the input viewed as [rows, normalized elements]). LibTorch's fused kernel took 67 us on
// vit-fmnist's [32 x 17 x 128] activations (1 ns an element) and ~4 us at batch 1.
#include <oneapi/dnnl/dnnl.hpp>

#include <ideep.hpp>

#include <cstring>
#include <memory>
#include <tuple>

#include "dnnl_run.h"
#include "kernel_util.h"

namespace nncompress::runtime::kernels {
namespace {

using dnnl::memory;

struct NormShape {
  int64_t rows = 0, width = 0;
  float epsilon = 0;
  bool shift = false;
  bool operator<(const NormShape& o) const {
    // The epsilon's bits: the same float, the same primitive.
    uint32_t a = 0, b = 0;
    std::memcpy(&a, &epsilon, sizeof a);
    std::memcpy(&b, &o.epsilon, sizeof b);
    return std::tie(rows, width, a, shift) < std::tie(o.rows, o.width, b, o.shift);
  }
};

struct NormPlan {
  dnnl::layer_normalization_forward primitive;
  memory::desc scratchpad_desc;
};

memory::desc rows_of(const NormShape& s) { return {{s.rows, s.width}, memory::data_type::f32, memory::format_tag::ab}; }
memory::desc vector_of(const NormShape& s) { return {{s.width}, memory::data_type::f32, memory::format_tag::a}; }

std::shared_ptr<const NormPlan> build_norm(const NormShape& s) {
  const auto flags = s.shift ? dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift
                             : dnnl::normalization_flags::use_scale;
  const dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, rows_of(s), s.epsilon, flags);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::layer_normalization_forward::primitive_desc pd(desc, attr, ideep::engine::cpu_engine());
  return std::make_shared<const NormPlan>(NormPlan{dnnl::layer_normalization_forward(pd), pd.scratchpad_desc()});
}

KeyedPlans<NormShape, NormPlan>& norm_plans() {
  static auto* const kept = new KeyedPlans<NormShape, NormPlan>();  // may be in use during static destruction
  return *kept;
}

}  // namespace

std::vector<at::Tensor> layer_norm_dnnl(const KernelContext& c) {
  const at::Tensor& input = c.input(0);
  // Only the normalized result, with a scale (and bias) of the normalized shape, as the plain
  // kernel's fast path takes it; anything else goes there.
  if (c.wants_output(1) || c.wants_output(2) || !plain_float(input) || input.dim() == 0) return {};
  int64_t axis = c.node.attr_int("axis", -1);
  if (axis < -input.dim() || axis >= input.dim()) return {};
  if (axis < 0) axis += input.dim();
  const at::IntArrayRef normalized = input.sizes().slice(static_cast<size_t>(axis));
  const auto fits = [&](size_t i) { return plain_float(c.input(i)) && c.input(i).sizes() == normalized; };
  if (!fits(1) || (c.has_input(2) && !fits(2))) return {};
  NormShape shape;
  shape.width = 1;
  for (int64_t d : normalized) shape.width *= d;
  if (shape.width == 0 || input.numel() == 0) return {};
  shape.rows = input.numel() / shape.width;
  shape.epsilon = c.node.attr_float("epsilon", 1e-5f);
  shape.shift = c.has_input(2);
  std::shared_ptr<const NormPlan> plan;
  try {
    plan = norm_plans().get(shape, build_norm);
  } catch (const dnnl::error&) {
    return {};
  }
  const at::Tensor x = input.contiguous(), scale = c.input(1).contiguous();
  const at::Tensor shift = shape.shift ? c.input(2).contiguous() : at::Tensor();
  at::Tensor y = at::empty_like(x);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, dnnl_view(rows_of(shape), x.data_ptr())},
                                       {DNNL_ARG_DST, dnnl_view(rows_of(shape), y.data_ptr())},
                                       {DNNL_ARG_SCALE, dnnl_view(vector_of(shape), scale.data_ptr())}};
  if (shape.shift) args.emplace(DNNL_ARG_SHIFT, dnnl_view(vector_of(shape), shift.data_ptr()));
  run_primitive(plan->primitive, plan->scratchpad_desc, std::move(args));
  return one(y);
}

}  // namespace nncompress::runtime::kernels
