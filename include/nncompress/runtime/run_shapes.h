#pragma once
// Shapes for analysis (MACs, channel pruning): ONNX's shape inference, completed by one executor
// run where it stops (an op libonnx 1.12 does not know, such as opset 20's Gelu, or a shape
// computed from data). The run feeds zeros of the graph inputs' shapes, so it needs every input
// dimension fixed (--input-shape) but the batch; a symbolic batch runs twice (1 and 2) and the
// dimensions that follow it stay symbolic: those that double are written as batch multiples
// (ir::Dim::batch_multiple, read at batch 1 for MACs). With other unknown input dimensions, the
// inferred shapes are returned as they are.
#include <string>
#include <vector>

#include "nncompress/ir/model.h"
#include "nncompress/ir/value_type.h"

namespace nncompress::runtime {

// Fills in `types` the values produced by nodes whose inferred shape is missing or has a dim that
// is neither a number nor a symbol of a graph input (a model whose shapes inference resolved
// does not run). Returns how many; 0 with a line in `warnings` when the model cannot run that way.
int complete_shapes_by_running(const ir::Model& model, ir::TypeMap& types, std::vector<std::string>* warnings = nullptr);

// onnxio::infer_shapes, then complete_shapes_by_running.
ir::TypeMap known_shapes(const ir::Model& model, std::vector<std::string>* warnings = nullptr);

}  // namespace nncompress::runtime
