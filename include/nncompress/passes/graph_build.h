#pragma once
// Building blocks for passes that add nodes and constants: names are derived from a base and made
// unique in the graph, and a node is named like its first output.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "nncompress/ir/graph.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

// A new initializer holding `value` stored as `type`.
inline ir::Value* add_constant(ir::Graph& g, const std::string& base, const at::Tensor& value, ir::DataType type) {
  return g.add_initializer(g.unique_name(base), runtime::from_aten(value, type));
}

// A new `op` node with `outputs` outputs (named base, or base_0, base_1, ... when several).
inline ir::Node* add_op(ir::Graph& g, const std::string& op, const std::string& base, std::vector<ir::Value*> inputs,
                        std::vector<ir::Attribute> attributes = {}, int outputs = 1) {
  std::vector<std::string> names;
  for (int i = 0; i < outputs; ++i) names.push_back(g.unique_name(outputs > 1 ? base + "_" + std::to_string(i) : base));
  return g.add_node({op, names[0], "", std::move(inputs), names, std::move(attributes), {}, ""});
}

}  // namespace nncompress::passes
