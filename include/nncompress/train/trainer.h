#pragma once
// The fine-tuning loop over the differentiable executor: labels or distillation, SGD or Adam,
// cosine / one-cycle / constant schedules, simple augmentation, BatchNorm in training mode,
// validation each epoch with the best epoch kept. Later passes hook in extra loss terms, their
// own parameter groups, and a callback after each optimizer step (masks, quantizers).
//
// Data-parallel when the process is one rank of a group (dist/process_group.h): every rank holds
// the whole model and draws the same sample order (same seed); each global batch of `batch` times
// the ranks is split into contiguous shares, gradients are summed across ranks before every step,
// BatchNorm normalizes by the global batch's statistics (SyncBatchNorm), and validation is split
// across ranks (classification) and reduced. Every rank ends with the same weights.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/ir/model.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::train {

// Extra parameters trained alongside the model's (e.g. AutoPrune's auxiliary parameters).
struct ParamGroup {
  std::vector<at::Tensor> params;  // leaf tensors; requires_grad is set by the trainer
  double lr = 0;                   // 0: the main learning rate
  double weight_decay = 0;
};

struct EpochStats {
  int epoch = 0;
  int64_t samples = 0;  // trained on in this epoch
  double train_loss = 0;
  std::optional<double> train_accuracy;     // on labels, when the data has them
  std::optional<double> teacher_agreement;  // top-1 agreement with the teacher, when distilling class scores
  std::optional<double> val_top1;   // when validation data is given (with labels)
  std::optional<double> val_map50;  // a detector's, when validation data with boxes is given
  // A detector's loss terms (detection_loss.h, unweighted), means over the epoch's batches.
  std::optional<double> box_loss, cls_loss, dfl_loss;
  double seconds = 0;
};

struct TrainOptions {
  int epochs = 1;
  // Samples each epoch draws (a fresh random subset every epoch); 0 or more than the data: all.
  // Bounds the cost of recovery fine-tuning on big training sets without dropping data.
  int64_t epoch_samples = 0;
  int64_t batch = 128;  // per rank when data-parallel (as PyTorch's DDP): the global batch is batch x ranks
  std::string optimizer = "sgd";  // "sgd" or "adam"
  double lr = 0.01;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  std::string schedule = "cosine";  // "cosine", "onecycle" or "constant"
  uint64_t seed = 0;
  int64_t augment_crop_padding = 0;  // random crop after zero padding by this many pixels
  bool augment_flip = false;         // random horizontal flip
  data::Preprocess preprocess;
  // Set: the model is a detector with a raw head, trained by YOLOv8's loss (detection_loss.h) on
  // the data's boxes and validated by mAP@0.5. Augmentation is refused (it would move the objects).
  std::optional<eval::DetectionOptions> detection;

  // Distillation: with a teacher, the loss mixes KL(teacher || student) at `temperature` for
  // class scores ([N, C], C >= 2), or the mean squared error for any other output (weight
  // `distill_weight`), with cross-entropy on labels (the rest); without labels it is distillation
  // only.
  const runtime::Executor* teacher = nullptr;
  double temperature = 4.0;
  double distill_weight = 0.9;

  // Parameters (initializer names) that stay fixed; BatchNorm statistics and integer tensors
  // are never trained.
  std::vector<std::string> frozen;
  // Zero masks kept during training: after every step, param *= mask (same shape).
  std::vector<std::pair<std::string, at::Tensor>> masks;
  // Called after every optimizer step, before the masks are re-applied, with the step (1-based),
  // the run's total steps, and the masked parameters with their masks (same order as `masks`),
  // which it may rewrite: a pruning schedule (gradual magnitude pruning, prune_magnitude.h).
  using MaskedParameters = std::vector<std::pair<at::Tensor, at::Tensor>>;
  std::function<void(int64_t step, int64_t total_steps, MaskedParameters& masks)> update_masks;
  std::vector<ParamGroup> extra_groups;
  std::function<at::Tensor()> extra_loss;  // added to the loss when set
  std::function<void()> after_step;
  // Leaves trained outside the optimizer whose gradients after_step reads (AutoPrune's
  // auxiliaries): zeroed before each backward pass and summed across data-parallel ranks.
  std::vector<at::Tensor> synced_gradients;
  // Reparameterized weights: the forward pass sees view(weight) instead of the trained weight
  // (e.g. AutoPrune's weight x step(auxiliary) with a straight-through gradient). The optimizer
  // still updates the weight itself, and the weight is what fine_tune writes back.
  std::vector<std::pair<std::string, std::function<at::Tensor(const at::Tensor&)>>> views;
  // Keep the epoch with the best validation accuracy (mAP@0.5 for a detector); off when later epochs must win because
  // the model changes shape over training (pruning schedules).
  bool keep_best_epoch = true;

  // After each batch: (epoch, batch, batches, running loss, running accuracy on labels, or top-1
  // agreement with the teacher when the data has no labels; -1 for a detector).
  std::function<void(int, int64_t, int64_t, double, double)> progress;
  // After each epoch and its validation.
  std::function<void(const EpochStats&)> epoch_done;
};

// Options for passes that fine-tune only when asked: everything default but no epochs.
inline TrainOptions no_training() {
  TrainOptions t;
  t.epochs = 0;
  return t;
}

struct TrainResult {
  std::vector<EpochStats> epochs;
  int best_epoch = 0;  // 1-based; the epoch whose weights were kept (last one without validation)
  std::optional<double> best_val_top1;
  std::optional<double> best_val_map50;  // detection
  double samples_per_second = 0;
  // Data-parallel: the ranks, and what training exchanged (gradients, SyncBatchNorm statistics,
  // validation counts) on this rank: collectives, bytes summed, seconds spent in them.
  int ranks = 1;
  int64_t exchanges = 0, exchanged_bytes = 0;
  double exchange_seconds = 0;
};

// Trains the model's parameters in place: on return the model's initializers hold the weights
// of the best epoch. Throws bad_input when the data cannot train this model (e.g. no labels and no teacher).
TrainResult fine_tune(ir::Model& model, const data::Dataset& train_data, const data::Dataset* val_data,
                      const TrainOptions& options);

// Samples each epoch trains on (epoch_samples, bounded by the data).
int64_t epoch_sample_count(int64_t samples, const TrainOptions& options);
// Optimizer steps per epoch: global batches of `batch` x ranks; when data-parallel, a last global
// batch smaller than the number of ranks is dropped (a rank would have no sample).
int64_t steps_per_epoch(int64_t samples, const TrainOptions& options);

// Names of the initializers fine_tune trains: floating-point, not BatchNorm statistics, not single
// numbers that only formula ops read (epsilons, exponents, Clip bounds).
std::vector<std::string> trainable_parameters(const ir::Model& model);

}  // namespace nncompress::train
