// Raising the opset keeps what a model computes: Reduce* axes move from an attribute to an input
// at opset 18; ops whose meaning changed are refused by name, and so are models with subgraphs.
// Models before opset 13 go through ONNX's version converter first.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/opset_upgrade.h"
#include "nncompress/runtime/executor.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

Model reduce_model(int64_t opset, const std::string& op = "ReduceMean") {
  Model model;
  model.ir_version = 7;
  model.opset_imports = {{"", opset}};
  Graph& g = model.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(2), Dim::known(3), Dim::known(4)}));
  Node* n = g.add_node({op, "reduce", "", {x}, {"y"}, {Attribute::make_ints("axes", {1, 2}), Attribute::make_int("keepdims", 0)}, {}, ""});
  g.mark_output(n->output(0));
  return model;
}

}  // namespace

TEST(OpsetUpgrade, ReduceAxesBecomeAnInputAndResultsStay) {
  Model model = reduce_model(13);
  const at::Tensor x = at::randn({2, 3, 4});
  const at::Tensor before = runtime::Executor(model).run({x}).at(0);
  passes::upgrade_opset(model, 21);
  EXPECT_EQ(model.opset_version(), 21);
  EXPECT_EQ(model.ir_version, 10);
  const Node& n = *model.graph.nodes()[0];
  EXPECT_FALSE(n.has_attribute("axes"));
  ASSERT_EQ(n.inputs().size(), 2u);
  ASSERT_TRUE(n.input(1)->has_initializer());
  const at::Tensor after = runtime::Executor(model).run({x}).at(0);
  EXPECT_TRUE(after.equal(before)) << before << after;
}

TEST(OpsetUpgrade, OldModelsGoThroughOnnxsConverter) {
  Model old = reduce_model(11);
  const at::Tensor x = at::randn({2, 3, 4});
  const at::Tensor before = runtime::Executor(old).run({x}).at(0);
  passes::upgrade_opset(old, 21);
  EXPECT_EQ(old.opset_version(), 21);
  EXPECT_TRUE(runtime::Executor(old).run({x}).at(0).equal(before));
}

TEST(OpsetUpgrade, RefusesChangedOps) {
  Model grid = reduce_model(16, "GridSample");
  EXPECT_THROW(passes::upgrade_opset(grid, 21), Error);
  Model with_subgraph = reduce_model(13);
  Attribute body;
  body.name = "body";
  body.kind = AttributeKind::Graph;  // opaque bytes in the IR: nothing inside could be rewritten
  with_subgraph.graph.nodes()[0]->set_attribute(body);
  EXPECT_THROW(passes::upgrade_opset(with_subgraph, 21), Error);
  Model same = reduce_model(13);
  passes::upgrade_opset(same, 13);  // nothing to do
  EXPECT_TRUE(same.graph.nodes()[0]->has_attribute("axes"));
}
