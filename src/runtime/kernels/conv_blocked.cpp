// Conv for inference in oneDNN's blocked layout, through ideep (the oneDNN wrapper LibTorch
// itself is built on) so that the executor's Epilogue (a residual Add, then Relu or Clip) runs as
// post-ops of the convolution instead of as separate passes over memory, as ONNX Runtime fuses
// them. LibTorch 1.13 has no API for fused convolutions (its _convolution_pointwise came later).
#include <ideep.hpp>

#include <array>
#include <cfloat>
#include <memory>
#include <unordered_map>

#include "kernel_util.h"
#include "plan_cache.h"

// Exported by libtorch_cpu (ATen/native/mkldnn/MKLDNNCommon.h, a header Debian does not ship):
// the ideep tensor inside an MKL-DNN at::Tensor, a view of a dense one, and the reverse.
namespace at::native {
ideep::tensor& itensor_from_mkldnn(const at::Tensor& mkldnn_tensor);
ideep::tensor itensor_view_from_dense(const at::Tensor& tensor);
at::Tensor new_with_itensor_mkldnn(ideep::tensor&& it, c10::optional<c10::ScalarType> dtype,
                                   c10::optional<c10::Device> device);
}  // namespace at::native

namespace nncompress::runtime::kernels {
namespace {

// What a convolution's oneDNN primitive is built from, besides its weight and bias tensors.
// Fixed-size fields: it is filled and compared on every call.
struct ConvSignature {
  std::array<int64_t, 4> src{}, dst{};
  std::array<int64_t, 2> strides{}, dilations{}, pad_begin{}, pad_end{};
  int64_t groups = 1;
  bool channels_last = false;  // see wants_channels_last
  bool winograd = false;       // see wants_winograd
  bool has_bias = false, add = false, clamp = false;
  ideep::tensor::desc add_desc;  // the residual operand's layout, for a fused Add
  float min = 0, max = 0;        // the fused Relu or Clip

  bool operator==(const ConvSignature& o) const {
    return src == o.src && dst == o.dst && strides == o.strides && dilations == o.dilations && pad_begin == o.pad_begin &&
           pad_end == o.pad_end && groups == o.groups && channels_last == o.channels_last && winograd == o.winograd &&
           has_bias == o.has_bias && add == o.add && (!add || add_desc == o.add_desc) && clamp == o.clamp && min == o.min &&
           max == o.max;
  }

  // The epilogue (a residual Add, then Relu or Clip) as oneDNN post-ops. The Add is a sum into
  // the destination, which starts as a copy of the residual: oneDNN 2.6's brgemm convolutions
  // take a sum but not a binary add, and fall back to slower direct kernels for it.
  ideep::attr_t attr() const {
    ideep::post_ops ops;
    if (add) ops.append_sum(1.0f);
    if (clamp && min == 0 && max == FLT_MAX)
      ops.append_eltwise(1.0f, ideep::algorithm::eltwise_relu, 0.0f, 0.0f);
    else if (clamp)
      ops.append_eltwise(1.0f, ideep::algorithm::eltwise_clip, min, max);
    return ideep::attr_t::attr_post_ops(ops);
  }
};

template <size_t N>
ideep::dims dims_of(const std::array<int64_t, N>& a) {
  return ideep::dims(a.begin(), a.end());
}

// A convolution ready to run: its primitive, its weights reordered into the layout the primitive
// wants, its bias, and the layouts it reads and writes (queried once, not per call).
struct ConvPlan {
  dnnl::convolution_forward primitive;
  ideep::tensor weights, bias;
  ideep::tensor::desc src_desc, dst_desc, scratchpad_desc;
  bool scratchpad = false;
};

// How conv_blocked builds its plans (kept by a PlanCache).
struct ConvPlanBuilder {
  // The weights and bias are always copies the plan owns: a view of `plain` (when oneDNN wants
  // the plain layout) would outlive a temporary contiguous copy of a channels-last weight.
  static std::shared_ptr<const ConvPlan> build(const at::Tensor& w, const at::Tensor& bias, const ConvSignature& sig) {
    const at::Tensor plain = w.contiguous(), plain_bias = bias.defined() ? bias.contiguous() : at::Tensor();
    const ideep::tensor weights = at::native::itensor_view_from_dense(plain);
    const int groups = static_cast<int>(sig.groups);
    ideep::convolution_forward_params params;
    bool prepared = false;
    if (sig.winograd) {
      try {
        prepare(params, sig, weights, plain_bias, false, ideep::algorithm::convolution_winograd,
                ideep::prop_kind::forward_inference);
        prepared = true;
      } catch (const dnnl::error&) {
        // No Winograd kernel for this shape or machine: a direct one below.
      }
    }
    if (!prepared)
      prepare(params, sig, weights, plain_bias, sig.channels_last, ideep::algorithm::convolution_direct,
              ideep::prop_kind::forward);
    auto plan = std::make_shared<ConvPlan>();
    plan->primitive = dnnl::convolution_forward(params.pd);
    plan->weights.init(params.pd.weights_desc());
    weights.make_grouped_weights(groups).reorder_to(plan->weights);
    if (sig.has_bias) {
      plan->bias.init(params.pd.bias_desc());
      at::native::itensor_view_from_dense(plain_bias).reorder_to(plan->bias);
    }
    plan->src_desc = params.pd.src_desc();
    plan->dst_desc = params.pd.dst_desc();
    plan->scratchpad_desc = params.pd.scratchpad_desc();
    plan->scratchpad = plan->scratchpad_desc.get_size() > 0;
    return plan;
  }

