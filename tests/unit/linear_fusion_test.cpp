#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// A transformer block's MLP as torch.onnx writes it, with the residual after it:
// x -> up (MatMul by [8,16]) -> + b_up -> GELU (Div, Erf, Add, Mul, Mul) -> down (MatMul by [16,8]) -> + b_down -> + x
struct Mlp {
  Model model;
  Value* x = nullptr;

  Value* param(const std::string& name, std::vector<int64_t> dims) {
    return model.graph.add_initializer(name, runtime::from_aten(at::randn(dims) * 0.3, DataType::Float));
  }
  Value* scalar(const std::string& name, double v) {
    return model.graph.add_initializer(name, runtime::from_aten(at::full({}, v, at::kFloat), DataType::Float));
  }
  Value* node(const std::string& name, const std::string& op, std::vector<Value*> in) {
    return model.graph.add_node({op, name, "", std::move(in), {name + "_out"}, {}, {}, ""})->output(0);
  }

  // `half` is GELU's 0.5: a wrong constant is no GELU, and nothing after the MatMul's bias fuses.
  // Hugging Face's exports take the half first: (h * 0.5) * (1 + erf(h / sqrt(2))).
  explicit Mlp(double half = 0.5, bool half_first = false) {
    at::manual_seed(11);
    model.opset_imports = {{"", 13}};
    x = model.graph.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(5), Dim::known(8)}));
    Value* h = node("up_add", "Add", {node("up", "MatMul", {x, param("w_up", {8, 16})}), param("b_up", {16})});
    Value* erf = node("erf", "Erf", {node("div", "Div", {h, scalar("sqrt2", std::sqrt(2.0))})});
    Value* plus_one = node("plus_one", "Add", {erf, scalar("one", 1.0)});
    Value* gelu = half_first ? node("times_x", "Mul", {node("half", "Mul", {scalar("c_half", half), h}), plus_one})
                             : node("half", "Mul", {node("times_x", "Mul", {h, plus_one}), scalar("c_half", half)});
    Value* y = node("down_add", "Add", {param("b_down", {8}), node("down", "MatMul", {gelu, param("w_down", {16, 8})})});
    model.graph.mark_output(node("residual", "Add", {y, x}));
  }
};

at::Tensor run(runtime::Executor& exec, const at::Tensor& x, bool blocked, const std::vector<std::string>& capture = {},
               std::unordered_map<std::string, at::Tensor>* captured = nullptr) {
  at::NoGradGuard no_grad;
  exec.set_blocked_layout(blocked);
  return exec.run({x}, capture, captured).at(0);
}

::testing::AssertionResult near(const at::Tensor& actual, const at::Tensor& reference) {
  if (actual.sizes() != reference.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  const float diff = (actual - reference).abs().max().item<float>();
  if (diff <= 1e-5f * std::max(1.0f, reference.abs().max().item<float>())) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max difference " << diff;
}

}  // namespace

TEST(LinearFusion, MatMulComputesItsBiasGeluAndResidual) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "LibTorch without oneDNN has no fused kernels";
  Mlp mlp;
  runtime::Executor exec(mlp.model);
  EXPECT_EQ(exec.inference_fusions(),
            (std::vector<std::string>{"up + up_add + div + erf + plus_one + times_x + half", "down + down_add + residual"}));
  const at::Tensor x = at::randn({3, 5, 8});
  const at::Tensor plain = run(exec, x, false), fused = run(exec, x, true);
  EXPECT_TRUE(near(fused, plain));
  EXPECT_TRUE(at::equal(run(exec, x, true), fused)) << "the kept plan gives the same result";
}

TEST(LinearFusion, GeluWithTheHalfTakenFirstFuses) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "LibTorch without oneDNN has no fused kernels";
  Mlp mlp(0.5, true);
  runtime::Executor exec(mlp.model);
  EXPECT_EQ(exec.inference_fusions().at(0), "up + up_add + div + erf + plus_one + half + times_x");
  const at::Tensor x = at::randn({2, 5, 8});
  EXPECT_TRUE(near(run(exec, x, true), run(exec, x, false)));
}

TEST(LinearFusion, ABatchOfOneAndAnotherBatchSizeGetTheirOwnPlans) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "LibTorch without oneDNN has no fused kernels";
  Mlp mlp;
  runtime::Executor exec(mlp.model);
  for (const int64_t batch : {4, 1, 4, 2}) {
    const at::Tensor x = at::randn({batch, 5, 8});
    EXPECT_TRUE(near(run(exec, x, true), run(exec, x, false))) << "batch " << batch;
  }
}

TEST(LinearFusion, AWrongGeluConstantFusesOnlyTheBias) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "LibTorch without oneDNN has no fused kernels";
  Mlp mlp(0.25);
  runtime::Executor exec(mlp.model);
  EXPECT_EQ(exec.inference_fusions(), (std::vector<std::string>{"up + up_add", "down + down_add + residual"}));
  const at::Tensor x = at::randn({2, 5, 8});
  EXPECT_TRUE(near(run(exec, x, true), run(exec, x, false)));
}

TEST(LinearFusion, CapturedValuesInsideTheChainAreComputed) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "LibTorch without oneDNN has no fused kernels";
  Mlp mlp;
  runtime::Executor exec(mlp.model);
  const at::Tensor x = at::randn({2, 5, 8});
  const std::vector<std::string> inside{"up_add_out", "erf_out", "down_out"};
  std::unordered_map<std::string, at::Tensor> plain_values, fused_values;
  const at::Tensor plain = run(exec, x, false, inside, &plain_values);
  EXPECT_TRUE(near(run(exec, x, true, inside, &fused_values), plain));
  for (const std::string& name : inside) {
    ASSERT_TRUE(fused_values.count(name)) << name;
    EXPECT_TRUE(near(fused_values.at(name), plain_values.at(name))) << name;
  }
}

TEST(LinearFusion, WeightsAndBiasesChangedInPlaceAreUsed) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "LibTorch without oneDNN has no fused kernels";
  Mlp mlp;
  runtime::Executor exec(mlp.model);
  const at::Tensor x = at::randn({2, 5, 8});
  const at::Tensor before = run(exec, x, true);
  {
    at::NoGradGuard no_grad;
    exec.parameter("w_up").mul_(-0.5);  // a fine-tuning step changes the weights the plan packed
    exec.parameter("b_down").add_(1.0);
  }
  const at::Tensor after = run(exec, x, true);
  EXPECT_FALSE(at::allclose(after, before, 1e-3, 1e-3));
  EXPECT_TRUE(near(after, run(exec, x, false)));
}
