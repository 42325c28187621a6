#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// Equal up to float rounding, measured against the reference's scale: Winograd convolutions (3x3,
// stride 1) round differently from a direct sum, by ~1e-6 of the largest output, so an element
// near zero may differ by more than an element-wise relative tolerance allows.
::testing::AssertionResult near(const at::Tensor& actual, const at::Tensor& reference) {
  if (actual.sizes() != reference.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  const float diff = (actual - reference).abs().max().item<float>();
  const float scale = std::max(1.0f, reference.abs().max().item<float>());
  if (diff <= 1e-5f * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max difference " << diff << " at scale " << scale;
}

// A ResNet-like chain with every op that has a blocked-layout kernel, and ops that have none
// (Clip, Flatten, Gemm) so the executor converts back to plain tensors midway:
// x -> conv1 (stride 2) -> bn -> relu -> maxpool -+-> conv2 -> add -> relu -> conv3 -> clip -> conv4 -> gap -> flatten -> fc
//                                                 +-------------^
struct Net {
  Model model;

  Value* param(const std::string& name, std::vector<int64_t> dims) {
    return model.graph.add_initializer(name, runtime::from_aten(at::randn(dims, at::kFloat) * 0.3, DataType::Float));
  }
  Value* positive(const std::string& name, int64_t n) {
    return model.graph.add_initializer(name, runtime::from_aten(at::rand({n}, at::kFloat) + 0.5, DataType::Float));
  }
  Value* node(const std::string& op, std::vector<Value*> in, std::vector<Attribute> attrs = {}) {
    const std::string name = op + std::to_string(model.graph.nodes().size());
    return model.graph.add_node({op, name, "", std::move(in), {name + "_out"}, std::move(attrs), {}, ""})->output(0);
  }

  Net() {
    at::manual_seed(3);
    Graph& g = model.graph;
    model.opset_imports = {{"", 13}};
    Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(13), Dim::known(13)}));
    const Attribute pads = Attribute::make_ints("pads", {1, 1, 1, 1});
    Value* c1 = node("Conv", {x, param("w1", {8, 3, 3, 3}), param("b1", {8})}, {pads, Attribute::make_ints("strides", {2, 2})});
    Value* bn = node("BatchNormalization", {c1, positive("scale", 8), param("shift", {8}), param("mean", {8}), positive("var", 8)});
    Value* r1 = node("Relu", {bn});
    Value* p = node("MaxPool", {r1}, {Attribute::make_ints("kernel_shape", {3, 3}), Attribute::make_ints("strides", {2, 2}), pads});
    Value* c2 = node("Conv", {p, param("w2", {8, 8, 3, 3})}, {pads});
    Value* r2 = node("Relu", {node("Add", {c2, p})});
    Value* c3 = node("Conv", {r2, param("w3", {8, 1, 3, 3})}, {pads, Attribute::make_int("group", 8)});
    Value* clip = node("Clip", {c3, g.add_initializer("lo", runtime::from_aten(at::zeros({}), DataType::Float)),
                                g.add_initializer("hi", runtime::from_aten(at::full({}, 0.5), DataType::Float))});
    Value* c4 = node("Conv", {clip, param("w4", {6, 8, 1, 1})});
    Value* flat = node("Flatten", {node("GlobalAveragePool", {c4})});
    Value* y = node("Gemm", {flat, param("wf", {4, 6})}, {Attribute::make_int("transB", 1)});
    g.mark_output(y);
    captured = {r1->name(), r2->name()};
  }
  std::vector<std::string> captured;
};

}  // namespace

