#pragma once
// Small graphs built node by node in unit tests: float constants and single-output nodes named
// after their output.
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "nncompress/ir/graph.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::test {

inline ir::Value* constant(ir::Graph& g, const std::string& name, const at::Tensor& t) {
  return g.add_initializer(name, runtime::from_aten(t, ir::DataType::Float));
}

inline ir::Value* node(ir::Graph& g, const std::string& op, const std::string& name, std::vector<ir::Value*> inputs,
                       std::vector<ir::Attribute> attrs = {}) {
  return g.add_node({op, name, "", std::move(inputs), {name}, std::move(attrs), {}, ""})->output(0);
}

}  // namespace nncompress::test
