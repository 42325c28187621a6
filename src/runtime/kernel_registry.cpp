#include "nncompress/runtime/kernel_registry.h"

#include <algorithm>

#include "nncompress/core/error.h"

namespace nncompress::runtime {

const at::Tensor& KernelContext::input(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is missing");
  return inputs[i];
}

void KernelContext::fail(const std::string& message) const {
  throw bad_input("node " + node.describe() + ": " + message);
}

const KernelRegistry& KernelRegistry::instance() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    using namespace kernels;
    register_elementwise_kernels(r);
    register_linear_kernels(r);
    register_pool_kernels(r);
    register_norm_kernels(r);
    register_shape_kernels(r);
    register_reduce_kernels(r);
    register_resize_kernels(r);
    register_quant_kernels(r);
    return r;
  }();
  return registry;
}

void KernelRegistry::add(const std::string& op_type, Kernel kernel, int64_t min_opset) {
  auto& entries = kernels_[op_type];
  entries.push_back({kernel, min_opset});
  std::sort(entries.begin(), entries.end(), [](const KernelEntry& a, const KernelEntry& b) { return a.min_opset < b.min_opset; });
}

const KernelEntry* KernelRegistry::find(const std::string& domain, const std::string& op_type, int64_t opset) const {
  if (!domain.empty() && domain != "ai.onnx") return nullptr;
  auto it = kernels_.find(op_type);
  if (it == kernels_.end()) return nullptr;
  const KernelEntry* best = nullptr;
  for (const KernelEntry& e : it->second)
    if (e.min_opset <= opset) best = &e;
  return best;
}

void KernelRegistry::add_blocked(const std::string& op_type, Kernel kernel) { blocked_[op_type] = kernel; }

Kernel KernelRegistry::find_blocked(const std::string& op_type) const {
  auto it = blocked_.find(op_type);
  return it == blocked_.end() ? nullptr : it->second;
}

std::vector<std::string> KernelRegistry::op_types() const {
  std::vector<std::string> out;
  for (const auto& [op, entries] : kernels_) out.push_back(op);
  return out;
}

}  // namespace nncompress::runtime