TEST(BlockedLayout, InferenceMatchesPlainTensorsAndCapturesArePlain) {
  Net net;
  runtime::Executor exec(net.model);
  const at::Tensor x = at::randn({2, 3, 13, 13});
  at::NoGradGuard no_grad;
  std::unordered_map<std::string, at::Tensor> plain_values, blocked_values;
  exec.set_blocked_layout(false);
  const at::Tensor plain = exec.run({x}, net.captured, &plain_values).at(0);
  exec.set_blocked_layout(true);
  const at::Tensor blocked = exec.run({x}, net.captured, &blocked_values).at(0);
  ASSERT_EQ(blocked.sizes(), plain.sizes());
  EXPECT_FALSE(blocked.is_mkldnn());
  EXPECT_TRUE(near(blocked, plain));
  for (const std::string& name : net.captured) {
    const at::Tensor& v = blocked_values.at(name);
    EXPECT_FALSE(v.is_mkldnn()) << name;
    EXPECT_TRUE(near(v, plain_values.at(name))) << name;
  }
  // The same run with gradients on (training code) never uses the blocked layout and agrees too.
  at::AutoGradMode grad(true);
  EXPECT_TRUE(near(exec.run({x}).at(0), plain));
}

namespace {

// Convolutions followed by the ops a blocked convolution computes as it runs (BatchNorm, a
// residual Add, Relu or Clip), and by ones it must not take:
//   ca -> bna -> relua                        (t)
//   cb(t) -> bnb -> addb(+t) -> relub         (u)
//   cd(u) -> bnd --------> adds -> relus      (v)   cs(u) comes after cd, so cs takes the Add
//   cs(u) ---------------^
//   ce(v) -> clipe(0, 0.5)                    (w)
//   cf(w) -> addf(+ per-channel bias, broadcast) -> reluf -> gap -> flatten -> fc
struct ResidualNet {
  Model model;

  Value* param(const std::string& name, std::vector<int64_t> dims, double scale = 0.3) {
    return model.graph.add_initializer(name, runtime::from_aten(at::randn(dims, at::kFloat) * scale, DataType::Float));
  }
  Value* node(const std::string& name, const std::string& op, std::vector<Value*> in, std::vector<Attribute> attrs = {}) {
    return model.graph.add_node({op, name, "", std::move(in), {name + "_out"}, std::move(attrs), {}, ""})->output(0);
  }
  Value* conv(const std::string& name, Value* x, int64_t in, int64_t out) {
    return node(name, "Conv", {x, param(name + "_w", {out, in, 3, 3}), param(name + "_b", {out})},
                {Attribute::make_ints("pads", {1, 1, 1, 1})});
  }
  Value* bn(const std::string& name, Value* x, int64_t c) {
    Value* scale = model.graph.add_initializer(name + "_s", runtime::from_aten(at::rand({c}) + 0.5, DataType::Float));
    Value* var = model.graph.add_initializer(name + "_v", runtime::from_aten(at::rand({c}) + 0.5, DataType::Float));
    return node(name, "BatchNormalization", {x, scale, param(name + "_t", {c}), param(name + "_m", {c}), var});
  }

  ResidualNet() {
    at::manual_seed(5);
    Graph& g = model.graph;
    model.opset_imports = {{"", 13}};
    Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(9), Dim::known(9)}));
    Value* t = node("relua", "Relu", {bn("bna", conv("ca", x, 3, 8), 8)});
    Value* u = node("relub", "Relu", {node("addb", "Add", {bn("bnb", conv("cb", t, 8, 8), 8), t})});
    Value* d = bn("bnd", conv("cd", u, 8, 8), 8);
    Value* v = node("relus", "Relu", {node("adds", "Add", {d, conv("cs", u, 8, 8)})});
    Value* w = node("clipe", "Clip", {conv("ce", v, 8, 8), g.add_initializer("lo", runtime::from_aten(at::zeros({}), DataType::Float)),
                                      g.add_initializer("hi", runtime::from_aten(at::full({}, 0.5), DataType::Float))});
    Value* f = node("reluf", "Relu", {node("addf", "Add", {conv("cf", w, 8, 8), param("bias", {8, 1, 1})})});
    Value* y = node("fc", "Gemm", {node("flat", "Flatten", {node("gap", "GlobalAveragePool", {f})}), param("wf", {4, 8})},
                    {Attribute::make_int("transB", 1)});
    g.mark_output(y);
  }
};

