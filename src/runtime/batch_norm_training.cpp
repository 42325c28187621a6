#include "nncompress/runtime/batch_norm_training.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace nncompress::runtime {
namespace {

// The loops below are memory-bound and run over whole vectors; -O3 (CMakeLists.txt) vectorizes
// them and target_clones picks the widest the CPU has. -ffp-contract=off keeps every clone's
// rounding the same (no fused multiply-adds in one and not the other).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NNCOMPRESS_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NNCOMPRESS_VECTOR_CLONES
#endif

// Each loop walks n elements as strips of `width` (the last strip may be shorter); the per-channel
// arrays (mean, a, b, k_*) hold one value per position j of a strip (Strips::repeat).

// acc[j] += x
NNCOMPRESS_VECTOR_CLONES void add_sums(const float* __restrict x, int64_t n, int64_t width, float* __restrict acc) {
  for (int64_t s = 0; s < n; s += width)
    for (int64_t j = 0, m = std::min(width, n - s); j < m; ++j) acc[j] += x[s + j];
}

// acc[j] += (x - mean)^2
NNCOMPRESS_VECTOR_CLONES void add_squares(const float* __restrict x, const float* __restrict mean, int64_t n,
                                          int64_t width, float* __restrict acc) {
  for (int64_t s = 0; s < n; s += width)
    for (int64_t j = 0, m = std::min(width, n - s); j < m; ++j) {
      const float d = x[s + j] - mean[j];
      acc[j] += d * d;
    }
}

// y = x * a + b
NNCOMPRESS_VECTOR_CLONES void affine(const float* __restrict x, const float* __restrict a, const float* __restrict b,
                                     int64_t n, int64_t width, float* __restrict y) {
  for (int64_t s = 0; s < n; s += width)
    for (int64_t j = 0, m = std::min(width, n - s); j < m; ++j) y[s + j] = x[s + j] * a[j] + b[j];
}

// acc_dy[j] += dy; acc_dy_xmu[j] += dy * (x - mean)
NNCOMPRESS_VECTOR_CLONES void add_gradient_sums(const float* __restrict dy, const float* __restrict x,
                                                const float* __restrict mean, int64_t n, int64_t width,
                                                float* __restrict acc_dy, float* __restrict acc_dy_xmu) {
  for (int64_t s = 0; s < n; s += width)
    for (int64_t j = 0, m = std::min(width, n - s); j < m; ++j) {
      const float g = dy[s + j];
      acc_dy[j] += g;
      acc_dy_xmu[j] += g * (x[s + j] - mean[j]);
    }
}

// dx = dy * k_dy + (x - mean) * k_x + k_0
NNCOMPRESS_VECTOR_CLONES void input_gradient(const float* __restrict dy, const float* __restrict x,
                                             const float* __restrict mean, const float* __restrict k_dy,
                                             const float* __restrict k_x, const float* __restrict k_0, int64_t n,
                                             int64_t width, float* __restrict dx) {
  for (int64_t s = 0; s < n; s += width)
    for (int64_t j = 0, m = std::min(width, n - s); j < m; ++j)
      dx[s + j] = dy[s + j] * k_dy[j] + (x[s + j] - mean[j]) * k_x[j] + k_0[j];
}

// A channels-last tensor is rows of C channels. It is walked in strips of a multiple of lcm(C, 16)
// floats: a per-channel value then repeats a whole number of times per strip, so the loops above
// run over whole vectors whatever C is. Strips are grouped in blocks of a size fixed by the shape
// alone; sums are kept per block and added in block order, which makes them independent of the
// thread count.
struct Strips {
  static constexpr int64_t kVector = 16;
  static constexpr int64_t kMinWidth = 256;
  static constexpr int64_t kBlockElements = int64_t{1} << 14;
  // Keeps the per-block sums (a strip's worth each) at most an eighth of the tensor when C is large.
  static constexpr int64_t kMinStripsPerBlock = 8;

  explicit Strips(const at::Tensor& x)
      : channels(x.size(1)),
        total(x.numel()),
        width(strip_width(channels)),
        block(width * std::max<int64_t>(kMinStripsPerBlock, kBlockElements / width)) {}

