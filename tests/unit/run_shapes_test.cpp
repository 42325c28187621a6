// Where ONNX's shape inference stops (opset 20's Gelu is unknown to libonnx 1.12), one executor
// run on zeros gives the remaining shapes, so every Conv has a MAC count.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/analysis/cost.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/runtime/run_shapes.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// x -> Conv(3->4, 3x3, pads 1) -> Gelu -> Conv(4->5, 1x1) -> y, at opset 20.
Model gelu_net(Dim batch) {
  Model m;
  m.opset_imports = {{"", 20}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {batch, Dim::known(3), Dim::known(8), Dim::known(8)}));
  Value* w1 = g.add_initializer("w1", runtime::from_aten(at::randn({4, 3, 3, 3}), DataType::Float));
  Value* w2 = g.add_initializer("w2", runtime::from_aten(at::randn({5, 4, 1, 1}), DataType::Float));
  Value* c = g.add_node({"Conv", "conv1", "", {x, w1}, {"c"}, {Attribute::make_ints("pads", {1, 1, 1, 1})}, {}, ""})->output(0);
  Value* gelu = g.add_node({"Gelu", "gelu", "", {c}, {"g"}, {}, {}, ""})->output(0);
  g.mark_output(g.add_node({"Conv", "conv2", "", {gelu, w2}, {"y"}, {}, {}, ""})->output(0));
  return m;
}

bool known(const TypeMap& types, const std::string& name) {
  const auto it = types.find(name);
  if (it == types.end() || !it->second.shape) return false;
  for (const Dim& d : *it->second.shape)
    if (!d.is_known()) return false;
  return true;
}

}  // namespace

TEST(RunShapes, CompletesWhatInferenceLeavesUnknown) {
  const Model m = gelu_net(Dim::known(1));
  const TypeMap inferred = onnxio::infer_shapes(m);
  ASSERT_FALSE(known(inferred, "y"));  // the premise: inference stops at Gelu
  EXPECT_EQ(analysis::compute_cost(m.graph, inferred).nodes_with_unknown_macs, 1);

  const TypeMap types = runtime::known_shapes(m);
  ASSERT_TRUE(known(types, "g"));
  ASSERT_TRUE(known(types, "y"));
  EXPECT_EQ(ir::to_string(types.at("y")), "FLOAT[1,5,8,8]");
  const analysis::ModelCost cost = analysis::compute_cost(m.graph, types);
  EXPECT_EQ(cost.nodes_with_unknown_macs, 0);
  EXPECT_EQ(cost.macs, 4 * 3 * 9 * 64 + 5 * 4 * 64);
}

TEST(RunShapes, ASymbolicBatchStaysSymbolicAndTheRestIsFixed) {
  const Model m = gelu_net(Dim::symbol("N"));
  TypeMap types = onnxio::infer_shapes(m);
  std::vector<std::string> warnings;
  EXPECT_GT(runtime::complete_shapes_by_running(m, types, &warnings), 0);
  // Inference stopped at Gelu: y's first dimension followed the batch in the two runs (1 and 2).
  EXPECT_EQ(ir::to_string(types.at("y")), "FLOAT[batch,5,8,8]");
  EXPECT_EQ((*types.at("y").shape)[0].batch_multiple_value(), 1);
  EXPECT_EQ(analysis::compute_cost(m.graph, types).nodes_with_unknown_macs, 0);
}

TEST(RunShapes, BatchMultiplesReadBackTheirSizeAtBatchOne) {
  EXPECT_EQ(Dim::batch_multiple(12).batch_multiple_value(), 12);
  EXPECT_EQ(Dim::batch_multiple(1).param, "batch");
  EXPECT_EQ(Dim::symbol("batch*").batch_multiple_value(), std::nullopt);
  EXPECT_EQ(Dim::symbol("batch*3x").batch_multiple_value(), std::nullopt);
  EXPECT_EQ(Dim::symbol("N").batch_multiple_value(), std::nullopt);
  EXPECT_EQ(Dim::symbol("batch*99999999999999999999999").batch_multiple_value(), std::nullopt);  // past int64
}
