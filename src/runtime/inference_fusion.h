#pragma once
// The patterns of nodes the executor computes inside one kernel in inference (see Epilogue):
// a BatchNormalization folded into its Conv, and the element-wise ops after a Conv or a MatMul
// by a weight. Each finder checks that the values it would skip have no other reader.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::runtime {

// The one use of v when it is v's only reader and v is no graph output, else nullptr.
const ir::Use* sole_use(const ir::Value* v);

// The inference-mode BatchNormalization that alone reads a Conv's output, or nullptr. Folding it
// into the convolution at run time is what ONNX Runtime does at load time.
const ir::Node* foldable_batchnorm(const ir::Node& conv);

// Relu, or a Clip whose bounds are attributes or initializers: known before the graph runs.
bool fusable_activation(const ir::Node& n);

// The Add that alone reads `y` and adds a float initializer of `columns` values along y's last
// axis (a Linear layer's bias after its MatMul), or nullptr. `operand` gets the bias's input index.
const ir::Node* bias_add(const ir::Value* y, int64_t columns, size_t* operand);

// The nodes of the exact (erf) GELU of x, 0.5 * x * (1 + erf(x / sqrt(2))), as torch.onnx and
// Hugging Face exports write it, when they alone read x; the node computing the result is last.
// Empty when x feeds anything else.
std::vector<const ir::Node*> erf_gelu(const ir::Value* x);

}  // namespace nncompress::runtime
