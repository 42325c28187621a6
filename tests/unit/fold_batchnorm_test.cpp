// BatchNormalization folding keeps the model's outputs and removes the BN nodes it can fold.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/passes/cleanup/fold_batchnorm.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

Value* constant(Graph& g, const std::string& name, const at::Tensor& t) {
  return g.add_initializer(name, runtime::from_aten(t, DataType::Float));
}

// x -> conv1 (no bias) -> bn1 -> relu -> conv2 (bias) -> bn2 -> relu -> y; conv2's output is a
// second graph output when `shared` (so bn2 cannot fold).
Model net(bool shared) {
  at::manual_seed(0);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(2), Dim::known(3), Dim::known(6), Dim::known(6)}));
  auto bn = [&](const std::string& name, Value* in, int64_t c) {
    return g.add_node({"BatchNormalization", name, "",
                       {in, constant(g, name + ".g", at::rand({c}) + 0.5), constant(g, name + ".b", at::randn({c})),
                        constant(g, name + ".m", at::randn({c})), constant(g, name + ".v", at::rand({c}) + 0.1)},
                       {name + ".y"}, {Attribute::make_float("epsilon", 1e-3f)}, {}, ""});
  };
  Node* c1 = g.add_node({"Conv", "conv1", "", {x, constant(g, "w1", at::randn({4, 3, 3, 3}))}, {"c1"}, {}, {}, ""});
  Node* b1 = bn("bn1", c1->output(0), 4);
  Node* r = g.add_node({"Relu", "relu", "", {b1->output(0)}, {"r"}, {}, {}, ""});
  Node* c2 = g.add_node({"Conv", "conv2", "", {r->output(0), constant(g, "w2", at::randn({5, 4, 1, 1})), constant(g, "b2", at::randn({5}))},
                         {"c2"}, {}, {}, ""});
  Node* b2 = bn("bn2", c2->output(0), 5);
  g.mark_output(g.add_node({"Relu", "relu2", "", {b2->output(0)}, {"y"}, {}, {}, ""})->output(0));
  if (shared) g.mark_output(c2->output(0));
  return m;
}

std::vector<at::Tensor> run(const Model& m, const at::Tensor& x) { return runtime::Executor(m).run({x}); }

int count(const Model& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph.nodes()) n += node->op_type() == op;
  return n;
}

}  // namespace

TEST(FoldBatchNorm, SameOutputsWithoutTheBatchNorms) {
  const at::Tensor x = at::randn({2, 3, 6, 6});
  Model m = net(false);
  const at::Tensor before = run(m, x)[0];
  EXPECT_EQ(passes::fold_batchnorm(m.graph), 2);
  EXPECT_EQ(count(m, "BatchNormalization"), 0);
  EXPECT_TRUE(at::allclose(run(m, x)[0], before, 1e-5, 1e-5));
  EXPECT_EQ(m.graph.find_value("bn1.g"), nullptr);  // its parameters are gone
  EXPECT_NE(m.graph.value("c1").producer()->input(2), nullptr);  // conv1 got a bias
}

TEST(FoldBatchNorm, LeavesAConvWhoseOutputIsAlsoReadElsewhere) {
  const at::Tensor x = at::randn({2, 3, 6, 6});
  Model m = net(true);
  const std::vector<at::Tensor> before = run(m, x);
  EXPECT_EQ(passes::fold_batchnorm(m.graph), 1);  // bn1 only
  EXPECT_EQ(count(m, "BatchNormalization"), 1);
  const std::vector<at::Tensor> after = run(m, x);
  EXPECT_TRUE(at::allclose(after[0], before[0], 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(after[1], before[1], 1e-5, 1e-5));
}

// x -> conv1 (no bias) -> * a[1] -> + b[1,4,1,1] -> relu -> conv2 -> * c[5,1,1] -> + d[6] (along W:
// not per channel) -> y.
Model affine_net() {
  at::manual_seed(1);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(2), Dim::known(3), Dim::known(6), Dim::known(6)}));
  auto op = [&](const std::string& type, const std::string& name, Value* in, const at::Tensor& c) {
    return g.add_node({type, name, "", {in, constant(g, name + ".c", c)}, {name + ".y"}, {}, {}, ""})->output(0);
  };
  Node* c1 = g.add_node({"Conv", "conv1", "", {x, constant(g, "w1", at::randn({4, 3, 3, 3}))}, {"c1"},
                         {Attribute::make_ints("pads", {1, 1, 1, 1})}, {}, ""});
  Value* a = op("Mul", "scale1", c1->output(0), at::full({1}, -0.7));
  Value* b = op("Add", "shift1", a, at::randn({1, 4, 1, 1}));
  Node* r = g.add_node({"Relu", "relu", "", {b}, {"r"}, {}, {}, ""});
  Node* c2 = g.add_node({"Conv", "conv2", "", {r->output(0), constant(g, "w2", at::randn({5, 4, 1, 1})), constant(g, "b2", at::randn({5}))},
                         {"c2"}, {}, {}, ""});
  Value* c = op("Mul", "scale2", c2->output(0), at::rand({5, 1, 1}) + 0.5);
  g.mark_output(op("Add", "shift2", c, at::randn({6})));
  return m;
}

