// Hard-swish, HardSigmoid gates and scalar affine blocks (MobileNetV3, PP-LCNet) in int8: the chain
// is rewritten to Mul(x, HardSigmoid(x)) with the same outputs, and int8 leaves no float op
// between the convolutions, only Q/DQ around integer Add and Mul.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <map>

#include "nncompress/passes/cleanup/hard_swish.h"
#include "nncompress/passes/quant/int8.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"
#include "graph_builders.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

using test::constant;
using test::node;

// x -> conv1 -> * 0.9 -> + 0.3 (affine block) -> hard-swish as paddle2onnx writes it -> * 0.5 -> + 0.1
//   -> squeeze-excitation (GlobalAveragePool -> conv_se -> HardSigmoid(0.2, 0.5) -> Mul) -> conv2 -> y
Model net() {
  at::manual_seed(3);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(1), Dim::known(3), Dim::known(8), Dim::known(8)}));
  Value* c1 = node(g, "Conv", "conv1", {x, constant(g, "w1", at::randn({6, 3, 3, 3}) * 0.3), constant(g, "b1", at::randn({6}))},
                   {Attribute::make_ints("pads", {1, 1, 1, 1})});
  Value* a = node(g, "Add", "shift1", {node(g, "Mul", "scale1", {c1, constant(g, "k1", at::full({1}, 0.9))}),
                                       constant(g, "k2", at::full({1}, 0.3))});
  Value* plus3 = node(g, "Add", "plus3", {a, constant(g, "three", at::scalar_tensor(3.0))});
  Value* clip = node(g, "Clip", "clip", {plus3, constant(g, "zero", at::scalar_tensor(0.0)), constant(g, "six", at::scalar_tensor(6.0))});
  Value* hs = node(g, "Div", "div6", {node(g, "Mul", "times_x", {a, clip}), constant(g, "six_b", at::scalar_tensor(6.0))});
  Value* lab = node(g, "Add", "shift2", {node(g, "Mul", "scale2", {hs, constant(g, "k3", at::full({1}, 0.5))}),
                                         constant(g, "k4", at::full({1}, 0.1))});
  Value* pooled = node(g, "GlobalAveragePool", "gap", {lab});
  Value* se = node(g, "Conv", "conv_se", {pooled, constant(g, "wse", at::randn({6, 6, 1, 1})), constant(g, "bse", at::randn({6}))});
  Value* gate = node(g, "HardSigmoid", "gate", {se}, {Attribute::make_float("alpha", 0.2f), Attribute::make_float("beta", 0.5f)});
  Value* scaled = node(g, "Mul", "excite", {lab, gate});
  g.mark_output(node(g, "Conv", "conv2", {scaled, constant(g, "w2", at::randn({4, 6, 1, 1}))}));
  return m;
}

std::map<std::string, int> op_counts(const Model& m) {
  std::map<std::string, int> counts;
  for (const auto& n : m.graph.nodes()) ++counts[n->op_type()];
  return counts;
}

double cosine(const at::Tensor& a, const at::Tensor& b) {
  return ((a * b).sum() / (a.norm() * b.norm())).item<double>();
}

}  // namespace

TEST(ExpandHardSwish, RewritesThePaddleChainWithTheSameOutputs) {
  Model m = net();
  const at::Tensor x = at::randn({1, 3, 8, 8}) * 2;
  const at::Tensor before = runtime::Executor(m).run({x})[0];
  EXPECT_EQ(passes::expand_hard_swish(m), 1);
  const std::map<std::string, int> ops = op_counts(m);
  EXPECT_EQ(ops.count("Clip"), 0u);
  EXPECT_EQ(ops.count("Div"), 0u);
  EXPECT_EQ(ops.at("HardSigmoid"), 2);  // the new one and the SE gate
  EXPECT_EQ(m.graph.find_value("three"), nullptr);  // the chain's constants are gone
  EXPECT_TRUE(at::allclose(runtime::Executor(m).run({x})[0], before, 1e-5, 1e-5));
}

