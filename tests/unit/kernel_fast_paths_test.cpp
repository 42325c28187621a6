// Kernels with a fast path for a common case (issue 22) give what their general path gives:
// LayerNormalization without its optional outputs, Gather of one index, Gemm of one row, a
// convolution whose windows tile its input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "nncompress/core/error.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

Value* input(Graph& g, const std::string& name, DataType type, std::vector<Dim> dims) {
  return g.add_input(name, ValueType::tensor(type, std::move(dims)));
}

Value* constant(Graph& g, const std::string& name, const at::Tensor& t) {
  return g.add_initializer(name, runtime::from_aten(t, t.scalar_type() == at::kLong ? DataType::Int64 : DataType::Float));
}

at::Tensor run_one(const Model& m, const std::vector<at::Tensor>& inputs, size_t output = 0) {
  at::NoGradGuard no_grad;
  runtime::Executor exec(m);
  return exec.run(inputs).at(output);
}

// x[N,5,8] -> LayerNormalization over the last axis; with all three outputs when `stats`.
Model layer_norm(bool stats, const at::Tensor& scale, const at::Tensor& bias) {
  Model m;
  m.opset_imports = {{"", 17}};
  Graph& g = m.graph;
  Value* x = input(g, "x", DataType::Float, {Dim::symbol("N"), Dim::known(5), Dim::known(8)});
  std::vector<std::string> outs{"y"};
  if (stats) outs.insert(outs.end(), {"mean", "inv_std"});
  Node* n = g.add_node({"LayerNormalization", "ln", "", {x, constant(g, "scale", scale), constant(g, "bias", bias)}, outs,
                        {Attribute::make_float("epsilon", 1e-3f)}, {}, ""});
  for (Value* v : n->outputs()) g.mark_output(v);
  return m;
}

}  // namespace

TEST(KernelFastPaths, LayerNormWithoutStatisticsMatchesTheGeneralPath) {
  at::manual_seed(2);
  const at::Tensor scale = at::randn({8}), bias = at::randn({8}), x = at::randn({3, 5, 8}) * 4 + 1;
  const at::Tensor fast = run_one(layer_norm(false, scale, bias), {x});
  const at::Tensor general = run_one(layer_norm(true, scale, bias), {x});
  EXPECT_TRUE(at::allclose(fast, general, 1e-5, 1e-5)) << (fast - general).abs().max().item<float>();
  const at::Tensor mean = x.mean({-1}, true), var = (x - mean).pow(2).mean({-1}, true);
  EXPECT_TRUE(at::allclose(fast, (x - mean) / at::sqrt(var + 1e-3) * scale + bias, 1e-4, 1e-5));
}

TEST(KernelFastPaths, GatherOfOneIndexMatchesTheGeneralPath) {
  at::manual_seed(3);
  for (const int64_t axis : {0, 1}) {
    for (const int64_t index : {2, -1, -4, 3}) {
      Model m;
      m.opset_imports = {{"", 13}};
      Graph& g = m.graph;
      Value* x = input(g, "x", DataType::Float, {Dim::known(4), Dim::known(4)});
      Value* scalar = constant(g, "i", at::tensor(index, at::kLong).reshape({}));
      Value* vector = constant(g, "iv", at::tensor({index}, at::kLong));
      const Attribute a = Attribute::make_int("axis", axis);
      g.mark_output(g.add_node({"Gather", "one", "", {x, scalar}, {"y"}, {a}, {}, ""})->output(0));
      g.mark_output(g.add_node({"Gather", "general", "", {x, vector}, {"z"}, {a}, {}, ""})->output(0));
      const at::Tensor data = at::randn({4, 4});
      at::NoGradGuard no_grad;
      runtime::Executor exec(m);
      const std::vector<at::Tensor> out = exec.run({data});
      ASSERT_EQ(out[0].dim(), 1) << "a scalar index drops the axis";
      EXPECT_TRUE(at::equal(out[0], out[1].squeeze(axis))) << "axis " << axis << ", index " << index;
      EXPECT_TRUE(at::equal(out[0], data.select(axis, index < 0 ? index + 4 : index)));
    }
  }
}

TEST(KernelFastPaths, GatherOfAnIndexOutOfRangeIsRefused) {
  for (const int64_t index : {4, -5}) {
    Model m;
    m.opset_imports = {{"", 13}};
    Graph& g = m.graph;
    Value* x = input(g, "x", DataType::Int64, {Dim::known(4)});
    Value* i = constant(g, "i", at::tensor(index, at::kLong).reshape({}));
    g.mark_output(g.add_node({"Gather", "shape_dim", "", {x, i}, {"y"}, {}, {}, ""})->output(0));
    runtime::Executor exec(m);
    try {
      exec.run({at::arange(4, at::kLong)});
      ADD_FAILURE() << "index " << index << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find("shape_dim"), std::string::npos) << e.what();
    }
  }
}

