#include "cli_common.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <new>

#include "nncompress/core/error.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/train/trainer.h"

namespace nncompress::cli {

void configure_logging(bool quiet, bool verbose) {
  auto logger = spdlog::stderr_logger_st("nncompress");
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

bool show_progress() { return !global_options().quiet && ::isatty(STDERR_FILENO); }

}  // namespace

std::function<void(int64_t, int64_t)> progress_bar(const std::string& label) {
  if (!show_progress()) return {};
  const auto start = std::chrono::steady_clock::now();
  return [label, start](int64_t done, int64_t total) { draw_bar(label, start, done, total); };
}

std::function<void(int, int64_t, int64_t, double, double)> training_progress(int epochs) {
  if (global_options().quiet) return {};
  if (!::isatty(STDERR_FILENO)) return {};  // logs and CI: epoch_log's line per epoch instead of a bar
  auto start = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [start, epochs](int epoch, int64_t b, int64_t batches, double loss, double acc) {
    if (b == 1) *start = std::chrono::steady_clock::now();  // ETA per epoch
    char label[96];
    std::snprintf(label, sizeof label, "epoch %d/%d loss %.4f acc %.2f%%", epoch, epochs, loss, 100 * acc);
    draw_bar(label, *start, b, batches);
  };
}

std::function<void(const train::EpochStats&)> epoch_log(int epochs) {
  if (global_options().quiet) return {};
  return [epochs](const train::EpochStats& e) {
    spdlog::info("epoch {}/{}: loss {:.4f}, train acc {:.2f}%{}, {:.1f} s", e.epoch, epochs, e.train_loss, 100 * e.train_accuracy,
                 e.val_top1 ? fmt::format(", val top-1 {:.2f}%", 100 * *e.val_top1) : "", e.seconds);
  };
}

Teacher::Teacher(const std::string& path, bool wanted) {
  if (!wanted) return;
  model_ = onnxio::load_model(path);
  executor_.emplace(*model_);
}

void add_data_options(CLI::App* cmd, DataOptions& o, bool required, const std::string& batch_flag) {
  auto* data = cmd->add_option("--data", o.path, "Dataset: .npz (x, y), .npy, IDX images or an ONNX test-data folder");
  if (required) data->required();
  cmd->add_option("--limit", o.limit, "Use only the first N samples")->check(CLI::NonNegativeNumber);
  cmd->add_option(batch_flag, o.batch, "Batch size")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--scale", o.scale, "Multiply samples by this (default: 1/255 for uint8 data, else 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mean", o.mean, "Per-channel mean subtracted after scaling")->delimiter(',');
  cmd->add_option("--std", o.std, "Per-channel standard deviation divided by after the mean")->delimiter(',');
  cmd->add_option("--layout", o.layout, "Sample layout on disk")
      ->check(CLI::IsMember({"auto", "nchw", "nhwc"}))
      ->capture_default_str();
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
