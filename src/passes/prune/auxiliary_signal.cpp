#include "auxiliary_signal.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace nncompress::passes {

AuxiliarySignal::AuxiliarySignal(std::vector<at::Tensor> auxiliaries, double momentum)
    : aux_(std::move(auxiliaries)), momentum_(momentum) {
  for (const at::Tensor& m : aux_) {
    signal_.push_back(at::zeros_like(m.detach()));
    count_ += m.numel();
  }
}

void AuxiliarySignal::update() {
  double sum_sq = 0;
  for (const at::Tensor& m : aux_)
    if (m.grad().defined()) sum_sq += m.grad().pow(2).sum().item<double>();
  const double rms = std::sqrt(sum_sq / static_cast<double>(count_)) + 1e-12;
  for (size_t i = 0; i < aux_.size(); ++i)
    if (aux_[i].grad().defined()) signal_[i].mul_(momentum_).add_(aux_[i].grad() / rms, 1 - momentum_);
}

void AuxiliarySignal::clear_gradients() {
  for (at::Tensor& m : aux_)
    if (m.grad().defined()) m.mutable_grad().zero_();
}

int64_t search_steps(int64_t samples, const train::TrainOptions& t, double fraction) {
  return std::max<int64_t>(1, static_cast<int64_t>(fraction * train::steps_per_epoch(samples, t) * t.epochs));
}

}  // namespace nncompress::passes