  // A multiple of lcm(C, 16) of at least 256 floats: shorter inner loops cost more in loop
  // overhead and accumulator loads than they save.
  static int64_t strip_width(int64_t channels) {
    const int64_t period = std::lcm(channels, kVector);
    return period * ((kMinWidth + period - 1) / period);
  }

  int64_t blocks() const { return (total + block - 1) / block; }
  double rows() const { return static_cast<double>(total / channels); }

  // Per-channel values repeated along a strip.
  std::vector<float> repeat(const std::vector<double>& per_channel) const {
    std::vector<float> r(static_cast<size_t>(width));
    for (int64_t j = 0; j < width; ++j) r[static_cast<size_t>(j)] = static_cast<float>(per_channel[static_cast<size_t>(j % channels)]);
    return r;
  }

  // Calls f(block, first element, element count) for every block, in parallel.
  template <typename BlockFn>
  void for_each_block(const BlockFn& f) const {
    at::parallel_for(0, blocks(), 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) f(b, b * block, std::min(total, (b + 1) * block) - b * block);
    });
  }

  // K per-channel sums: f(first, count, acc) adds into acc[k * width + j]. Returns sums[k * C + c].
  template <int K, typename BlockFn>
  std::vector<double> channel_sums(const BlockFn& f) const {
    const int64_t span = K * width;
    std::vector<float> partial(static_cast<size_t>(blocks() * span), 0.0f);
    for_each_block([&](int64_t b, int64_t first, int64_t n) { f(first, n, partial.data() + b * span); });
    std::vector<double> sums(static_cast<size_t>(K * channels), 0.0);
    for (int64_t b = 0; b < blocks(); ++b)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j0 = 0; j0 < width; j0 += channels)  // one row of the strip at a time
          for (int64_t c = 0; c < channels; ++c)
            sums[static_cast<size_t>(k * channels + c)] += partial[static_cast<size_t>(b * span + k * width + j0 + c)];
    return sums;
  }

  const int64_t channels, total, width, block;
};

// The per-channel tensors are float32, contiguous (batch_norm_training_applies).
std::vector<double> values(const at::Tensor& t) {
  const float* p = t.data_ptr<float>();
  return std::vector<double>(p, p + t.numel());
}

at::Tensor float_tensor(const std::vector<double>& v) {
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::kFloat);
  std::copy(v.begin(), v.end(), t.data_ptr<float>());
  return t;
}

// running = (1 - factor) * running + factor * batch, written in place. The version is bumped, as
// an in-place op would, so that kept BatchNorm folds see the change; nothing saved it for a
// backward pass.
void blend(const at::Tensor& running, const std::vector<double>& batch, double factor) {
  float* p = running.data_ptr<float>();
  for (size_t c = 0; c < batch.size(); ++c) p[c] = static_cast<float>((1 - factor) * p[c] + factor * batch[c]);
  running.unsafeGetTensorImpl()->bump_version();
}