  // The primitive descriptor for `sig` with a source in NHWC (ideep then builds a channels-last
  // primitive) or NCHW (oneDNN then chooses a blocked layout); calls reorder their input to it.
  static void prepare(ideep::convolution_forward_params& params, const ConvSignature& sig, const ideep::tensor& weights,
                      const at::Tensor& plain_bias, bool channels_last, ideep::algorithm algorithm,
                      ideep::prop_kind prop_kind) {
    ideep::tensor src;
    src.init(ideep::tensor::desc(dims_of(sig.src), ideep::data_type::f32,
                                 channels_last ? ideep::format_tag::nhwc : ideep::format_tag::nchw),
             nullptr);
    const ideep::attr_t attr = sig.attr();
    const int groups = static_cast<int>(sig.groups);
    ideep::tensor unused_dst;
    if (sig.add) unused_dst.init(sig.add_desc);  // ideep takes a sum's destination from it
    if (sig.has_bias)
      ideep::convolution_forward::prepare(params, src, weights, at::native::itensor_view_from_dense(plain_bias),
                                          dims_of(sig.dst), unused_dst, dims_of(sig.strides), dims_of(sig.dilations),
                                          dims_of(sig.pad_begin), dims_of(sig.pad_end), groups, {}, {}, {}, attr,
                                          algorithm, prop_kind);
    else
      ideep::convolution_forward::prepare(params, src, weights, dims_of(sig.dst), unused_dst, dims_of(sig.strides),
                                          dims_of(sig.dilations), dims_of(sig.pad_begin), dims_of(sig.pad_end), groups, {},
                                          {}, {}, attr, algorithm, prop_kind);
  }

};

// Dense convolutions with a spatial kernel run channels-last (NHWC): oneDNN 2.6 has brgemm kernels
// for that layout that beat its direct blocked ones on AVX-512 (resnet18's 3x3 convolutions at batch
// 32: 35-39 ms against 42-47 ms each). Depthwise and 1x1 convolutions stay blocked: MobileNetV2 ran
// 12% slower with them channels-last.
bool wants_channels_last(int64_t groups, const at::Tensor& w) { return groups == 1 && w.size(2) * w.size(3) > 1; }

// Dense 3x3 convolutions with stride 1 run as Winograd F(4x4, 3x3) (or F(2x2, 3x3)) in inference,
// as TensorRT and OpenVINO do on CPUs and GPUs: half the time of oneDNN's direct kernels here
// (resnet18's 3x3 layers, batch 32: 16-21 ms against 33-39 ms). The transform rounds differently
// from a direct sum: outputs differ by ~1e-6 relative (max 1.3e-5 on values up to 7, measured
// against the direct kernel on random data), the size of a change of summation order.
bool wants_winograd(const ConvSignature& sig, const at::Tensor& w) {
  return sig.groups == 1 && w.size(2) == 3 && w.size(3) == 3 && sig.strides == std::array<int64_t, 2>{1, 1} &&
         sig.dilations == std::array<int64_t, 2>{1, 1};
}

PlanCache<ConvSignature, ConvPlan>& conv_plans() {
  static auto* const cache = new PlanCache<ConvSignature, ConvPlan>();  // tensors may outlive static destruction
  return *cache;
}

}  // namespace

std::vector<at::Tensor> conv_blocked(const KernelContext& c) {
  at::AutoDispatchBelowAutograd below_autograd;  // itensor_from_mkldnn insists (inference only anyway)
  const at::Tensor& x = c.input(0);
  const at::Tensor& w = c.input(1);
  const bool has_bias = c.has_input(2);
  if (x.dim() != 4 || w.dim() != 4 || x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat ||
      (has_bias && c.input(2).scalar_type() != at::kFloat))
    return {};
  const ConvGeometry g = conv_geometry(c, w);
  if (g.group < 1 || x.size(1) != w.size(1) * g.group || w.size(0) % g.group) return {};  // the plain kernel reports it
  const Padding pad = conv_padding(c, x, g.kernel, g.strides, g.dilations);
  ConvSignature sig;
  sig.dst = {x.size(0), w.size(0), 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    const int64_t span = x.size(static_cast<int64_t>(2 + i)) + pad.begin[i] + pad.end[i] - g.dilations[i] * (g.kernel[i] - 1) - 1;
    if (span < 0 || g.strides[i] < 1) return {};
    sig.dst[2 + i] = span / g.strides[i] + 1;
    sig.strides[i] = g.strides[i];
    sig.dilations[i] = g.dilations[i];  // ideep converts them to oneDNN's (0 = dense)
    sig.pad_begin[i] = pad.begin[i];
    sig.pad_end[i] = pad.end[i];
  }
  for (int64_t i = 0; i < 4; ++i) sig.src[i] = x.size(i);
  sig.groups = g.group;
  sig.has_bias = has_bias;
  // The residual operand is fused when it is an MKL-DNN value of the output's shape (the executor
  // keeps the values between blocked kernels so); otherwise the Add runs on its own.
  if (c.epilogue && (c.epilogue->bias.defined() || c.epilogue->gelu)) return {};  // planned for MatMul only
  const at::Tensor& add = c.epilogue ? c.epilogue->add : at::Tensor();
  if (add.defined()) {
    if (!add.is_mkldnn() || add.scalar_type() != at::kFloat || add.sizes() != at::IntArrayRef(sig.dst)) return {};
    sig.add = true;
    sig.add_desc = at::native::itensor_from_mkldnn(add).get_desc();
  }
  if (c.epilogue && c.epilogue->clamp) {
    sig.clamp = true;
    sig.min = c.epilogue->min;
    sig.max = c.epilogue->max;
  }

  sig.channels_last = wants_channels_last(sig.groups, w);
  sig.winograd = wants_winograd(sig, w);
  const std::shared_ptr<const ConvPlan> plan = conv_plans().get(w, has_bias ? c.input(2) : at::Tensor(), sig, ConvPlanBuilder::build);

  // A plain input is read through a view, reordered once into the layout the plan wants.
  const at::Tensor plain_x = x.is_mkldnn() ? at::Tensor() : x.contiguous();
  const ideep::tensor src = x.is_mkldnn() ? at::native::itensor_from_mkldnn(x) : at::native::itensor_view_from_dense(plain_x);

  ideep::tensor y(plan->dst_desc);
  const ideep::tensor expected_src = src.reorder_if_differ_in(plan->src_desc);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, expected_src}, {DNNL_ARG_WEIGHTS, plan->weights}, {DNNL_ARG_DST, y}};
  ideep::tensor scratchpad;
  if (plan->scratchpad) {
    scratchpad.init(plan->scratchpad_desc, scratch_memory(plan->scratchpad_desc.get_size()));
    args.emplace(DNNL_ARG_SCRATCHPAD, scratchpad);
  }
  if (has_bias) args.emplace(DNNL_ARG_BIAS, plan->bias);
  if (add.defined()) at::native::itensor_from_mkldnn(add).reorder_to(y);  // the sum post-op adds into it
  plan->primitive.execute(ideep::stream::default_stream(), args);
  return one(at::native::new_with_itensor_mkldnn(std::move(y), at::kFloat, x.device()));
}

}  // namespace nncompress::runtime::kernels