TEST(FoldAffineIntoConv, FoldsPerChannelMulAndAddOnly) {
  const at::Tensor x = at::randn({2, 3, 6, 6});
  Model m = affine_net();
  const at::Tensor before = run(m, x)[0];
  EXPECT_EQ(passes::fold_affine_into_conv(m.graph), 3);  // scale1, shift1, scale2; not shift2
  EXPECT_EQ(count(m, "Mul"), 0);
  EXPECT_EQ(count(m, "Add"), 1);
  EXPECT_TRUE(at::allclose(run(m, x)[0], before, 1e-5, 1e-5));
  EXPECT_EQ(m.graph.find_value("scale1.c"), nullptr);  // its constant is gone
}

TEST(FoldAffineIntoConv, ConstantAsTheFirstOperand) {
  at::manual_seed(2);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(1), Dim::known(3), Dim::known(4), Dim::known(4)}));
  Node* c = g.add_node({"Conv", "conv", "", {x, constant(g, "w", at::randn({2, 3, 1, 1}))}, {"c"}, {}, {}, ""});
  Node* mul = g.add_node({"Mul", "scale", "", {constant(g, "k", at::rand({1, 2, 1, 1})), c->output(0)}, {"s"}, {}, {}, ""});
  g.mark_output(g.add_node({"Relu", "relu", "", {mul->output(0)}, {"y"}, {}, {}, ""})->output(0));
  const at::Tensor input = at::randn({1, 3, 4, 4});
  const at::Tensor before = run(m, input)[0];
  EXPECT_EQ(passes::fold_affine_into_conv(m.graph), 1);
  EXPECT_TRUE(at::allclose(run(m, input)[0], before, 1e-5, 1e-5));
}

// x -> conv (no bias) -> HardSigmoid(0.2, 0.5) -> Mul(x, gate) -> y, at `opset`.
Model gate_net(int64_t opset) {
  at::manual_seed(4);
  Model m;
  m.opset_imports = {{"", opset}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(2), Dim::known(3), Dim::known(4), Dim::known(4)}));
  Node* c = g.add_node({"Conv", "conv", "", {x, constant(g, "w", at::randn({3, 3, 1, 1}) * 3)}, {"c"}, {}, {}, ""});
  Node* gate = g.add_node({"HardSigmoid", "gate", "", {c->output(0)}, {"h"},
                           {Attribute::make_float("alpha", 0.2f), Attribute::make_float("beta", 0.5f)}, {}, ""});
  g.mark_output(g.add_node({"Mul", "excite", "", {x, gate->output(0)}, {"y"}, {}, {}, ""})->output(0));
  return m;
}

TEST(FoldHardSigmoidIntoConv, GateBecomesAClipOfTheFoldedConv) {
  const at::Tensor x = at::randn({2, 3, 4, 4});
  for (int64_t opset : {9, 13}) {
    Model m = gate_net(opset);
    const at::Tensor before = run(m, x)[0];
    EXPECT_EQ(passes::fold_hard_sigmoid_into_conv(m, {}), 1) << "opset " << opset;
    EXPECT_EQ(count(m, "HardSigmoid"), 0);
    ASSERT_EQ(count(m, "Clip"), 1);
    const Node* clip = m.graph.value("y").producer()->input(1)->producer();
    ASSERT_EQ(clip->op_type(), "Clip");
    EXPECT_EQ(clip->has_attribute("max"), opset < 11);  // bounds as attributes before opset 11, inputs after
    EXPECT_NE(m.graph.value("c").producer()->input(2), nullptr);  // the conv got a bias: beta
    EXPECT_TRUE(at::allclose(run(m, x)[0], before, 1e-5, 1e-5)) << "opset " << opset;
  }
}

TEST(FoldHardSigmoidIntoConv, LeavesKeptNodesAndSharedOutputs) {
  Model kept = gate_net(13);
  EXPECT_EQ(passes::fold_hard_sigmoid_into_conv(kept, {"conv"}), 0);
  EXPECT_EQ(passes::fold_hard_sigmoid_into_conv(kept, {"gate"}), 0);
  Model shared = gate_net(13);
  shared.graph.mark_output(&shared.graph.value("c"));  // the conv's output is read twice
  EXPECT_EQ(passes::fold_hard_sigmoid_into_conv(shared, {}), 0);
  EXPECT_EQ(count(shared, "HardSigmoid"), 1);
}
