#include "nncompress/passes/quant/matmul_weights.h"

#include <ATen/ATen.h>

#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

std::optional<ConstantWeightMatMul> constant_weight_matmul(ir::Node* n) {
  if (!n->domain().empty() || (n->op_type() != "MatMul" && n->op_type() != "Gemm")) return std::nullopt;
  const ir::Value* w = n->input(1);
  if (!w || !w->initializer() || !ir::is_floating_point(w->initializer()->dtype())) return std::nullopt;
  if (n->input(0) && n->input(0)->initializer()) return std::nullopt;  // a constant input: nothing at run time
  at::Tensor weight = runtime::to_aten(*w->initializer()).to(at::kFloat);
  if (weight.dim() != 2) return std::nullopt;
  if (n->op_type() == "Gemm") {
    if (n->attr_int("transA", 0) != 0 || n->attr_float("alpha", 1.f) != 1.f || n->attr_float("beta", 1.f) != 1.f)
      return std::nullopt;
    if (n->attr_int("transB", 0) != 0) weight = weight.t();
  }
  return ConstantWeightMatMul{n, weight.contiguous(), n->op_type() == "Gemm" ? n->input(2) : nullptr};
}

}  // namespace nncompress::passes
