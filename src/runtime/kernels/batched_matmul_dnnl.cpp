// MatMul of two activations (attention's Q x K^T and P x V) in inference, through a oneDNN
// matmul primitive kept per shape and strides. LibTorch's at::matmul copies a transposed operand
// and calls the system BLAS once per head: vit-fmnist's [4 x 17 x 32] x [4 x 32 x 17] products
// took ~15 us at batch 1, most of it per-call overhead. oneDNN reads the strided (transposed) view
// as it is and runs every head in one call.
#include <oneapi/dnnl/dnnl.hpp>

#include <ideep.hpp>

#include <memory>
#include <tuple>
#include <unordered_map>

#include "kernel_util.h"
#include "dnnl_run.h"

namespace nncompress::runtime::kernels {
namespace {

using dnnl::memory;

// An operand as a stack of matrices: [batch, rows, columns] with strides in elements.
struct Stack {
  memory::dims dims, strides;
  bool operator<(const Stack& o) const { return std::tie(dims, strides) < std::tie(o.dims, o.strides); }
};

// The operand's batch axes merged into one, or false when its strides do not allow it.
bool as_stack(const at::Tensor& t, Stack* s) {
  if (t.stride(-1) <= 0 || t.stride(-2) <= 0) return false;  // broadcast views: made contiguous
  int64_t batch = 1, batch_stride = t.size(-2) * t.size(-1), next = -1;  // next: the stride merging needs
  for (int64_t i = t.dim() - 3; i >= 0; --i) {
    if (t.size(i) == 1) continue;
    if (t.stride(i) <= 0 || (next >= 0 && t.stride(i) != next)) return false;
    if (next < 0) batch_stride = t.stride(i);
    batch *= t.size(i);
    next = t.stride(i) * t.size(i);
  }
  s->dims = {batch, t.size(-2), t.size(-1)};
  s->strides = {batch_stride, t.stride(-2), t.stride(-1)};
  return true;
}

struct Product {
  dnnl::matmul primitive;
  memory::desc scratchpad_desc;
};

std::shared_ptr<const Product> build_product(const std::pair<Stack, Stack>& operands) {
  const Stack& a = operands.first;
  const Stack& b = operands.second;
  const memory::desc src(a.dims, memory::data_type::f32, a.strides), weights(b.dims, memory::data_type::f32, b.strides);
  const memory::desc dst({a.dims[0], a.dims[1], b.dims[2]}, memory::data_type::f32, memory::format_tag::abc);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, dst), attr, ideep::engine::cpu_engine());
  return std::make_shared<const Product>(Product{dnnl::matmul(pd), pd.scratchpad_desc()});
}

KeyedPlans<std::pair<Stack, Stack>, Product>& products() {
  static auto* const kept = new KeyedPlans<std::pair<Stack, Stack>, Product>();  // may be in use during static destruction
  return *kept;
}

}  // namespace

std::vector<at::Tensor> batched_matmul_dnnl(const KernelContext& c) {
  const at::Tensor& a = c.input(0);
  const at::Tensor& b = c.input(1);
  // Same batch axes on both sides (attention's); broadcasting ones go to LibTorch.
  if (!plain_float(a) || !plain_float(b) || a.dim() < 3 || a.dim() != b.dim() || a.size(-1) != b.size(-2)) return {};
  if (a.sizes().slice(0, a.dim() - 2) != b.sizes().slice(0, b.dim() - 2) || a.numel() == 0 || b.numel() == 0) return {};
  Stack sa, sb;
  at::Tensor x = a, y = b;
  if (!as_stack(x, &sa)) as_stack(x = a.contiguous(), &sa);
  if (!as_stack(y, &sb)) as_stack(y = b.contiguous(), &sb);
  std::shared_ptr<const Product> product;
  try {
    product = products().get({sa, sb}, build_product);
  } catch (const dnnl::error&) {
    return {};
  }
  std::vector<int64_t> out_shape = a.sizes().vec();
  out_shape.back() = b.size(-1);
  at::Tensor out = at::empty(out_shape, a.options());
  run_primitive(product->primitive, product->scratchpad_desc,
                {{DNNL_ARG_SRC, dnnl_view({sa.dims, memory::data_type::f32, sa.strides}, x.data_ptr())},
                 {DNNL_ARG_WEIGHTS, dnnl_view({sb.dims, memory::data_type::f32, sb.strides}, y.data_ptr())},
                 {DNNL_ARG_DST, dnnl_view({{sa.dims[0], sa.dims[1], sb.dims[2]}, memory::data_type::f32, memory::format_tag::abc},
                                          out.data_ptr())}});
  return one(out);
}

}  // namespace nncompress::runtime::kernels
