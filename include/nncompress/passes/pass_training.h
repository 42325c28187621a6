#pragma once
// What every training pass shares, declared once: its fine-tuning options (epochs, epoch-samples,
// lr, distill), the mapping from those options and the run's context to train::TrainOptions, the
// needs they imply, and fine-tuning with pruned zeros kept at zero.
#include <string>
#include <vector>

#include "nncompress/passes/pass.h"
#include "nncompress/train/trainer.h"

namespace nncompress::passes {

// `options` followed by the training options with this pass's defaults.
std::vector<OptionSpec> with_training(std::vector<OptionSpec> options, const std::string& default_epochs,
                                      const std::string& default_lr = "0.01");

// The trainer's options for a pass's fine-tuning run.
train::TrainOptions training(const OptionValues& values, const PassContext& context);

// epochs > 0.
bool trains(const OptionValues& values);

// Training needs data with labels, or (distill: true) a teacher and no labels.
Needs training_needs(const OptionValues& values);

// Fine-tunes when epochs > 0, keeping every zero of the prunable weights at zero. Returns the
// summary's suffix ("; fine-tuned 3 epochs", or "").
std::string fine_tune_keeping_zeros(ir::Model& model, const OptionValues& values, const PassContext& context);

}  // namespace nncompress::passes
