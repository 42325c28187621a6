// Calibration ranges: min/max, percentile and entropy (KL) thresholds on known distributions.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "nncompress/passes/quant/calibration.h"

using nncompress::passes::entropy_threshold;

namespace {

// Histogram of |x| for `samples` over [0, top) in `bins` bins.
std::vector<double> magnitude_histogram(const at::Tensor& samples, double top, int64_t bins) {
  const at::Tensor h = at::histc(samples.abs(), bins, 0, top).to(at::kDouble).contiguous();
  return std::vector<double>(h.data_ptr<double>(), h.data_ptr<double>() + bins);
}

}  // namespace

TEST(Calibration, EntropyClipsTheTailOfAGaussian) {
  at::Generator gen = at::detail::createCPUGenerator(1);
  const at::Tensor x = at::randn({200000}, gen, at::kFloat);
  const double top = x.abs().max().item<double>();
  const double t = entropy_threshold(magnitude_histogram(x, top, 2048), top / 2048, 128);
  // Below the extreme (~4.5 sigma) but keeping the bulk (TensorRT finds ~3-4 sigma for int8).
  EXPECT_LT(t, 0.95 * top);
  EXPECT_GT(t, 2.5);
}

TEST(Calibration, EntropyKeepsTheBulkOfAReluOutput) {
  at::Generator gen = at::detail::createCPUGenerator(2);
  // 70% exact zeros (a Relu), the rest half-normal with scale 2.
  const at::Tensor g = at::randn({200000}, gen, at::kFloat).abs() * 2;
  const at::Tensor x = at::where(at::rand({200000}, gen, at::kFloat) < 0.7, at::zeros_like(g), g);
  const double top = x.max().item<double>();
  // calibrate() leaves exact zeros out of the histogram; with them the narrowest candidate wins.
  const double t = entropy_threshold(magnitude_histogram(x.masked_select(x.ne(0)), top, 2048), top / 2048, 256);
  EXPECT_GT(t, 4.0) << "top " << top;  // 2 sigma of the non-zero part at least
  EXPECT_LT(t, top);
}
