// Softmax in inference through oneDNN's softmax primitive, kept per shape and axis. LibTorch
// 1.13's kernel over a short last axis is slow: attention's [32 x 4 x 17 x 17] scores took 187 us
// (5 ns an element, in python3-torch too), a sixth of vit-fmnist's time at batch 32.
#include <oneapi/dnnl/dnnl.hpp>

#include <ideep.hpp>

#include <memory>
#include <unordered_map>
#include <utility>

#include "kernel_util.h"
#include "dnnl_run.h"

namespace nncompress::runtime::kernels {
namespace {

using dnnl::memory;
using Shape = std::pair<memory::dims, int>;  // a contiguous tensor's dims, the axis

memory::desc contiguous(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return memory::desc(dims, memory::data_type::f32, strides);
}

struct SoftmaxPlan {
  dnnl::softmax_forward primitive;
  memory::desc scratchpad_desc;
};

std::shared_ptr<const SoftmaxPlan> build_softmax(const Shape& shape) {
  const dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, contiguous(shape.first), shape.second);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::softmax_forward::primitive_desc pd(desc, attr, ideep::engine::cpu_engine());
  return std::make_shared<const SoftmaxPlan>(SoftmaxPlan{dnnl::softmax_forward(pd), pd.scratchpad_desc()});
}

KeyedPlans<Shape, SoftmaxPlan>& softmax_plans() {
  static auto* const kept = new KeyedPlans<Shape, SoftmaxPlan>();  // may be in use during static destruction
  return *kept;
}

}  // namespace

std::vector<at::Tensor> softmax_dnnl(const KernelContext& c) {
  const at::Tensor& input = c.input(0);
  if (!plain_float(input) || input.dim() == 0 || input.numel() == 0) return {};
  // Before opset 13 the input is viewed as 2-D [prod(dims < axis), prod(dims >= axis)].
  const int64_t rank = input.dim();
  int64_t axis = c.node.attr_int("axis", c.opset >= 13 ? -1 : 1);
  if (axis < -rank || axis >= rank) return {};  // the plain kernel names the error
  if (axis < 0) axis += rank;
  memory::dims dims(input.sizes().begin(), input.sizes().end());
  if (c.opset < 13) {
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= input.size(i);
    dims = {outer, input.numel() / outer};
    axis = 1;
  }
  std::shared_ptr<const SoftmaxPlan> plan;
  try {
    plan = softmax_plans().get({dims, static_cast<int>(axis)}, build_softmax);
  } catch (const dnnl::error&) {
    return {};
  }
  const at::Tensor x = input.contiguous();
  at::Tensor y = at::empty_like(x);
  const memory::desc data = contiguous(dims);
  run_primitive(plan->primitive, plan->scratchpad_desc,
                {{DNNL_ARG_SRC, dnnl_view(data, x.data_ptr())}, {DNNL_ARG_DST, dnnl_view(data, y.data_ptr())}});
  return one(y);
}

}  // namespace nncompress::runtime::kernels
