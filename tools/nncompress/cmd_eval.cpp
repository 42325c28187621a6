// `nncompress eval MODEL --data D [--limit N] [--task detection ...] [--json]` and
// `nncompress compare BASE CANDIDATE --data D [--json]`.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/pipeline/report.h"

namespace nncompress::cli {

namespace {

struct EvalCommand {
  std::string model;
  std::string candidate;
  DataOptions data;
  TaskOptions task;
  ModelOptions model_options;
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

nlohmann::json comparison_json(const eval::Comparison& c) {
  const nlohmann::json outputs = pipeline::fidelity_outputs_json(c);
  const nlohmann::json& first = outputs.at(0);
  // The first output's numbers also at the top level, as before there were several.
  return {{"samples", c.samples},
          {"outputs", outputs},
          {"agreement", first["agreement"]},
          {"base_top1", optional_number(c.base_top1)},
          {"candidate_top1", optional_number(c.candidate_top1)},
          {"snr_db", first["snr_db"]},
          {"cosine", first["cosine"]},
          {"max_abs_diff", first["max_abs_diff"]}};
}

void print_comparison(const eval::Comparison& c) {
  std::printf("samples: %lld\n", static_cast<long long>(c.samples));
  std::printf("%-28s %-18s %9s %9s %12s %12s %10s\n", "output", "shape", "cosine", "SNR dB", "max |diff|", "mean |diff|",
              "agreement");
  for (const eval::OutputFidelity& f : c.outputs) {
    std::string shape = "[";
    for (size_t i = 0; i < f.shape.size(); ++i) shape += (i ? "," : "") + std::to_string(f.shape[i]);
    std::printf("%-28s %-18s %9.5f %9s %12.4g %12.4g %10s\n", f.name.c_str(), (shape + "]").c_str(), f.cosine,
                std::isfinite(f.snr_db) ? format("%.2f", f.snr_db).c_str() : "inf", f.max_abs_diff, f.mean_abs_diff,
                f.agreement ? format("%.2f%%", 100 * *f.agreement).c_str() : "-");
  }
  if (c.base_top1) std::printf("top-1: base %s, candidate %s\n", percent(c.base_top1).c_str(), percent(c.candidate_top1).c_str());
}

void print_detection(const std::string& model, const std::string& data, const eval::EvalResult& r, bool json) {
  if (json) {
    nlohmann::json j{{"model", model}, {"data", data}, {"task", "detection"}, {"samples", r.samples},
                     {"seconds", r.seconds}, {"samples_per_second", r.samples_per_second()},
                     {"first_batch_seconds", r.first_batch_seconds}, {"steady_samples_per_second", r.steady_samples_per_second}};
    j["map50"] = r.map ? nlohmann::json(r.map->map50) : nlohmann::json(nullptr);
    j["map50_95"] = r.map ? nlohmann::json(r.map->map50_95) : nlohmann::json(nullptr);
    if (r.map) {
      j["objects"] = r.map->objects;
      j["detections"] = r.map->detections;
      nlohmann::json per_class = nlohmann::json::object();
      for (size_t i = 0; i < r.map->classes.size(); ++i) per_class[std::to_string(r.map->classes[i])] = r.map->ap50[i];
      j["ap50_per_class"] = per_class;
    }
    std::cout << j.dump(2) << std::endl;
    return;
  }
  std::printf("model:      %s\ndata:       %s (%lld images)\n", model.c_str(), data.c_str(), static_cast<long long>(r.samples));
  if (r.map) {
    std::printf("objects:    %lld, detections %lld\nmAP@0.5:    %.2f%%\nmAP@.5:.95: %.2f%%\n", static_cast<long long>(r.map->objects),
                static_cast<long long>(r.map->detections), 100 * r.map->map50, 100 * r.map->map50_95);
  } else {
    std::printf("mAP:        n/a (the data has no boxes)\n");
  }
  std::printf("speed:      %.1f images/s (first batch %.3f s, then %.1f images/s)\n", r.samples_per_second(),
              r.first_batch_seconds, r.steady_samples_per_second);
}

}  // namespace

void register_eval(CLI::App& app, Action& action) {
  auto opts = std::make_shared<EvalCommand>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure a model's top-1/top-5 accuracy (or a detector's mAP) and throughput on a dataset");
  cmd->add_option("model", opts->model, "Input .onnx file")->required();
  add_data_options(cmd, opts->data, true);
  add_task_options(cmd, opts->task);
  add_model_options(cmd, opts->model_options);
  cmd->add_flag("--json", opts->json, "Print one JSON object");
  cmd->callback([&action, opts] {
    action = [opts] {
      const ir::Model model = load_user_model(opts->model, opts->model_options);
      opts->data.batch = batch_for(model, opts->data.batch);
      const runtime::Executor exec(model);
      const data::Dataset data = load_data(opts->data.path, opts->data, opts->data.limit);
      eval::EvalOptions options = eval_options(opts->data, "eval");
      options.detection = detection_options(opts->task, data);
      const eval::EvalResult r = eval::evaluate(exec, data, options);
      if (options.detection) {
        print_detection(opts->model, opts->data.path, r, opts->json);
      } else if (opts->json) {
        std::cout << nlohmann::json{{"model", opts->model},
                                    {"data", opts->data.path},
                                    {"samples", r.samples},
                                    {"top1", optional_number(r.top1)},
                                    {"top5", optional_number(r.top5)},
                                    {"seconds", r.seconds},
                                    {"samples_per_second", r.samples_per_second()},
                                    {"first_batch_seconds", r.first_batch_seconds},
                                    {"steady_samples_per_second", r.steady_samples_per_second}}
                         .dump(2)
                  << std::endl;
      } else {
        std::printf("model:    %s\ndata:     %s (%lld samples)\ntop-1:    %s\ntop-5:    %s\n"
                    "speed:    %.1f samples/s (first batch %.3f s, then %.1f samples/s)\n",
                    opts->model.c_str(), opts->data.path.c_str(), static_cast<long long>(r.samples), percent(r.top1).c_str(),
                    percent(r.top5).c_str(), r.samples_per_second(), r.first_batch_seconds, r.steady_samples_per_second);
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
  add_model_options(cmd, opts->model_options);
  cmd->add_flag("--json", opts->json, "Print one JSON object");
  cmd->callback([&action, opts] {
    action = [opts] {
      const ir::Model base_model = load_user_model(opts->model, opts->model_options);
      const ir::Model cand_model = load_user_model(opts->candidate, opts->model_options);
      opts->data.batch = batch_for(cand_model, batch_for(base_model, opts->data.batch));
      const runtime::Executor base(base_model), cand(cand_model);
      const data::Dataset data = load_data(opts->data.path, opts->data, opts->data.limit);
      const eval::Comparison c = eval::compare(base, cand, data, eval_options(opts->data, "compare"));
      if (opts->json) {
        nlohmann::json j = comparison_json(c);
        j["base"] = opts->model;
        j["candidate"] = opts->candidate;
        std::cout << j.dump(2) << std::endl;
      } else {
        print_comparison(c);
      }
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
