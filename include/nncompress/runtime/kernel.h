#pragma once
// The kernel interface: one function per ONNX op computes the node's outputs from its inputs
// with LibTorch operations, so autograd differentiates through every kernel.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::runtime {

// Element-wise work the executor asks a kernel to fuse into its result (inference only, given
// to the blocked Conv kernel and to MatMul by a weight):
// y = clamp(act(y + bias) + add, min, max), act GELU or none. A kernel given one either applies
// all of it or returns no outputs.
struct Epilogue {
  at::Tensor bias;            // a vector along the result's last axis; undefined for none
  bool gelu = false;          // the exact (erf) GELU, after the bias
  at::Tensor add;             // same shape as the result; undefined for none
  bool clamp = false;         // Relu is [0, max float]
  float min = 0, max = 0;
};

struct KernelContext {
  const ir::Node& node;
  // The node's inputs; an undefined tensor for an omitted optional input.
  const std::vector<at::Tensor>& inputs;
  // The default-domain opset version the model imports (semantics change between versions).
  int64_t opset;
  // BatchNorm and Dropout behave as in training.
  bool training;
  // Set only for the kernels the executor fuses work into (see Epilogue).
  const Epilogue* epilogue = nullptr;

  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].defined(); }
  const at::Tensor& input(size_t i) const;  // throws bad_input naming the node when absent
  size_t num_outputs() const { return node.outputs().size(); }
  bool wants_output(size_t i) const { return node.output(i) != nullptr; }
  // A bad_input error that names the node.
  [[noreturn]] void fail(const std::string& message) const;
};

using Kernel = std::vector<at::Tensor> (*)(const KernelContext&);

struct KernelEntry {
  Kernel kernel = nullptr;
  int64_t min_opset = 1;  // the first opset version whose semantics this kernel implements
};

}  // namespace nncompress::runtime
