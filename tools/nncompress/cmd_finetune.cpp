// `nncompress finetune MODEL --data TRAIN [--val VAL] -o OUT [...]`: trains a model's weights
// (labels, boxes for a detector, or distillation); training from an exported architecture's random weights is the same.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include "cli_common.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/train/trainer.h"

namespace nncompress::cli {

namespace {

struct FinetuneOptions {
  std::string model, output, val, teacher;
  DataOptions data;
  TaskOptions task;
  ModelOptions model_options;
  train::TrainOptions train;
  bool json = false;
};

}  // namespace

void register_finetune(CLI::App& app, Action& action) {
  auto o = std::make_shared<FinetuneOptions>();
  o->data.batch = 128;
  CLI::App* cmd = app.add_subcommand("finetune", "Train a model's weights on labeled data or by distillation");
  cmd->add_option("model", o->model, "Input .onnx file")->required();
  cmd->add_option("-o,--output", o->output, "Output .onnx file (never the input)")->required();
  add_data_options(cmd, o->data, true);
  add_task_options(cmd, o->task);
  add_model_options(cmd, o->model_options);
  cmd->add_option("--val", o->val, "Validation data (with labels, or boxes for a detector); the best epoch on it is kept");
  cmd->add_option("--epochs", o->train.epochs, "Epochs")->check(positive())->capture_default_str();
  cmd->add_option("--epoch-samples", o->train.epoch_samples,
                  "Samples per epoch, a fresh random subset each epoch (0: all of --data)")
      ->check(non_negative())
      ->capture_default_str();
  cmd->add_option("--lr", o->train.lr, "Peak learning rate")->check(positive())->capture_default_str();
  cmd->add_option("--optimizer", o->train.optimizer, "Optimizer")->check(CLI::IsMember({"sgd", "adam"}))->capture_default_str();
  cmd->add_option("--momentum", o->train.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_flag("--nesterov", o->train.nesterov, "Nesterov momentum");
  cmd->add_option("--weight-decay", o->train.weight_decay, "L2 weight decay")->check(non_negative())->capture_default_str();
  cmd->add_option("--schedule", o->train.schedule, "Learning-rate schedule")
      ->check(CLI::IsMember({"cosine", "onecycle", "constant"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->train.seed, "Seed for shuffling, augmentation and dropout")->capture_default_str();
  cmd->add_option("--augment-crop", o->train.augment_crop_padding, "Random crop after zero padding by N pixels")
      ->check(non_negative());
  cmd->add_flag("--augment-flip", o->train.augment_flip, "Random horizontal flips");
  cmd->add_option("--distill-from", o->teacher, "Teacher model for knowledge distillation");
  cmd->add_option("--temperature", o->train.temperature, "Distillation temperature")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--distill-weight", o->train.distill_weight, "Weight of the distillation loss when labels exist")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print a JSON summary on stdout");
  cmd->callback([&action, o] {
    action = [o] {
      check_output_path(o->model, o->output);
      plan_outputs({o->model, o->data.path, o->val, o->teacher}, {o->output});
      o->model_options.keep_dropout = true;  // the trainer applies them (eval and the output: identity)
      ir::Model model = load_user_model(o->model, o->model_options);
      o->data.batch = batch_for(model, o->data.batch);
      const data::Dataset train_data = load_data(o->data.path, o->data, o->data.limit);
      std::optional<data::Dataset> val;
      if (!o->val.empty()) val = load_data(o->val, o->data);
      const Teacher teacher(o->teacher, o->model_options, !o->teacher.empty());
      o->train.teacher = teacher.get();
      o->train.detection = detection_options(o->task, train_data);
      o->train.batch = o->data.batch;
      o->train.preprocess = preprocess_of(o->data);
      o->train.progress = training_progress(o->train.epochs);
      o->train.epoch_done = epoch_log(o->train.epochs);
      const train::TrainResult r = train::fine_tune(model, train_data, val ? &*val : nullptr, o->train);
      const uint64_t bytes = onnxio::save_model(model, o->output);
      spdlog::info("kept epoch {}; wrote {} ({})", r.best_epoch, o->output, human_bytes(bytes));
      if (r.ranks > 1)
        spdlog::info("{} ranks exchanged {} in {} all-reduces, {:.1f} s of waiting", r.ranks, human_bytes(r.exchanged_bytes),
                     r.exchanges, r.exchange_seconds);
      if (o->json) {
        auto optional = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
        nlohmann::json epochs = nlohmann::json::array();
        for (const auto& e : r.epochs)
          epochs.push_back({{"epoch", e.epoch},
                            {"samples", e.samples},
                            {"train_loss", e.train_loss},
                            {"train_accuracy", optional(e.train_accuracy)},
                            {"teacher_agreement", optional(e.teacher_agreement)},
                            {"val_top1", optional(e.val_top1)},
                            {"val_map50", optional(e.val_map50)},
                            {"box_loss", optional(e.box_loss)},
                            {"cls_loss", optional(e.cls_loss)},
                            {"dfl_loss", optional(e.dfl_loss)},
                            {"seconds", e.seconds}});
        std::cout << nlohmann::json{{"output", o->output},
                                    {"epochs", epochs},
                                    {"best_epoch", r.best_epoch},
                                    {"best_val_top1", optional(r.best_val_top1)},
                                    {"best_val_map50", optional(r.best_val_map50)},
                                    {"samples_per_second", r.samples_per_second},
                                    {"data_parallel",
                                     {{"ranks", r.ranks},
                                      {"exchanges", r.exchanges},
                                      {"exchanged_bytes", r.exchanged_bytes},
                                      {"exchange_seconds", r.exchange_seconds}}}}
                         .dump(2)
                  << std::endl;
      }
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