at::Tensor run_blocked(runtime::Executor& exec, const at::Tensor& x, bool blocked, const std::vector<std::string>& capture = {},
                       std::unordered_map<std::string, at::Tensor>* captured = nullptr) {
  at::NoGradGuard no_grad;
  exec.set_blocked_layout(blocked);
  return exec.run({x}, capture, captured).at(0);
}

}  // namespace

TEST(BlockedLayout, ConvolutionsComputeTheBatchNormAddAndActivationAfterThem) {
  ResidualNet net;
  runtime::Executor exec(net.model);
  // cd's Add operand (cs) is computed after it, so the later convolution takes that Add; cf's
  // broadcast bias Add is planned but refused at run time (it and the Relu still run, separately).
  EXPECT_EQ(exec.inference_fusions(), (std::vector<std::string>{"ca + bna + relua", "cb + bnb + addb + relub", "cd + bnd",
                                                                "cs + adds + relus", "ce + clipe", "cf + addf + reluf"}));
  const at::Tensor x = at::randn({2, 3, 9, 9});
  const at::Tensor plain = run_blocked(exec, x, false), blocked = run_blocked(exec, x, true);
  EXPECT_TRUE(near(blocked, plain));
}

TEST(BlockedLayout, CapturingAValueInsideAFusedChainStillComputesIt) {
  ResidualNet net;
  runtime::Executor exec(net.model);
  const at::Tensor x = at::randn({3, 3, 9, 9});
  const std::vector<std::string> inside{"addb_out", "bnd_out", "cs_out"};
  std::unordered_map<std::string, at::Tensor> plain_values, blocked_values;
  const at::Tensor plain = run_blocked(exec, x, false, inside, &plain_values);
  const at::Tensor blocked = run_blocked(exec, x, true, inside, &blocked_values);
  EXPECT_TRUE(near(blocked, plain));
  for (const std::string& name : inside) {
    ASSERT_TRUE(blocked_values.count(name)) << name;
    EXPECT_TRUE(near(blocked_values.at(name), plain_values.at(name))) << name;
  }
}

TEST(BlockedLayout, ClipBoundsAreApplied) {
  // The fused Clip's output (the end of ce's chain, so capturing it keeps the fusion).
  ResidualNet net;
  runtime::Executor exec(net.model);
  std::unordered_map<std::string, at::Tensor> values;
  run_blocked(exec, at::randn({2, 3, 9, 9}) * 4, true, {"clipe_out"}, &values);
  const at::Tensor& clip = values.at("clipe_out");
  EXPECT_GE(clip.min().item<float>(), 0.0f);
  EXPECT_LE(clip.max().item<float>(), 0.5f);
  EXPECT_GT((clip == 0.5f).sum().item<int64_t>(), 0);
}

TEST(BlockedLayout, WeightsChangedBetweenRunsAreUsed) {
  // Inference keeps BatchNorms folded into convolutions and convolution weights reordered between
  // runs: a weight changed in place (an optimizer step) or replaced must still be seen.
  ResidualNet net;
  runtime::Executor exec(net.model);
  const at::Tensor x = at::randn({2, 3, 9, 9});
  // With gradients on nothing is folded or kept: the reference.
  const auto reference = [&] {
    at::AutoGradMode grad(true);
    return exec.run({x}).at(0).detach();
  };
  const at::Tensor before = run_blocked(exec, x, true);
  EXPECT_TRUE(at::equal(run_blocked(exec, x, true), before)) << "the kept weights give the same result";
  {
    at::NoGradGuard no_grad;
    exec.parameter("ca_w").mul_(0.5);  // folded with bna
    exec.parameter("bnb_s").add_(0.25);  // folded into cb
    exec.parameter("cs_w").neg_();       // not folded
  }
  const at::Tensor changed = run_blocked(exec, x, true);
  EXPECT_FALSE(at::allclose(changed, before, 1e-3, 1e-3));
  EXPECT_TRUE(near(changed, reference()));
  EXPECT_TRUE(near(run_blocked(exec, x, false), reference()));
  exec.parameter("cd_w") = at::randn({8, 8, 3, 3});  // a new tensor
  const at::Tensor replaced = run_blocked(exec, x, true);
  EXPECT_FALSE(at::allclose(replaced, changed, 1e-3, 1e-3));
  EXPECT_TRUE(near(replaced, reference()));
}