struct BatchNormTraining : torch::autograd::Function<BatchNormTraining> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& scale,
                            const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var, double factor,
                            double eps) {
    const Strips l(x);
    const int64_t C = l.channels;
    const float* xp = x.data_ptr<float>();
    const int64_t w = l.width;
    std::vector<double> mean = l.channel_sums<1>([&](int64_t first, int64_t n, float* acc) { add_sums(xp + first, n, w, acc); });
    for (double& m : mean) m /= l.rows();
    const std::vector<float> mean_r = l.repeat(mean);
    std::vector<double> var = l.channel_sums<1>(
        [&](int64_t first, int64_t n, float* acc) { add_squares(xp + first, mean_r.data(), n, w, acc); });
    for (double& v : var) v /= l.rows();

    const std::vector<double> gamma = values(scale), beta = values(bias);
    std::vector<double> invstd(static_cast<size_t>(C)), a(static_cast<size_t>(C)), b(static_cast<size_t>(C));
    for (size_t c = 0; c < invstd.size(); ++c) {
      invstd[c] = 1.0 / std::sqrt(var[c] + eps);
      a[c] = gamma[c] * invstd[c];
      b[c] = beta[c] - mean[c] * a[c];
    }
    const std::vector<float> a_r = l.repeat(a), b_r = l.repeat(b);
    at::Tensor y = at::empty_like(x);
    float* yp = y.data_ptr<float>();
    l.for_each_block([&](int64_t, int64_t first, int64_t n) { affine(xp + first, a_r.data(), b_r.data(), n, w, yp + first); });

    std::vector<double> unbiased = var;
    for (double& v : unbiased) v *= l.rows() / (l.rows() - 1);
    blend(running_mean, mean, factor);
    blend(running_var, unbiased, factor);

    ctx->save_for_backward({x, scale});
    ctx->saved_data["mean"] = mean;
    ctx->saved_data["invstd"] = invstd;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    const at::Tensor dy = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    const Strips l(x);
    const int64_t C = l.channels, w = l.width;
    const std::vector<double> mean = ctx->saved_data["mean"].toDoubleVector();
    const std::vector<double> invstd = ctx->saved_data["invstd"].toDoubleVector();
    const std::vector<double> gamma = values(saved[1]);
    const std::vector<float> mean_r = l.repeat(mean);
    const float *xp = x.data_ptr<float>(), *gp = dy.data_ptr<float>();
    // sum(dy) and sum(dy * (x - mean)) per channel.
    const std::vector<double> sums = l.channel_sums<2>([&](int64_t first, int64_t n, float* acc) {
      add_gradient_sums(gp + first, xp + first, mean_r.data(), n, w, acc, acc + w);
    });
    std::vector<double> dgamma(static_cast<size_t>(C)), dbeta(static_cast<size_t>(C));
    std::vector<double> k_dy(static_cast<size_t>(C)), k_x(static_cast<size_t>(C)), k_0(static_cast<size_t>(C));
    for (size_t c = 0; c < dgamma.size(); ++c) {
      const double sum_dy = sums[c], sum_dy_xmu = sums[static_cast<size_t>(C) + c], is = invstd[c];
      dbeta[c] = sum_dy;
      dgamma[c] = sum_dy_xmu * is;
      // dx = gamma * invstd * (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean)))
      k_dy[c] = gamma[c] * is;
      k_x[c] = -gamma[c] * is * is * is * sum_dy_xmu / l.rows();
      k_0[c] = -gamma[c] * is * sum_dy / l.rows();
    }
    at::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      const std::vector<float> k_dy_r = l.repeat(k_dy), k_x_r = l.repeat(k_x), k_0_r = l.repeat(k_0);
      dx = at::empty_like(x);
      float* dp = dx.data_ptr<float>();
      l.for_each_block([&](int64_t, int64_t first, int64_t n) {
        input_gradient(gp + first, xp + first, mean_r.data(), k_dy_r.data(), k_x_r.data(), k_0_r.data(), n, w, dp + first);
      });
    }
    return {dx, float_tensor(dgamma), float_tensor(dbeta), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

bool per_channel_float(const at::Tensor& t, int64_t channels) {
  return t.defined() && t.scalar_type() == at::kFloat && t.dim() == 1 && t.size(0) == channels && t.is_contiguous();
}

}  // namespace

bool batch_norm_training_applies(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias,
                                 const at::Tensor& running_mean, const at::Tensor& running_var) {
  if (!x.defined() || x.scalar_type() != at::kFloat || x.dim() != 4 || x.is_mkldnn() ||
      !x.is_contiguous(at::MemoryFormat::ChannelsLast) || x.size(1) < 1)
    return false;
  // One value per channel has no variance; LibTorch's kernel names that error.
  if (x.numel() / x.size(1) < 2) return false;
  const int64_t c = x.size(1);
  return per_channel_float(scale, c) && per_channel_float(bias, c) && per_channel_float(running_mean, c) &&
         per_channel_float(running_var, c) && !running_mean.requires_grad() && !running_var.requires_grad();
}

at::Tensor batch_norm_training(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias,
                               const at::Tensor& running_mean, const at::Tensor& running_var, double factor,
                               double eps) {
  return BatchNormTraining::apply(x, scale, bias, running_mean, running_var, factor, eps);
}

}  // namespace nncompress::runtime
