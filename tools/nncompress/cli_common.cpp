#include "cli_common.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <thread>

#include "nncompress/core/error.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/passes/cleanup/normalize.h"
#include "nncompress/pipeline/pipeline.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/train/trainer.h"

namespace nncompress::cli {

void configure_logging(bool quiet, bool verbose) {
  // Made once: run_cli may run several times in one process (the mutation test).
  auto logger = spdlog::get("nncompress");
  if (!logger) logger = spdlog::stderr_logger_st("nncompress");
  logger->set_pattern("%l: %v");
  logger->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int run_action(const Action& action) {
  try {
    return action();
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return e.kind() == ErrorKind::BadInput ? kBadInput : kInternal;
  } catch (const std::bad_alloc&) {
    spdlog::error("out of memory");
    return kInternal;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    spdlog::error("internal error: {}", msg.substr(0, msg.find('\n')));
    return kInternal;
  }
}

GlobalOptions& global_options() {
  static GlobalOptions options;
  return options;
}

std::optional<std::string> non_finite_number(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0 || opt->get_type_name().rfind("FLOAT", 0) != 0) continue;  // "FLOAT:POSITIVE" with a check
    for (const std::string& text : opt->results()) {
      const double v = std::strtod(text.c_str(), nullptr);
      if (!std::isfinite(v)) return opt->get_name() + ": '" + text + "' is not a finite number";
    }
  }
  for (const CLI::App* sub : app.get_subcommands())
    if (auto problem = non_finite_number(*sub)) return problem;
  return std::nullopt;
}

namespace {

CLI::Validator number_check(const std::string& name, bool zero_allowed) {
  return CLI::Validator(
      [zero_allowed](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end || !std::isfinite(v)) return "'" + text + "' is not a finite number";
        if (zero_allowed ? !(v >= 0) : !(v > 0)) return text + (zero_allowed ? " is negative" : " is not > 0");
        return "";
      },
      name);
}

}  // namespace

CLI::Validator positive() { return number_check("> 0", false); }
CLI::Validator non_negative() { return number_check(">= 0", true); }

int sane_threads(int requested) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (requested <= 4 * cores) return requested;
  spdlog::warn("--threads {} on {} cores: using {} (more threads only contend)", requested, cores, 4 * cores);
  return 4 * cores;
}

