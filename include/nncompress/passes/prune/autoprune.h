#pragma once
// prune.autoprune: unstructured pruning by training auxiliary parameters (AutoPrune, Xiao, Wang
// and Rajasekaran, NeurIPS 2019) instead of thresholding weights. Every prunable weight w gets an
// auxiliary m; the forward pass uses w * h(m) with h the unit step (m > 0 keeps w). The update
// rules we implement are written down in docs/autoprune.md; in short, m follows the loss gradient
// of the masked weight times sign(w) (a straight-through estimator, so pruned weights can come
// back) plus a constant regularization pull lambda, and the weights train as usual under the mask.
// Structured AutoPrune gives each channel of a prunable channel group one auxiliary instead,
// gating every tensor that creates the channel, and removes the channels whose gate is closed.
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/passes/prune/channel_pruning.h"
#include "nncompress/passes/prune/magnitude_pruning.h"
#include "nncompress/train/trainer.h"

namespace nncompress::passes {

struct AutoPruneOptions {
  // 0: lambda stays fixed and the sparsity is whatever training finds. Otherwise lambda is
  // adapted so the sparsity follows a cubic ramp to this target (our addition to the paper, so
  // users can ask for a sparsity), and at the end of the search the masks are made to meet it.
  double target_sparsity = 0;
  double lambda = 0.5;      // regularization pull, in units of the RMS of the loss signal
  double aux_lr = 0.01;     // auxiliary step per optimizer step
  double aux_momentum = 0.9;  // moving average of the loss signal the auxiliaries follow
  std::string aux_init = "magnitude";  // "magnitude": m = |w| / (2 mean|w|), capped at 1; "constant": m = 1
  // The share of the steps the auxiliaries train; masks stay fixed for the rest. Default: 2/3
  // per weight, 1/3 per channel (removing whole channels needs the longer recovery: ResNet-20,
  // docs/benchmarks.md).
  std::optional<double> search_fraction;
  std::vector<std::string> keep;       // node names whose weights (channels) stay
  train::TrainOptions train;           // the fine-tuning run AutoPrune trains within (epochs, lr, data options)

  // Structured (channels) only. A target fraction of the MACs or params to keep, met exactly.
  double target_macs = 0;
  double target_params = 0;
  bool keep_first_conv = true;
  int64_t round_to = 1;  // kept channel counts are multiples of this (when possible)
};

struct AutoPruneResult {
  std::vector<SparsityRow> layers;
  std::vector<std::pair<std::string, at::Tensor>> masks;  // weight initializer name -> final 0/1 mask
  double final_lambda = 0;
  int64_t recovered = 0;  // weights pruned at some step during the search and kept at its end
  train::TrainResult training;
};

struct ChannelAutoPruneResult {
  ChannelPruneReport report;  // channels before/after per layer, groups left alone
  int64_t recovered = 0;  // channels closed at some step during the search and open at its end
  train::TrainResult training;
  // With a target, every 50 steps of the search: the fraction the open channels keep and the
  // goal of the ramp at that step.
  struct SearchPoint {
    int64_t step = 0;
    double kept = 0, goal = 0;
  };
  std::vector<SearchPoint> trace;
};

// Throws bad_input for options out of range.
void check_autoprune_options(const AutoPruneOptions& options);

// Trains on `train_data` (labels, or distillation through options.train.teacher), evaluating on
// `val_data` each epoch when given, and leaves the pruned weights at zero in `model`.
AutoPruneResult prune_autoprune(ir::Model& model, const data::Dataset& train_data, const data::Dataset* val_data,
                                const AutoPruneOptions& options);

// Structured AutoPrune: one auxiliary per channel of every prunable channel group (the groups of
// prune.channels), trained by the straight-through loss signal of the channel's gate. Without a
// target a channel is open while its auxiliary is positive, under a pull weighted by the MACs
// (or params) the channel costs; with one, the open channels are those with the highest
// auxiliaries that meet a cubic ramp down to the target. The closed channels are removed for real, as prune.channels
// does. `types` holds static shapes (onnxio::infer_shapes).
ChannelAutoPruneResult prune_autoprune_channels(ir::Model& model, const ir::TypeMap& types, const data::Dataset& train_data,
                                                const data::Dataset* val_data, const AutoPruneOptions& options);

}  // namespace nncompress::passes