TEST(ExpandHardSwish, TwoInARow) {
  // x -> hard-swish chain -> HardSwish node -> hard-swish chain -> y: each rewrite replaces the
  // value the next one reads.
  Model m;
  m.opset_imports = {{"", 14}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(2), Dim::known(5)}));
  auto chain = [&](const std::string& p, Value* in) {
    Value* plus3 = node(g, "Add", p + "plus3", {in, constant(g, p + "three", at::scalar_tensor(3.0))});
    Value* clip = node(g, "Clip", p + "clip", {plus3, constant(g, p + "lo", at::scalar_tensor(0.0)), constant(g, p + "hi", at::scalar_tensor(6.0))});
    Value* sixth = node(g, "Mul", p + "sixth", {clip, constant(g, p + "k", at::scalar_tensor(1.0 / 6.0))});
    return node(g, "Mul", p + "times_x", {sixth, in});  // the other order: / 6 first, then * x
  };
  g.mark_output(node(g, "Relu", "relu", {chain("b", node(g, "HardSwish", "hs", {chain("a", x)}))}));
  const at::Tensor input = at::linspace(-5, 5, 10).reshape({2, 5});
  const at::Tensor before = runtime::Executor(m).run({input})[0];
  EXPECT_EQ(passes::expand_hard_swish(m), 3);
  EXPECT_EQ(op_counts(m).at("HardSigmoid"), 3);
  EXPECT_TRUE(at::allclose(runtime::Executor(m).run({input})[0], before, 1e-5, 1e-5));
}

TEST(ExpandHardSwish, LeavesAChainWhoseClipIsNotZeroToSix) {
  Model m = net();
  runtime::replace_data(*m.graph.value("six").mutable_initializer(), at::scalar_tensor(5.0, at::kDouble));
  EXPECT_EQ(passes::expand_hard_swish(m), 0);
}

TEST(Int8Gates, NoFloatOpBetweenTheConvolutions) {
  Model m = net();
  const at::Tensor x = at::randn({16, 3, 8, 8}) * 2;
  std::vector<at::Tensor> reference;
  for (int64_t i = 0; i < 4; ++i) reference.push_back(runtime::Executor(m).run({x.slice(0, i, i + 1)})[0]);
  data::Dataset calibration;
  calibration.x = x;
  passes::Int8Options options;
  options.calibration.batch = 1;
  const passes::Int8Result r = passes::quantize_int8(m, calibration, options);
  EXPECT_EQ(r.folded_affines, 2);  // scale1, shift1 into conv1
  EXPECT_EQ(r.hard_swishes, 1);
  EXPECT_EQ(r.integer_hard_sigmoids, 1);  // the hard-swish's
  EXPECT_EQ(r.folded_gates, 1);           // the SE gate, folded into conv_se
  EXPECT_EQ(r.integer_scalar_ops, 2);  // scale2, shift2
  const std::map<std::string, int> ops = op_counts(m);
  for (const char* op : {"Clip", "Div", "HardSigmoid"}) EXPECT_EQ(ops.count(op), 0u) << op;
  // Every Add and Mul reads DequantizeLinear outputs only and feeds a QuantizeLinear: integer
  // kernels in ONNX Runtime (QLinearAdd, QLinearMul).
  for (const auto& n : m.graph.nodes()) {
    if (n->op_type() != "Add" && n->op_type() != "Mul") continue;
    for (const Value* in : n->inputs()) EXPECT_EQ(in->producer()->op_type(), "DequantizeLinear") << n->name;
    ASSERT_EQ(n->output(0)->uses().size(), 1u) << n->name;
    EXPECT_EQ(n->output(0)->uses()[0].node->op_type(), "QuantizeLinear") << n->name;
  }
  for (int64_t i = 0; i < 4; ++i)
    EXPECT_GT(cosine(runtime::Executor(m).run({x.slice(0, i, i + 1)})[0], reference[i]), 0.99) << "sample " << i;
}
