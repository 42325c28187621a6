#pragma once
// Helpers shared by the kernel families.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/ir/data_type.h"
#include "nncompress/runtime/kernel.h"

namespace nncompress::runtime::kernels {

inline std::vector<at::Tensor> one(at::Tensor t) { return {std::move(t)}; }

// The values of a 0-D or 1-D integer tensor (shapes, axes, pads given as inputs).
std::vector<int64_t> int_values(const at::Tensor& t);
// Refuses (naming the node) a result shape with negative dimensions or more bytes than this
// machine's physical memory: computed shapes come from the model and may be hostile, and an
// over-committed allocation would only fail when the pages are touched.
void check_result_size(const KernelContext& ctx, const std::vector<int64_t>& shape, int64_t element_bytes);
// An axis in [-rank, rank) made non-negative; a bad_input error naming the node otherwise.
int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank);
// The LibTorch type the executor uses for an ONNX `to`/`dtype` attribute value.
at::ScalarType scalar_type_for(const KernelContext& ctx, int64_t onnx_type);
// Same-as-ONNX integer/float split (ONNX integer ops differ from float ones in rounding).
inline bool is_integral(const at::Tensor& t) { return at::isIntegralType(t.scalar_type(), /*includeBool=*/true); }

// Padding described by ONNX's conv/pool attributes for `spatial` dimensions: explicit pads
// (begin..., end...) or auto_pad SAME_UPPER / SAME_LOWER / VALID worked out from the input size.
struct Padding {
  std::vector<int64_t> begin, end;
  bool symmetric() const { return begin == end; }
};
Padding conv_padding(const KernelContext& ctx, const at::Tensor& x, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations);
struct ConvGeometry {
  std::vector<int64_t> kernel, strides, dilations;
  int64_t group;
};
// A Conv/ConvTranspose node's kernel shape, strides, dilations and group for weight `w`.
ConvGeometry conv_geometry(const KernelContext& ctx, const at::Tensor& w);
// Pads the trailing spatial dims of x with `value` (begin/end per spatial dim, in order).
at::Tensor pad_spatial(const at::Tensor& x, const Padding& p, double value);

// Conv in inference on MKL-DNN tensors in their blocked layout, with the context's Epilogue
// fused (kernels/conv_blocked.cpp).
std::vector<at::Tensor> conv_blocked(const KernelContext& ctx);
// MatMul in inference through oneDNN: by a weight matrix with the context's Epilogue fused
// (kernels/matmul_dnnl.cpp); of two activations through batched_matmul_dnnl.
std::vector<at::Tensor> matmul_dnnl(const KernelContext& ctx);
// MatMul of two activations with the same batch axes, in inference (kernels/batched_matmul_dnnl.cpp).
std::vector<at::Tensor> batched_matmul_dnnl(const KernelContext& ctx);
// Softmax of a plain float tensor in inference (kernels/softmax_dnnl.cpp).
std::vector<at::Tensor> softmax_dnnl(const KernelContext& ctx);
// LayerNormalization's normalized result in inference (kernels/layer_norm_dnnl.cpp).
std::vector<at::Tensor> layer_norm_dnnl(const KernelContext& ctx);

}  // namespace nncompress::runtime::kernels
