#pragma once
// The registry of ONNX ops the executor can run, keyed by op type (default domain).
#include <map>
#include <string>
#include <vector>

#include "nncompress/runtime/kernel.h"

namespace nncompress::runtime {

class KernelRegistry {
 public:
  // The registry with every built-in kernel.
  static const KernelRegistry& instance();

  void add(const std::string& op_type, Kernel kernel, int64_t min_opset = 1);
  // nullptr when the op (at that opset) has no kernel.
  const KernelEntry* find(const std::string& domain, const std::string& op_type, int64_t opset) const;
  std::vector<std::string> op_types() const;

  // Inference-only variants on MKL-DNN (oneDNN) tensors in their blocked layout, for the ops
  // LibTorch has such kernels for. They return no outputs when a node or its inputs do not suit
  // them (the executor then runs the plain kernel on plain tensors).
  void add_blocked(const std::string& op_type, Kernel kernel);
  Kernel find_blocked(const std::string& op_type) const;  // nullptr when there is none

 private:
  std::map<std::string, std::vector<KernelEntry>> kernels_;
  std::map<std::string, Kernel> blocked_;
};

// Each family of kernels registers itself through one of these (src/runtime/kernels/).
namespace kernels {
void register_elementwise_kernels(KernelRegistry& r);
void register_linear_kernels(KernelRegistry& r);
void register_pool_kernels(KernelRegistry& r);
void register_norm_kernels(KernelRegistry& r);
void register_shape_kernels(KernelRegistry& r);
void register_reduce_kernels(KernelRegistry& r);
void register_resize_kernels(KernelRegistry& r);
void register_quant_kernels(KernelRegistry& r);
}  // namespace kernels

}  // namespace nncompress::runtime