TEST(KernelFastPaths, GemmOfOneRowMatchesTheSameRowInABatch) {
  // Batch 1 runs as a matrix-vector product; row 0 of a batch of 3 runs as a matrix product.
  at::manual_seed(4);
  const at::Tensor w = at::randn({6, 10}), x = at::randn({3, 10});
  for (const bool bias_row : {false, true}) {
    Model m;
    m.opset_imports = {{"", 13}};
    Graph& g = m.graph;
    Value* in = input(g, "x", DataType::Float, {Dim::symbol("N"), Dim::known(10)});
    Value* c = constant(g, "c", bias_row ? at::randn({1, 6}) : at::randn({6}));
    g.mark_output(g.add_node({"Gemm", "fc", "", {in, constant(g, "w", w), c}, {"y"},
                              {Attribute::make_int("transB", 1), Attribute::make_float("alpha", 0.5f),
                               Attribute::make_float("beta", 2.0f)},
                              {}, ""})
                      ->output(0));
    const at::Tensor one = run_one(m, {x.narrow(0, 0, 1)}), batch = run_one(m, {x});
    ASSERT_EQ(one.sizes(), (std::vector<int64_t>{1, 6}));
    EXPECT_TRUE(at::allclose(one, batch.narrow(0, 0, 1), 1e-5, 1e-5)) << "bias row " << bias_row;
  }
}

TEST(KernelFastPaths, ConvolutionsTilingTheirInputMatchLibTorch) {
  // Kernel = stride, no padding: a product of patches (vit-fmnist's stem: 1 channel, 7x7, stride 7).
  // With bias and without, several channels, a non-square kernel.
  at::manual_seed(6);
  struct Case {
    int64_t channels, kh, kw;
    bool bias;
  };
  for (const Case& k : {Case{1, 7, 7, true}, Case{3, 2, 4, false}, Case{5, 4, 2, true}}) {
    Model m;
    m.opset_imports = {{"", 13}};
    Graph& g = m.graph;
    Value* in = input(g, "x", DataType::Float, {Dim::symbol("N"), Dim::known(k.channels), Dim::known(28), Dim::known(28)});
    const at::Tensor w = at::randn({6, k.channels, k.kh, k.kw}), b = at::randn({6});
    std::vector<Value*> args{in, constant(g, "w", w)};
    if (k.bias) args.push_back(constant(g, "b", b));
    g.mark_output(g.add_node({"Conv", "stem", "", args, {"y"}, {Attribute::make_ints("strides", {k.kh, k.kw})}, {}, ""})->output(0));
    const at::Tensor x = at::randn({2, k.channels, 28, 28});
    const at::Tensor reference = at::conv2d(x, w, k.bias ? b : at::Tensor(), {k.kh, k.kw});
    const at::Tensor y = run_one(m, {x});
    ASSERT_EQ(y.sizes(), reference.sizes());
    EXPECT_TRUE(at::allclose(y, reference, 1e-4, 1e-5)) << k.channels << " channels, " << k.kh << "x" << k.kw;
  }
}

TEST(KernelFastPaths, LayerNormInInferenceMatchesLibTorchForEveryAxisWithAndWithoutBias) {
  // Inference runs oneDNN's layer normalization over [rows, normalized elements].
  at::manual_seed(8);
  for (const int64_t axis : {-1, 1}) {
    for (const bool with_bias : {true, false}) {
      Model m;
      m.opset_imports = {{"", 17}};
      Graph& g = m.graph;
      Value* x = input(g, "x", DataType::Float, {Dim::symbol("N"), Dim::known(5), Dim::known(8)});
      const std::vector<int64_t> normalized = axis == 1 ? std::vector<int64_t>{5, 8} : std::vector<int64_t>{8};
      const at::Tensor scale = at::randn(normalized), bias = at::randn(normalized);
      std::vector<Value*> args{x, constant(g, "scale", scale)};
      if (with_bias) args.push_back(constant(g, "bias", bias));
      g.mark_output(g.add_node({"LayerNormalization", "ln", "", args, {"y"},
                                {Attribute::make_int("axis", axis), Attribute::make_float("epsilon", 1e-3f)}, {}, ""})
                        ->output(0));
      const at::Tensor in = at::randn({3, 5, 8}) * 4 + 1;
      const at::Tensor reference = at::layer_norm(in, normalized, scale, with_bias ? bias : at::Tensor(), 1e-3);
      runtime::Executor exec(m);
      at::NoGradGuard no_grad;
      for (const bool blocked : {true, false}) {
        exec.set_blocked_layout(blocked);
        EXPECT_TRUE(at::allclose(exec.run({in}).at(0), reference, 1e-4, 1e-5)) << "axis " << axis << ", bias " << with_bias;
      }
    }
  }
}