TEST(BlockedLayout, GroupedConvolutionsWithOddGroupWidthsMatch) {
  // Pruned grouped convolutions (resnext) leave group widths oneDNN does not block: it then wants
  // the weights in a plain layout, and the kept copy must still be one the executor owns.
  for (const int64_t width : {3, 5, 7}) {
    Model model;
    Graph& g = model.graph;
    model.opset_imports = {{"", 13}};
    const int64_t groups = 4, channels = groups * width;
    Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(channels), Dim::known(7), Dim::known(7)}));
    Value* w = g.add_initializer("w", runtime::from_aten(at::randn({channels, width, 3, 3}), DataType::Float));
    Value* y = g.add_node({"Conv", "conv", "", {x, w}, {"y"},
                           {Attribute::make_int("group", groups), Attribute::make_ints("pads", {1, 1, 1, 1})}, {}, ""})
                   ->output(0);
    g.mark_output(y);
    runtime::Executor exec(model);
    const at::Tensor input = at::randn({2, channels, 7, 7});
    at::Tensor reference;
    {
      at::AutoGradMode grad(true);
      reference = exec.run({input}).at(0).detach();
    }
    for (int run = 0; run < 3; ++run) {  // the first run packs the weights, later ones reuse them
      at::randn({channels * width * 9});  // allocations between runs reuse freed memory
      const at::Tensor blocked = run_blocked(exec, input, true);
      EXPECT_TRUE(near(blocked, reference)) << "width " << width << ", run " << run;
    }
  }
}

TEST(BlockedLayout, KeptPlansFollowShapesGeometryAndSharedWeights) {
  // A convolution's plan (primitive, packed weights and bias) is kept per weight tensor: a new batch
  // size, a second convolution reading the same weight with another stride, dilation or padding,
  // or a bias changed in place must get a new plan, not the first one's.
  Model model;
  Graph& g = model.graph;
  model.opset_imports = {{"", 13}};
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(8), Dim::known(11), Dim::known(11)}));
  Value* w = g.add_initializer("w", runtime::from_aten(at::randn({8, 8, 3, 3}) * 0.3, DataType::Float));
  Value* bias = g.add_initializer("bias", runtime::from_aten(at::randn({4}), DataType::Float));
  Value* a = g.add_node({"Conv", "dilated", "", {x, w}, {"a"},
                         {Attribute::make_ints("dilations", {2, 2}), Attribute::make_ints("pads", {2, 1, 2, 2})}, {}, ""})
                 ->output(0);
  Value* b = g.add_node({"Conv", "strided", "", {a, w}, {"b"},
                         {Attribute::make_ints("strides", {2, 2}), Attribute::make_ints("pads", {0, 1, 1, 0})}, {}, ""})
                 ->output(0);
  Value* w2 = g.add_initializer("w2", runtime::from_aten(at::randn({4, 8, 1, 1}), DataType::Float));
  g.mark_output(g.add_node({"Conv", "biased", "", {b, w2, bias}, {"c"}, {}, {}, ""})->output(0));
  runtime::Executor exec(model);
  int run = 0;
  for (const int64_t batch : {2, 1, 3, 1, 1}) {
    if (++run == 5) {
      at::NoGradGuard no_grad;
      exec.parameter("bias").add_(1.0);
    }
    const at::Tensor input = at::randn({batch, 8, 11, 11});
    at::Tensor reference;
    {
      at::AutoGradMode grad(true);
      reference = exec.run({input}).at(0).detach();
    }
    const at::Tensor blocked = run_blocked(exec, input, true);
    ASSERT_EQ(blocked.sizes(), reference.sizes()) << "run " << run;
    EXPECT_TRUE(near(blocked, reference)) << "run " << run;
  }
}
