// Conv for inference in oneDNN's blocked layout, through ideep (the oneDNN wrapper LibTorch
// itself is built on) so that the executor's Epilogue (a residual Add, then Relu or Clip) runs as
// post-ops of the convolution instead of as separate passes over memory, as ONNX Runtime fuses
// them. LibTorch 1.13 has no API for fused convolutions (its _convolution_pointwise came later).
#include <ideep.hpp>

#include <c10/util/intrusive_ptr.h>

#include <cfloat>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "kernel_util.h"

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

// Post-ops for the epilogue, or false when the convolution cannot take it. A residual operand must
// already be blocked: with a plain one oneDNN drops to a slow GEMM convolution.
bool post_ops(const Epilogue& e, const ideep::dims& dst, ideep::post_ops* ops) {
  if (e.add.defined()) {
    if (!e.add.is_mkldnn() || e.add.scalar_type() != at::kFloat || e.add.sizes() != at::IntArrayRef(dst)) return false;
    ops->append_binary(ideep::algorithm::binary_add, at::native::itensor_from_mkldnn(e.add).get_desc());
  }
  if (e.clamp) {
    if (e.min == 0 && e.max == FLT_MAX)
      ops->append_eltwise(1.0f, ideep::algorithm::eltwise_relu, 0.0f, 0.0f);
    else
      ops->append_eltwise(1.0f, ideep::algorithm::eltwise_clip, e.min, e.max);
  }
  return true;
}

// What a convolution's oneDNN primitive is built from, besides the weight tensor itself.
struct ConvSignature {
  ideep::dims src, dst, strides, dilations, pad_begin, pad_end;
  int groups = 1;
  bool has_bias = false, add = false, clamp = false;
  ideep::tensor::desc add_desc;
  float min = 0, max = 0;

  bool operator==(const ConvSignature& o) const {
    return src == o.src && dst == o.dst && strides == o.strides && dilations == o.dilations && pad_begin == o.pad_begin &&
           pad_end == o.pad_end && groups == o.groups && has_bias == o.has_bias && add == o.add &&
           (!add || add_desc == o.add_desc) && clamp == o.clamp && min == o.min && max == o.max;
  }
};

// A convolution ready to run: its primitive and its weights reordered into the layout the
// primitive wants.
struct ConvPlan {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward primitive;
  ideep::tensor weights;
};

// Plans kept per weight tensor while it lives unchanged. Building one per batch (a primitive
// descriptor, a key string for ideep's cache, a lookup in oneDNN's) cost mobilenet_v2 at batch 1
// about a tenth of its time, and reordering the weights every batch cost resnet18 ~20 ms per batch
// of 32. A weight changed in place (an optimizer step) has a new version and gets a new plan.
class ConvPlans {
 public:
  std::shared_ptr<const ConvPlan> get(const at::Tensor& w, const at::Tensor& bias, const ideep::tensor& src,
                                      const ConvSignature& sig, const ideep::attr_t& attr) {
    if (w.is_inference()) return build(w, bias, src, sig, attr);  // no version counter to trust
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[w.unsafeGetTensorImpl()];
    // The weak reference keeps the key's address from being reused by another tensor while held.
    if (!e.plan || e.source.expired() || e.source._unsafe_get_target() != w.unsafeGetTensorImpl() ||
        e.version != w._version() || !(e.signature == sig)) {
      e = Entry{c10::weak_intrusive_ptr<c10::TensorImpl>(w.getIntrusivePtr()), w._version(), sig,
                build(w, bias, src, sig, attr)};
      forget_dead();
    }
    return e.plan;
  }

 private:
  struct Entry {
    c10::weak_intrusive_ptr<c10::TensorImpl> source{c10::intrusive_ptr<c10::TensorImpl>()};
    int64_t version = 0;
    ConvSignature signature;
    std::shared_ptr<const ConvPlan> plan;
  };

