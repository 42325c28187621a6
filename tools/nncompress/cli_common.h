#pragma once
// What every subcommand shares: registration, logging, formatting, and exit-code mapping.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/core/format.h"
#include "nncompress/data/dataset.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/ir/model.h"
#include "nncompress/passes/pass.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::train {
struct EpochStats;
}
namespace nncompress::pipeline {
struct StepResult;
}

namespace nncompress::cli {

// Exit codes documented in the README.
enum ExitCode : int { kOk = 0, kInternal = 1, kBadInput = 2, kGateFailed = 3 };

// A subcommand adds itself to the app and sets `action` when it is the one selected.
using Action = std::function<int()>;
void register_convert(CLI::App& app, Action& action);
void register_inspect(CLI::App& app, Action& action);
void register_run(CLI::App& app, Action& action);
void register_eval(CLI::App& app, Action& action);
void register_compare(CLI::App& app, Action& action);
void register_finetune(CLI::App& app, Action& action);
void register_prune(CLI::App& app, Action& action);
void register_quantize(CLI::App& app, Action& action);
void register_compress(CLI::App& app, Action& action);
void register_passes(CLI::App& app, Action& action);
void register_sensitivity(CLI::App& app, Action& action);

// Options shared by every command that runs a model.
struct GlobalOptions {
  bool quiet = false;
  bool verbose = false;
  int threads = 0;  // 0: one per core
};
GlobalOptions& global_options();

// After parsing: a number option given NaN or infinity ("nan", "inf", "1e999"), which CLI11's range
// checks let through (NaN compares false), as "--lr: 'nan' is not a finite number"; nullopt when
// every number is finite. Looks at the app and its chosen subcommands.
std::optional<std::string> non_finite_number(const CLI::App& app);
// Checks for number options with short messages (CLI11's own print the type's limits, e.g. a
// 300-digit DBL_MAX, and let NaN through).
CLI::Validator positive();      // a finite number > 0
CLI::Validator non_negative();  // a finite number >= 0
// --threads above 4x the cores is lowered to that with a warning (more only adds contention).
int sane_threads(int requested);

// Sets up spdlog on stderr: warnings only with --quiet, debug with --verbose.
void configure_logging(bool quiet, bool verbose);
// Runs the action, turning exceptions into a one-line message and an exit code.
int run_action(const Action& action);

// A progress callback (done, total): a bar with ETA when stderr is a terminal, else (logs, CI) a
// line every ~10 s with done/total and ETA; silent with --quiet.
std::function<void(int64_t, int64_t)> progress_bar(const std::string& label);
// The same for train::TrainOptions::progress: epoch, loss and accuracy before the bar.
std::function<void(int, int64_t, int64_t, double, double)> training_progress(int epochs);
// For train::TrainOptions::epoch_done: one log line per finished epoch (loss, accuracy,
// validation top-1, time); silent with --quiet.
std::function<void(const train::EpochStats&)> epoch_log(int epochs);

// How a user's model is read, shared by every command that loads one.
struct ModelOptions {
  std::vector<std::string> input_shapes;  // --input-shape NAME=dims, repeatable
  bool normalize = true;                  // intake normalization (convert: only with --normalize)
  bool keep_dropout = false;              // finetune: Dropout nodes drop while training
};
void add_model_options(CLI::App* cmd, ModelOptions& options);
// Loads the model, fixes the input shapes asked for, and normalizes it (passes/cleanup/normalize.h),
// saying on stderr what normalization changed.
ir::Model load_user_model(const std::string& path, const ModelOptions& options);
// The batch size to feed `model`: its fixed batch dimension when every input has the same one
// (with a note when that differs from `requested`), else `requested`.
int64_t batch_for(const ir::Model& model, int64_t requested);

// Dataset and preprocessing options shared by eval, compare and later commands.
struct DataOptions {
  std::string path;
  int64_t limit = 0;
  int64_t batch = 64;
  double scale = 0;  // 0: automatic
  std::vector<double> mean, std;
  std::string layout = "auto";
  std::vector<int64_t> resize;  // --resize H,W for images; empty = as stored
};
// `batch_flag` names the batch-size option ("--batch"; compress uses "--batch-size" because its
// --batch takes a manifest).
void add_data_options(CLI::App* cmd, DataOptions& options, bool required, const std::string& batch_flag = "--batch");
// The preprocessing those options describe.
data::Preprocess preprocess_of(const DataOptions& options);
// A dataset read with those options' image size (`limit` > 0 keeps the first samples).
data::Dataset load_data(const std::string& path, const DataOptions& options, int64_t limit = 0);

// What the model does, which decides what `eval` and the quality gate measure: classification
// (top-1 of class scores) or detection (mAP of a YOLOv8-style raw head, eval/detection.h).
struct TaskOptions {
  std::string task = "auto";  // auto: detection when the dataset holds boxes
  std::vector<int64_t> strides{8, 16, 32};
  int64_t reg_max = 16;
  double conf = 0.001, iou = 0.7;
  int64_t max_det = 300;
};
void add_task_options(CLI::App* cmd, TaskOptions& options);
// The detection settings when the task is detection (given, or auto with boxes in `data`).
std::optional<eval::DetectionOptions> detection_options(const TaskOptions& options, const data::Dataset& data);

// A pass context with the data options' preprocessing and batch, the seed, and progress bars.
passes::PassContext pass_context(const DataOptions& options, uint64_t seed);
// Points the context's training progress and epoch log at a step with these options.
void set_step_progress(passes::PassContext& context, const passes::OptionValues& values);

// Warns "PASS changed nothing: REASON" when a step left the model as it was.
void warn_if_unchanged(const pipeline::StepResult& step);

// A distillation teacher: the model at `path`, loaded and made runnable when wanted.
class Teacher {
 public:
  Teacher(const std::string& path, const ModelOptions& options, bool wanted);
  const runtime::Executor* get() const { return executor_ ? &*executor_ : nullptr; }

 private:
  std::optional<ir::Model> model_;
  std::optional<runtime::Executor> executor_;  // reads model_, which therefore never moves
};

}  // namespace nncompress::cli
