// MatMul by a weight matrix (a Linear layer as exporters write it: MatMul, then the Add of its
// bias) in inference, through a oneDNN matmul primitive whose weight is packed once per weight
// version (a PlanCache), with the executor's Epilogue (bias, GELU, residual Add, Relu or Clip)
// as post-ops. LibTorch's at::matmul goes to the system BLAS, which repacks the weight on every
// call and, with Debian's OpenBLAS on this project's machine, runs AVX2 kernels where oneDNN has
// AVX-512 ones: vit-fmnist's [17 x 128] x [128 x 128] products took 14.7 us there against 3.5 us.
#include <oneapi/dnnl/dnnl.hpp>

#include <ideep.hpp>

#include <cfloat>
#include <memory>
#include <unordered_map>

#include "kernel_util.h"
#include "dnnl_run.h"

namespace nncompress::runtime::kernels {
namespace {

using dnnl::memory;

// What a product's primitive is built from, besides its weight and bias tensors.
struct LinearSignature {
  int64_t rows = 0, depth = 0, columns = 0;  // [rows x depth] x [depth x columns]
  bool has_bias = false, gelu = false, add = false, clamp = false;
  float min = 0, max = 0;  // the fused Relu or Clip

  bool operator==(const LinearSignature& o) const {
    return rows == o.rows && depth == o.depth && columns == o.columns && has_bias == o.has_bias && gelu == o.gelu &&
           add == o.add && clamp == o.clamp && min == o.min && max == o.max;
  }
};

// A product ready to run: its primitive, the weight in the layout the primitive wants, the bias.
struct LinearPlan {
  dnnl::matmul primitive;
  memory weights, bias;
  memory::desc scratchpad_desc;
};

struct LinearPlanBuilder {
  static std::shared_ptr<const LinearPlan> build(const at::Tensor& w, const at::Tensor& bias, const LinearSignature& sig) {
    const dnnl::engine& engine = ideep::engine::cpu_engine();
    const memory::dims src_dims{sig.rows, sig.depth}, weight_dims{sig.depth, sig.columns}, dst_dims{sig.rows, sig.columns},
        bias_dims{1, sig.columns};
    const memory::desc src(src_dims, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc any_weights(weight_dims, memory::data_type::f32, memory::format_tag::any);
    const memory::desc bias_desc(bias_dims, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc dst(dst_dims, memory::data_type::f32, memory::format_tag::ab);
    // Post-ops in the order of Epilogue: GELU on the biased product, the residual as a sum into
    // the destination (which starts as a copy of it), then the clamp.
    dnnl::post_ops ops;
    if (sig.gelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    if (sig.add) ops.append_sum(1.0f);
    if (sig.clamp && sig.min == 0 && sig.max == FLT_MAX)
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    else if (sig.clamp)
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, sig.min, sig.max);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::matmul::desc desc = sig.has_bias ? dnnl::matmul::desc(src, any_weights, bias_desc, dst)
                                                 : dnnl::matmul::desc(src, any_weights, dst);
    const dnnl::matmul::primitive_desc pd(desc, attr, engine);

    auto plan = std::make_shared<LinearPlan>();
    plan->primitive = dnnl::matmul(pd);
    plan->scratchpad_desc = pd.scratchpad_desc();
    dnnl::stream& stream = ideep::stream::default_stream();
    const at::Tensor plain = w.contiguous();
    memory user_weights({weight_dims, memory::data_type::f32, memory::format_tag::ab}, engine, plain.data_ptr());
    plan->weights = memory(pd.weights_desc(), engine);
    dnnl::reorder(user_weights, plan->weights).execute(stream, user_weights, plan->weights);
    if (sig.has_bias) {
      const at::Tensor plain_bias = bias.contiguous();
      memory user_bias(bias_desc, engine, plain_bias.data_ptr());
      plan->bias = memory(bias_desc, engine);
      dnnl::reorder(user_bias, plan->bias).execute(stream, user_bias, plan->bias);
    }
    stream.wait();
    return plan;
  }
};

PlanCache<LinearSignature, LinearPlan>& linear_plans() {
  static auto* const cache = new PlanCache<LinearSignature, LinearPlan>();  // tensors may outlive static destruction
  return *cache;
}

}  // namespace

std::vector<at::Tensor> matmul_dnnl(const KernelContext& c) {
  if (!c.node.input(1) || !c.node.input(1)->has_initializer()) return batched_matmul_dnnl(c);
  const at::Tensor& a = c.input(0);
  const at::Tensor& w = c.input(1);
  if (!plain_float(a) || !plain_float(w) || a.dim() < 2 || w.dim() != 2 || a.size(-1) != w.size(0)) return {};
  LinearSignature sig;
  sig.depth = w.size(0);
  sig.columns = w.size(1);
  sig.rows = a.numel() / std::max<int64_t>(sig.depth, 1);
  if (sig.rows == 0 || sig.depth == 0 || sig.columns == 0) return {};
  std::vector<int64_t> out_shape = a.sizes().vec();
  out_shape.back() = sig.columns;

  const Epilogue none;
  const Epilogue& e = c.epilogue ? *c.epilogue : none;
  if (e.bias.defined() && (!plain_float(e.bias) || e.bias.dim() == 0 || e.bias.numel() != sig.columns || e.bias.size(-1) != sig.columns)) return {};
  if (e.add.defined() && (!plain_float(e.add) || e.add.sizes() != at::IntArrayRef(out_shape))) return {};
  sig.has_bias = e.bias.defined();
  sig.gelu = e.gelu;
  sig.add = e.add.defined();
  sig.clamp = e.clamp;
  sig.min = e.min;
  sig.max = e.max;
  std::shared_ptr<const LinearPlan> plan;
  try {
    plan = linear_plans().get(w, e.bias, sig, LinearPlanBuilder::build);
  } catch (const dnnl::error&) {
    return {};  // no oneDNN kernel for these post-ops or shapes: the executor runs the ops apart
  }

  const at::Tensor x = a.contiguous();
  // The sum post-op adds the residual already in the destination.
  at::Tensor y = sig.add ? e.add.clone(at::MemoryFormat::Contiguous) : at::empty(out_shape, a.options());
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, dnnl_view({{sig.rows, sig.depth}, memory::data_type::f32, memory::format_tag::ab}, x.data_ptr())},
      {DNNL_ARG_WEIGHTS, plan->weights},
      {DNNL_ARG_DST, dnnl_view({{sig.rows, sig.columns}, memory::data_type::f32, memory::format_tag::ab}, y.data_ptr())}};
  if (sig.has_bias) args.emplace(DNNL_ARG_BIAS, plan->bias);
  run_primitive(plan->primitive, plan->scratchpad_desc, std::move(args));
  return one(y);
}

}  // namespace nncompress::runtime::kernels
