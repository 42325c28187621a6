// `nncompress eval MODEL --data D [--limit N] [--json]` and
// `nncompress compare BASE CANDIDATE --data D [--json]`.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/model_file.h"

namespace nncompress::cli {

namespace {

struct EvalCommand {
  std::string model;
  std::string candidate;
  DataOptions data;
  bool json = false;
};

eval::EvalOptions eval_options(const DataOptions& d, const std::string& label) {
  eval::EvalOptions o;
  o.batch = d.batch;
  o.preprocess = preprocess_of(d);
  o.progress = progress_bar(label);
  return o;
}

nlohmann::json optional_number(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

std::string percent(const std::optional<double>& v) {
  if (!v) return "n/a (no labels)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * *v);
  return buf;
}

}  // namespace

void register_eval(CLI::App& app, Action& action) {
  auto opts = std::make_shared<EvalCommand>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure a model's top-1/top-5 accuracy and throughput on a dataset");
  cmd->add_option("model", opts->model, "Input .onnx file")->required();
  add_data_options(cmd, opts->data, true);
  cmd->add_flag("--json", opts->json, "Print one JSON object");
  cmd->callback([&action, opts] {
    action = [opts] {
      const ir::Model model = onnxio::load_model(opts->model);
      const runtime::Executor exec(model);
      const data::Dataset data = data::load_dataset(opts->data.path, opts->data.limit);
      const eval::EvalResult r = eval::evaluate(exec, data, eval_options(opts->data, "eval"));
      if (opts->json) {
        std::cout << nlohmann::json{{"model", opts->model},
                                    {"data", opts->data.path},
                                    {"samples", r.samples},
                                    {"top1", optional_number(r.top1)},
                                    {"top5", optional_number(r.top5)},
                                    {"seconds", r.seconds},
                                    {"samples_per_second", r.samples_per_second()}}
                         .dump(2)
                  << std::endl;
      } else {
        std::printf("model:    %s\ndata:     %s (%lld samples)\ntop-1:    %s\ntop-5:    %s\nspeed:    %.1f samples/s\n",
                    opts->model.c_str(), opts->data.path.c_str(), static_cast<long long>(r.samples), percent(r.top1).c_str(),
                    percent(r.top5).c_str(), r.samples_per_second());
      }
      return int(kOk);
    };
  });
}

void register_compare(CLI::App& app, Action& action) {
  auto opts = std::make_shared<EvalCommand>();
  CLI::App* cmd = app.add_subcommand("compare", "Compare two models' outputs and accuracy on the same data");
  cmd->add_option("base", opts->model, "Reference .onnx file")->required();
  cmd->add_option("candidate", opts->candidate, "Candidate .onnx file (e.g. the compressed model)")->required();
  add_data_options(cmd, opts->data, true);
  cmd->add_flag("--json", opts->json, "Print one JSON object");
  cmd->callback([&action, opts] {
    action = [opts] {
      const ir::Model base_model = onnxio::load_model(opts->model);
      const ir::Model cand_model = onnxio::load_model(opts->candidate);
      const runtime::Executor base(base_model), cand(cand_model);
      const data::Dataset data = data::load_dataset(opts->data.path, opts->data.limit);
      const eval::Comparison c = eval::compare(base, cand, data, eval_options(opts->data, "compare"));
      // Identical outputs have an infinite SNR; JSON has no infinity, so it is written as null.
      const nlohmann::json snr = std::isfinite(c.snr_db) ? nlohmann::json(c.snr_db) : nlohmann::json(nullptr);
      if (opts->json) {
        std::cout << nlohmann::json{{"base", opts->model},
                                    {"candidate", opts->candidate},
                                    {"samples", c.samples},
                                    {"agreement", c.agreement},
                                    {"base_top1", optional_number(c.base_top1)},
                                    {"candidate_top1", optional_number(c.candidate_top1)},
                                    {"snr_db", snr},
                                    {"max_abs_diff", c.max_abs_diff}}
                         .dump(2)
                  << std::endl;
      } else {
        std::printf("samples:        %lld\nagreement:      %.2f%%\nbase top-1:     %s\ncandidate top-1: %s\nSNR:            %s dB\nmax abs diff:   %g\n",
                    static_cast<long long>(c.samples), 100.0 * c.agreement, percent(c.base_top1).c_str(),
                    percent(c.candidate_top1).c_str(), std::isfinite(c.snr_db) ? std::to_string(c.snr_db).c_str() : "inf",
                    c.max_abs_diff);
      }
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
