// Conv for inference in oneDNN's blocked layout, through ideep (the oneDNN wrapper LibTorch
// itself is built on) so that the executor's Epilogue (a residual Add, then Relu or Clip) runs as
// post-ops of the convolution instead of as separate passes over memory, as ONNX Runtime fuses
// them. LibTorch 1.13 has no API for fused convolutions (its _convolution_pointwise came later).
#include <ideep.hpp>

#include <c10/util/intrusive_ptr.h>

#include <cfloat>
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

// Weights reordered into the blocked layout a convolution wants, kept while the weight tensor
// lives unchanged: without it every batch copied channels-last weights to a plain layout and
// oneDNN reordered them again (resnet18: ~20 ms of a batch). A weight changed in place (an
// optimizer step) has a new version and is packed again.
class PackedWeights {
 public:
  ideep::tensor get(const at::Tensor& w, const ideep::tensor::desc& wanted, int groups) {
    if (w.is_inference()) return pack(w, wanted, groups);  // no version counter to trust
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[w.unsafeGetTensorImpl()];
    // The weak reference keeps the key's address from being reused by another tensor while held.
    if (e.source.expired() || e.source._unsafe_get_target() != w.unsafeGetTensorImpl() ||
        e.version != w._version() || e.packed.get_desc() != wanted) {
      e = Entry{c10::weak_intrusive_ptr<c10::TensorImpl>(w.getIntrusivePtr()), w._version(), pack(w, wanted, groups)};
      forget_dead();
    }
    return e.packed;
  }

 private:
  struct Entry {
    c10::weak_intrusive_ptr<c10::TensorImpl> source{c10::intrusive_ptr<c10::TensorImpl>()};
    uint32_t version = 0;
    ideep::tensor packed;
  };

  // Always a copy the result owns: a view of `plain` (when oneDNN wants the plain layout) would
  // outlive a temporary contiguous copy of a channels-last weight.
  static ideep::tensor pack(const at::Tensor& w, const ideep::tensor::desc& wanted, int groups) {
    const at::Tensor plain = w.contiguous();
    ideep::tensor packed(wanted);
    at::native::itensor_view_from_dense(plain).make_grouped_weights(groups).reorder_to(packed);
    return packed;
  }

  // Weights computed per batch (a DequantizeLinear's output) die after it: drop their entries.
  void forget_dead() {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.source.expired() ? entries_.erase(it) : std::next(it);
  }

  std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, Entry> entries_;
};

PackedWeights& packed_weights() {
  static PackedWeights* const cache = new PackedWeights();  // tensors may outlive static destruction
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
  const ideep::dims strides(g.strides.begin(), g.strides.end()), dilations(g.dilations.begin(), g.dilations.end());
  const int groups = static_cast<int>(g.group);
  const ideep::tensor::desc wanted = ideep::convolution_forward::expected_weights_desc(
      w.sizes().vec(), ideep::data_type::f32, strides, pad.begin, pad.end, dilations, groups,
      ideep::algorithm::convolution_direct, ideep::prop_kind::forward, ideep::data_type::f32, src.get_dims(), attr);
  const ideep::tensor weights = packed_weights().get(w, wanted, groups);
  const ideep::tensor bias = has_bias ? at::native::itensor_view_from_dense(bd) : ideep::tensor();
  ideep::tensor y;
  if (c.epilogue && c.epilogue->add.defined()) {
    const ideep::tensor& other = at::native::itensor_from_mkldnn(c.epilogue->add);
    if (has_bias)
      ideep::convolution_forward::compute_binary(src, other, weights, bias, dst, y, strides, dilations, pad.begin, pad.end,
                                                 groups, false, attr);
    else
      ideep::convolution_forward::compute_binary(src, other, weights, dst, y, strides, dilations, pad.begin, pad.end, groups,
                                                 false, attr);
  } else if (has_bias) {
    ideep::convolution_forward::compute_v3(src, weights, bias, dst, y, strides, dilations, pad.begin, pad.end, groups, false,
                                           attr);
  } else {
    ideep::convolution_forward::compute_v3(src, weights, dst, y, strides, dilations, pad.begin, pad.end, groups, false, attr);
  }
  return one(at::native::new_with_itensor_mkldnn(std::move(y), at::kFloat, x.device()));
}

}  // namespace nncompress::runtime::kernels
