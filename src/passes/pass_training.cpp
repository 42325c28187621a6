#include "nncompress/passes/pass_training.h"

#include <ATen/ATen.h>

#include "nncompress/passes/prune/magnitude_pruning.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

std::vector<OptionSpec> with_training(std::vector<OptionSpec> options, const std::string& default_epochs,
                                      const std::string& default_lr) {
  using K = OptionKind;
  options.push_back(option("epochs", K::Integer, default_epochs, "fine-tuning epochs on the training data").at_least(0).at_most(100000));
  options.push_back(option("epoch-samples", K::Integer, "0", "samples per epoch, a fresh random subset each epoch (0: all)")
                        .at_least(0));
  options.push_back(option("lr", K::Number, default_lr, "fine-tuning learning rate").at_least(0, false));
  options.push_back(option("optimizer", K::Text, "sgd", "fine-tuning optimizer (SGD with momentum 0.9, or Adam)")
                        .one_of({"sgd", "adam"}));
  options.push_back(option("schedule", K::Text, "cosine", "fine-tuning learning-rate schedule")
                        .one_of({"cosine", "onecycle", "constant"}));
  options.push_back(option("distill", K::Boolean, "false", "fine-tune by distillation from the input model (no labels needed)"));
  return options;
}

train::TrainOptions training(const OptionValues& v, const PassContext& c) {
  train::TrainOptions t;
  t.epochs = static_cast<int>(v.integer("epochs"));
  t.epoch_samples = v.integer("epoch-samples");
  t.lr = v.number("lr");
  t.optimizer = v.text("optimizer");
  t.schedule = v.text("schedule");
  t.seed = c.seed;
  t.batch = c.batch;
  t.preprocess = c.preprocess;
  t.detection = c.detection;
  t.teacher = v.boolean("distill") ? c.teacher : nullptr;
  t.progress = c.training_progress;
  t.epoch_done = c.epoch_done;
  return t;
}

bool trains(const OptionValues& v) { return v.integer("epochs") > 0; }

Needs training_needs(const OptionValues& v) {
  Needs n;
  if (!trains(v)) return n;
  n.training_data = true;
  n.labels = !v.boolean("distill");
  n.teacher = v.boolean("distill");
  return n;
}

std::string fine_tune_keeping_zeros(ir::Model& model, const OptionValues& v, const PassContext& c) {
  if (!trains(v)) return "";
  train::TrainOptions t = training(v, c);
  for (const PrunableWeight& p : prunable_weights(model.graph, {}))
    t.masks.push_back({p.weight->name(), runtime::to_aten(*p.weight->initializer()).ne(0).to(at::kFloat)});
  const train::TrainResult r = train::fine_tune(model, *c.train, c.val, t);
  return "; fine-tuned " + std::to_string(r.epochs.size()) + " epochs";
}

}  // namespace nncompress::passes