  // The weights are always a copy the plan owns: a view of `plain` (when oneDNN wants the plain
  // layout) would outlive a temporary contiguous copy of a channels-last weight.
  static std::shared_ptr<const ConvPlan> build(const at::Tensor& w, const at::Tensor& bias, const ideep::tensor& src,
                                               const ConvSignature& sig, const ideep::attr_t& attr) {
    const at::Tensor plain = w.contiguous();
    const ideep::tensor weights = at::native::itensor_view_from_dense(plain);
    ideep::convolution_forward_params params;
    ideep::tensor unused_dst;
    if (sig.has_bias)
      ideep::convolution_forward::prepare(params, src, weights, at::native::itensor_view_from_dense(bias), sig.dst, unused_dst,
                                          sig.strides, sig.dilations, sig.pad_begin, sig.pad_end, sig.groups, {}, {}, {}, attr);
    else
      ideep::convolution_forward::prepare(params, src, weights, sig.dst, unused_dst, sig.strides, sig.dilations, sig.pad_begin,
                                          sig.pad_end, sig.groups, {}, {}, {}, attr);
    auto plan = std::make_shared<ConvPlan>(ConvPlan{params.pd, dnnl::convolution_forward(params.pd), ideep::tensor()});
    plan->weights.init(params.pd.weights_desc());
    weights.make_grouped_weights(sig.groups).reorder_to(plan->weights);
    return plan;
  }

  // Weights computed per batch (a DequantizeLinear's output) die after it: drop their entries.
  void forget_dead() {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.source.expired() ? entries_.erase(it) : std::next(it);
  }

  std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, Entry> entries_;
};

ConvPlans& conv_plans() {
  static ConvPlans* const cache = new ConvPlans();  // tensors may outlive static destruction
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
  ideep::dims dst{x.size(0), w.size(0)};
  for (size_t i = 0; i < 2; ++i) {
    const int64_t span = x.size(static_cast<int64_t>(2 + i)) + pad.begin[i] + pad.end[i] - g.dilations[i] * (g.kernel[i] - 1) - 1;
    if (span < 0 || g.strides[i] < 1) return {};
    dst.push_back(span / g.strides[i] + 1);
  }
  ideep::post_ops ops;
  if (c.epilogue && !post_ops(*c.epilogue, dst, &ops)) return {};
  const ideep::attr_t attr = ideep::attr_t::attr_post_ops(ops);

  const at::Tensor xb = x.is_mkldnn() ? x : x.contiguous().to_mkldnn();
  const at::Tensor bd = has_bias ? c.input(2).contiguous() : at::Tensor();
  const ideep::tensor& src = at::native::itensor_from_mkldnn(xb);
  ConvSignature sig;
  sig.src = src.get_dims();
  sig.dst = dst;
  sig.strides.assign(g.strides.begin(), g.strides.end());
  sig.dilations.assign(g.dilations.begin(), g.dilations.end());  // ideep converts them to oneDNN's (0 = dense)
  sig.pad_begin = pad.begin;
  sig.pad_end = pad.end;
  sig.groups = static_cast<int>(g.group);
  sig.has_bias = has_bias;
  const at::Tensor& add = c.epilogue ? c.epilogue->add : at::Tensor();
  if (add.defined()) {
    sig.add = true;
    sig.add_desc = at::native::itensor_from_mkldnn(add).get_desc();
  }
  if (c.epilogue && c.epilogue->clamp) {
    sig.clamp = true;
    sig.min = c.epilogue->min;
    sig.max = c.epilogue->max;
  }
  const std::shared_ptr<const ConvPlan> plan = conv_plans().get(w, bd, src, sig, attr);

  ideep::tensor y(plan->pd.dst_desc());
  ideep::tensor scratchpad(plan->pd.scratchpad_desc());
  const ideep::tensor expected_src = src.reorder_if_differ_in(plan->pd.src_desc());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, expected_src},
                                             {DNNL_ARG_WEIGHTS, plan->weights},
                                             {DNNL_ARG_DST, y},
                                             {DNNL_ARG_SCRATCHPAD, scratchpad}};
  ideep::tensor expected_bias, expected_add;
  if (has_bias) {
    expected_bias = at::native::itensor_view_from_dense(bd).reorder_if_differ_in(plan->pd.bias_desc());
    args.emplace(DNNL_ARG_BIAS, expected_bias);
  }
  if (add.defined()) {
    expected_add = at::native::itensor_from_mkldnn(add).reorder_if_differ_in(plan->pd.dst_desc());
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, expected_add);
  }
  plan->primitive.execute(ideep::stream::default_stream(), args);
  return one(at::native::new_with_itensor_mkldnn(std::move(y), at::kFloat, x.device()));
}

}  // namespace nncompress::runtime::kernels
