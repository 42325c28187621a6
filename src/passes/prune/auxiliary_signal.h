#pragma once
// What both AutoPrune variants (per weight and per channel) do with their auxiliary parameters at
// every optimizer step of the search: follow the straight-through loss signal, each auxiliary's
// gradient normalized by the RMS over all auxiliaries (so lambda is in units of it) and averaged
// over steps (single batches are noisy, and an auxiliary flickering across zero would never
// settle). Each variant then moves its auxiliaries by the signal in its own way.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "nncompress/train/trainer.h"

namespace nncompress::passes {

class AuxiliarySignal {
 public:
  // `auxiliaries`: the trained leaves, in a fixed order; `momentum` of the moving average.
  AuxiliarySignal(std::vector<at::Tensor> auxiliaries, double momentum);

  // Folds this step's gradients into the signal (call inside a NoGradGuard).
  void update();
  // The moving average for auxiliary i (same shape).
  const at::Tensor& operator[](size_t i) const { return signal_[i]; }
  // Clears the auxiliaries' gradients for the next step.
  void clear_gradients();

 private:
  std::vector<at::Tensor> aux_, signal_;
  double momentum_;
  int64_t count_ = 0;  // auxiliary elements in all
};

// Optimizer steps of the search: `fraction` of all steps of the training run.
int64_t search_steps(int64_t samples, const train::TrainOptions& training, double fraction);

}  // namespace nncompress::passes
