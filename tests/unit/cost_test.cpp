#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/analysis/cost.h"

using namespace nncompress;
using namespace nncompress::ir;

TEST(Cost, CountsConvGemmAndMatMulMacs) {
  Graph g;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(8), Dim::known(8)}));
  Value* w = g.add_initializer("w", Tensor(DataType::Float, {16, 3, 3, 3}, at::zeros({16 * 27})));
  Value* b = g.add_initializer("b", Tensor(DataType::Float, {16}, at::zeros({16})));
  Node* conv = g.add_node({"Conv", "conv", "", {x, w, b}, {"y"}, {}, {}, ""});
  Value* fw = g.add_initializer("fw", Tensor(DataType::Float, {10, 1024}, at::zeros({10240})));
  Node* flat = g.add_node({"Flatten", "flat", "", {conv->output(0)}, {"f"}, {}, {}, ""});
  Node* gemm = g.add_node({"Gemm", "fc", "", {flat->output(0), fw}, {"o"}, {Attribute::make_int("transB", 1)}, {}, ""});
  Node* mm = g.add_node({"MatMul", "mm", "", {gemm->output(0), fw}, {"m"}, {}, {}, ""});  // shares fw
  g.mark_output(mm->output(0));

  TypeMap types;
  types["y"] = ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(16), Dim::known(8), Dim::known(8)});
  types["f"] = ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(1024)});
  types["o"] = ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(10)});
  // "m" left unknown on purpose.

  const analysis::ModelCost cost = analysis::compute_cost(g, types);
  ASSERT_EQ(cost.nodes.size(), 4u);
  EXPECT_EQ(*cost.nodes[0].macs, 16 * 8 * 8 * 3 * 3 * 3);  // batch 1
  EXPECT_EQ(cost.nodes[0].params, 16 * 27 + 16);
  EXPECT_EQ(*cost.nodes[1].macs, 0);
  EXPECT_EQ(*cost.nodes[2].macs, 10 * 1024);
  EXPECT_EQ(cost.nodes[2].params, 10240);
  EXPECT_FALSE(cost.nodes[3].macs.has_value());
  EXPECT_EQ(cost.nodes[3].params, 0);  // fw counted at its first reader
  EXPECT_EQ(cost.params, 16 * 27 + 16 + 10240);
  EXPECT_EQ(cost.nodes_with_unknown_macs, 1);
  EXPECT_EQ(cost.macs, 16 * 8 * 8 * 27 + 10240);
  EXPECT_EQ(cost.initializer_bytes, 4u * (16 * 27 + 16 + 10240));
}
