#pragma once
// The layers weight quantization of transformers and MLPs works on: a MatMul or Gemm whose
// second operand is a constant 2-D float weight and whose first is computed at run time.
#include <ATen/core/Tensor.h>

#include <optional>

#include "nncompress/ir/graph.h"

namespace nncompress::passes {

struct ConstantWeightMatMul {
  ir::Node* node;
  at::Tensor weight;  // [K, N] float: K the reduction dimension (a Gemm's transB undone)
  ir::Value* bias;    // Gemm's C, or nullptr
};

// `n` as such a layer; nullopt when it is not one (Gemm with transA, alpha or beta != 1 included).
std::optional<ConstantWeightMatMul> constant_weight_matmul(ir::Node* n);

}  // namespace nncompress::passes