namespace {

void draw_bar(const std::string& label, std::chrono::steady_clock::time_point start, int64_t done, int64_t total) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double frac = total > 0 ? static_cast<double>(done) / total : 1.0;
  const int width = 30, filled = static_cast<int>(frac * width);
  const double eta = frac > 0 ? elapsed / frac - elapsed : 0;
  std::fprintf(stderr, "\r%s [%s%s] %lld/%lld  %.1f s, ETA %.1f s ", label.c_str(), std::string(filled, '=').c_str(),
               std::string(width - filled, ' ').c_str(), static_cast<long long>(done), static_cast<long long>(total),
               elapsed, eta);
  if (done >= total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// Progress for logs and CI (stderr not a terminal): one line every ~10 s, none for short work.
class ProgressLog {
 public:
  explicit ProgressLog(std::string label) : label_(std::move(label)) {}
  void operator()(int64_t done, int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(10) || done >= total) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double frac = total > 0 ? static_cast<double>(done) / total : 1.0;
    spdlog::info("{}: {}/{} ({:.0f}%), {:.0f} s, ETA {:.0f} s", label_, done, total, 100 * frac, elapsed,
                 frac > 0 ? elapsed / frac - elapsed : 0.0);
  }

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

}  // namespace

std::function<void(int64_t, int64_t)> progress_bar(const std::string& label) {
  if (global_options().quiet) return {};
  if (!::isatty(STDERR_FILENO)) return ProgressLog(label);
  const auto start = std::chrono::steady_clock::now();
  return [label, start](int64_t done, int64_t total) { draw_bar(label, start, done, total); };
}

std::function<void(int, int64_t, int64_t, double, double)> training_progress(int epochs) {
  if (global_options().quiet) return {};
  if (!::isatty(STDERR_FILENO)) {  // logs and CI: a line every ~10 s, and epoch_log's line per epoch
    auto log = std::make_shared<ProgressLog>("training");
    return [log, epochs](int epoch, int64_t b, int64_t batches, double, double) {
      (*log)((epoch - 1) * batches + b, static_cast<int64_t>(epochs) * batches);
    };
  }
  auto start = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [start, epochs](int epoch, int64_t b, int64_t batches, double loss, double acc) {
    if (b == 1) *start = std::chrono::steady_clock::now();  // ETA per epoch
    char label[96];
    if (acc < 0) std::snprintf(label, sizeof label, "epoch %d/%d loss %.4f", epoch, epochs, loss);
    else std::snprintf(label, sizeof label, "epoch %d/%d loss %.4f acc %.2f%%", epoch, epochs, loss, 100 * acc);
    draw_bar(label, *start, b, batches);
  };
}

std::function<void(const train::EpochStats&)> epoch_log(int epochs) {
  if (global_options().quiet) return {};
  return [epochs](const train::EpochStats& e) {
    std::string metrics;
    if (e.train_accuracy) metrics += fmt::format(", train acc {:.2f}%", 100 * *e.train_accuracy);
    if (e.teacher_agreement) metrics += fmt::format(", agreement with the teacher {:.2f}%", 100 * *e.teacher_agreement);
    if (e.box_loss) metrics += fmt::format(" (box {:.4f}, cls {:.4f}, dfl {:.4f})", *e.box_loss, *e.cls_loss, *e.dfl_loss);
    if (e.val_top1) metrics += fmt::format(", val top-1 {:.2f}%", 100 * *e.val_top1);
    if (e.val_map50) metrics += fmt::format(", val mAP@0.5 {:.2f}%", 100 * *e.val_map50);
    spdlog::info("epoch {}/{}: loss {:.4f}{}, {:.1f} s", e.epoch, epochs, e.train_loss, metrics, e.seconds);
  };
}

Teacher::Teacher(const std::string& path, const ModelOptions& options, bool wanted) {
  if (!wanted) return;
  model_ = load_user_model(path, options);
  executor_.emplace(*model_);
}

void add_model_options(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("--input-shape", o.input_shapes,
                  "Fix an input's shape, NAME=1,3,48,192 (NAME= may be left out for a model with one input; a dim "
                  "written as a name, e.g. N, stays dynamic). Repeatable")
      ->allow_extra_args(false);
}

ir::Model load_user_model(const std::string& path, const ModelOptions& o) {
  ir::Model model = onnxio::load_model(path);
  std::vector<passes::InputShape> shapes;
  for (const std::string& text : o.input_shapes) shapes.push_back(passes::parse_input_shape(text));
  passes::apply_input_shapes(model, shapes);
  if (o.normalize) {
    const passes::NormalizeReport r = passes::normalize_model(model, o.keep_dropout);
    if (r.changed()) spdlog::info("{}: {}", path, r.summary());
  }
  return model;
}

int64_t batch_for(const ir::Model& model, int64_t requested) {
  std::optional<int64_t> fixed;
  for (const ir::Value* v : model.graph.inputs()) {
    if (v->has_initializer()) continue;
    if (!v->type.shape || v->type.shape->empty() || !(*v->type.shape)[0].is_known()) return requested;
    const int64_t b = *(*v->type.shape)[0].value;
    if (fixed && *fixed != b) return requested;
    fixed = b;
  }
  if (!fixed || *fixed == requested) return requested;
  spdlog::info("the model's input has a fixed batch dimension of {}: feeding batches of {} (not {})", *fixed, *fixed,
               requested);
  return *fixed;
}

void warn_if_unchanged(const pipeline::StepResult& step) {
  if (!step.result.unchanged.empty()) spdlog::warn("{} changed nothing: {}", step.step.pass, step.result.unchanged);
}

void add_data_options(CLI::App* cmd, DataOptions& o, bool required, const std::string& batch_flag) {
  auto* data = cmd->add_option("--data", o.path, "Dataset: .npz (x, y), .npy, IDX images or an ONNX test-data folder");
  if (required) data->required();
  cmd->add_option("--limit", o.limit, "Use only the first N samples")->check(non_negative());
  cmd->add_option(batch_flag, o.batch, "Batch size")->check(positive())->capture_default_str();
  cmd->add_option("--scale", o.scale, "Multiply samples by this (default: 1/255 for uint8 data, else 1)")
      ->check(positive());
  cmd->add_option("--mean", o.mean, "Per-channel mean subtracted after scaling")->delimiter(',');
  cmd->add_option("--std", o.std, "Per-channel standard deviation divided by after the mean")->delimiter(',')->check(positive());
  cmd->add_option("--layout", o.layout, "Sample layout on disk")
      ->check(CLI::IsMember({"auto", "nchw", "nhwc"}))
      ->capture_default_str();
  cmd->add_option("--resize", o.resize, "Resample images to H,W (image files and folders only)")
      ->delimiter(',')
      ->expected(2)
      ->check(CLI::Range(int64_t{1}, int64_t{16384}))
      ->type_name("H,W");
}

void add_task_options(CLI::App* cmd, TaskOptions& o) {
  cmd->add_option("--task", o.task, "What the model does: classification (top-1) or detection (mAP); auto: detection when the data has boxes")
      ->check(CLI::IsMember({"auto", "classification", "detection"}))
      ->capture_default_str();
  cmd->add_option("--strides", o.strides, "Detection: the head's strides, one per level, in anchor order")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  cmd->add_option("--reg-max", o.reg_max, "Detection: bins of each box-side distribution (DFL)")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->capture_default_str();
  cmd->add_option("--conf", o.conf, "Detection: lowest class score kept")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--iou", o.iou, "Detection: IoU above which non-maximum suppression drops a box")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-det", o.max_det, "Detection: most boxes kept per image")->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
}

