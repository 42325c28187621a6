// Training-mode BatchNorm on channels-last activations matches LibTorch's at::batch_norm: output,
// running statistics, and the gradients of the input, scale and bias; its sums do not depend on
// the thread count.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <tuple>

#include "nncompress/runtime/batch_norm_training.h"

using nncompress::runtime::batch_norm_training;
using nncompress::runtime::batch_norm_training_applies;

namespace {

struct Result {
  at::Tensor y, running_mean, running_var, dx, dscale, dbias;
};

// One forward and backward (against a fixed random output gradient) by `ours` or by LibTorch.
Result run(bool ours, const at::Tensor& x0, const at::Tensor& scale0, const at::Tensor& bias0, const at::Tensor& dy) {
  at::Tensor x = x0.clone(at::MemoryFormat::ChannelsLast).requires_grad_(true);
  at::Tensor scale = scale0.clone().requires_grad_(true), bias = bias0.clone().requires_grad_(true);
  const int64_t c = x0.size(1);
  at::Tensor mean = at::linspace(-0.5, 0.5, c), var = at::linspace(0.5, 2.0, c);
  at::Tensor y = ours ? batch_norm_training(x, scale, bias, mean, var, 0.1, 1e-5)
                      : at::batch_norm(x, scale, bias, mean, var, true, 0.1, 1e-5, false);
  const auto grads = torch::autograd::grad({y}, {x, scale, bias}, {dy});
  return {y.detach(), mean, var, grads[0], grads[1], grads[2]};
}

void expect_close(const at::Tensor& a, const at::Tensor& b, const char* what, double tol) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = (a - b).abs().max().item<double>(), scale = b.abs().max().item<double>() + 1e-6;
  EXPECT_LE(err / scale, tol) << what << ": max abs difference " << err << " (values up to " << scale << ")";
}

class BatchNormTraining : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(BatchNormTraining, MatchesLibTorch) {
  const auto [n, c, hw] = GetParam();
  at::manual_seed(c * 131 + hw);
  const at::Tensor x = (at::randn({n, c, hw, hw}) * 3 + 1).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor scale = at::rand({c}) + 0.5, bias = at::randn({c});
  const at::Tensor dy = at::randn({n, c, hw, hw}).contiguous(at::MemoryFormat::ChannelsLast);
  ASSERT_TRUE(batch_norm_training_applies(x, scale, bias, at::zeros({c}), at::ones({c})));
  const Result a = run(true, x, scale, bias, dy), b = run(false, x, scale, bias, dy);
  expect_close(a.y, b.y, "output", 1e-5);
  expect_close(a.running_mean, b.running_mean, "running mean", 1e-5);
  expect_close(a.running_var, b.running_var, "running variance", 1e-5);
  expect_close(a.dx, b.dx, "input gradient", 1e-4);
  expect_close(a.dscale, b.dscale, "scale gradient", 1e-4);
  expect_close(a.dbias, b.dbias, "bias gradient", 1e-4);
  EXPECT_TRUE(a.y.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(a.dx.is_contiguous(at::MemoryFormat::ChannelsLast));
}

// Channel counts around the 16-float strips (pruned models have any), sizes that end mid-strip
// and mid-block, and a batch of 1.
INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormTraining,
                         ::testing::Values(std::make_tuple(8, 1, 5), std::make_tuple(8, 7, 28), std::make_tuple(4, 16, 9),
                                           std::make_tuple(3, 21, 14), std::make_tuple(64, 50, 7),
                                           std::make_tuple(2, 64, 33), std::make_tuple(1, 1001, 3),
                                           std::make_tuple(5, 130, 1)));

TEST(BatchNormTrainingThreads, SameBitsForAnyThreadCount) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({16, 21, 20, 20}).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor scale = at::rand({21}) + 0.5, bias = at::randn({21}), dy = at::randn_like(x);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const Result one = run(true, x, scale, bias, dy);
  at::set_num_threads(2);
  const Result two = run(true, x, scale, bias, dy);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(one.y, two.y));
  EXPECT_TRUE(at::equal(one.running_var, two.running_var));
  EXPECT_TRUE(at::equal(one.dx, two.dx));
  EXPECT_TRUE(at::equal(one.dscale, two.dscale));
}

TEST(BatchNormTrainingApplies, OnlyChannelsLastFloatWithVariance) {
  const at::Tensor s = at::ones({3});
  EXPECT_TRUE(batch_norm_training_applies(at::randn({2, 3, 4, 4}).contiguous(at::MemoryFormat::ChannelsLast), s, s, s, s));
  EXPECT_FALSE(batch_norm_training_applies(at::randn({2, 3, 4, 4}), s, s, s, s));  // NCHW
  EXPECT_FALSE(batch_norm_training_applies(at::randn({2, 3, 4}), s, s, s, s));
  EXPECT_FALSE(batch_norm_training_applies(at::randn({1, 3, 1, 1}), s, s, s, s));  // one value per channel
  EXPECT_FALSE(batch_norm_training_applies(at::randn({2, 3, 4, 4}, at::kDouble).contiguous(at::MemoryFormat::ChannelsLast),
                                           s, s, s, s));
  EXPECT_FALSE(batch_norm_training_applies(at::randn({2, 3, 4, 4}).contiguous(at::MemoryFormat::ChannelsLast), at::ones({4}),
                                           s, s, s));
}

TEST(BatchNormTrainingVersions, RunningStatisticsChangeTheirVersions) {
  const at::Tensor x = at::randn({4, 3, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor s = at::ones({3}), b = at::zeros({3});
  at::Tensor mean = at::zeros({3}), var = at::ones({3});
  const auto vm = mean._version(), vv = var._version();
  batch_norm_training(x, s, b, mean, var, 0.1, 1e-5);
  EXPECT_GT(mean._version(), vm);
  EXPECT_GT(var._version(), vv);
  EXPECT_FALSE(at::equal(mean, at::zeros({3})));
}

}  // namespace