std::optional<eval::DetectionOptions> detection_options(const TaskOptions& o, const data::Dataset& data) {
  if (o.task == "classification" || (o.task == "auto" && !data.has_boxes())) return std::nullopt;
  if (o.strides.empty()) throw bad_input("--strides needs at least one stride");
  eval::DetectionOptions d;
  d.head.strides = o.strides;
  d.head.reg_max = o.reg_max;
  d.nms.score_threshold = o.conf;
  d.nms.iou_threshold = o.iou;
  d.nms.max_detections = o.max_det;
  return d;
}


data::Dataset load_data(const std::string& path, const DataOptions& o, int64_t limit) {
  data::ImageSize size;
  if (o.resize.size() == 2) size = {o.resize[0], o.resize[1]};
  return data::load_dataset(path, limit, size);
}

passes::PassContext pass_context(const DataOptions& o, uint64_t seed) {
  passes::PassContext c;
  c.preprocess = preprocess_of(o);
  c.batch = o.batch;
  c.seed = seed;
  c.progress_bar = [](const std::string& label) { return progress_bar(label); };
  return c;
}

void set_step_progress(passes::PassContext& c, const passes::OptionValues& values) {
  const int epochs = values.pass().find_option("epochs") ? static_cast<int>(values.integer("epochs")) : 0;
  c.training_progress = training_progress(std::max(epochs, 1));
  c.epoch_done = epoch_log(std::max(epochs, 1));
}

data::Preprocess preprocess_of(const DataOptions& o) {
  data::Preprocess p;
  if (o.scale > 0) p.scale = o.scale;
  p.mean = o.mean;
  p.std = o.std;
  p.layout = o.layout;
  return p;
}

}  // namespace nncompress::cli
