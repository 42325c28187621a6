// `nncompress compress MODEL -o OUT [--recipe R] [--data D] [--val V] [--report PATH]
// [--max-accuracy-drop PP] [--min-size-ratio X]`: runs a recipe (an int8 step over the accuracy budget leaves
// its noisiest layers float: accuracy_fallback.h), writes the model and a report,
// and exits 3 when a quality gate is not met (the model is still written); `--batch MANIFEST`
// compresses many models (compress_batch.h). `nncompress passes` lists what recipes can use.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <tuple>

#include "cli_common.h"
#include "compress_batch.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/dist/process_group.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/passes/registry.h"
#include "nncompress/pipeline/accuracy_fallback.h"
#include "nncompress/pipeline/pipeline.h"
#include "nncompress/pipeline/recipe.h"
#include "nncompress/pipeline/report.h"
#include "ort_latency_options.h"

namespace nncompress::cli {

namespace {

struct CompressCommand {
  std::string model, output, recipe, val, report;
  double max_accuracy_drop = -1, min_size_ratio = -1;
  std::optional<double> min_snr_db, min_cosine;
  int64_t fidelity_samples = 1000;
  uint64_t seed = 0;
  bool json = false;
  bool strict = false;
  DataOptions data;
  TaskOptions task;
  ModelOptions model_options;
  std::string batch;
  int jobs = 1;
  std::string shard;  // "i/n"
  OrtLatencyOptions ort;
};

void write_text(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text);
  f.commit();
}

bool needs_teacher(const pipeline::Recipe& r) {
  for (const pipeline::Step& s : r.steps) {
    const passes::OptionValues values = s.values();
    if (values.pass().needs && values.pass().needs(values).teacher) return true;
  }
  return false;
}

nlohmann::json option_json(const passes::OptionSpec& o) {
  nlohmann::json j = {{"name", o.name}, {"kind", passes::kind_name(o.kind)}, {"default", o.default_value}, {"help", o.help},
                      {"choices", o.choices}, {"constraint", o.constraint()}, {"aliases", o.aliases}};
  j["min"] = o.min ? nlohmann::json{{"value", o.min->value}, {"inclusive", o.min->inclusive}} : nlohmann::json(nullptr);
  j["max"] = o.max ? nlohmann::json{{"value", o.max->value}, {"inclusive", o.max->inclusive}} : nlohmann::json(nullptr);
  return j;
}

}  // namespace

void register_passes(CLI::App& app, Action& action) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("passes", "List the passes a compress recipe can use, with their options");
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([&action, json] {
    action = [json] {
      nlohmann::json all = nlohmann::json::array();
      for (const passes::PassInfo* p : passes::all_passes()) {
        nlohmann::json options = nlohmann::json::array();
        for (const passes::OptionSpec& o : p->options) options.push_back(option_json(o));
        all.push_back({{"name", p->name}, {"summary", p->summary}, {"needs", p->needs_text}, {"must_be_last", p->must_be_last},
                       {"options", options}});
        if (*json) continue;
        std::printf("%s: %s\n  needs: %s\n", p->name.c_str(), p->summary.c_str(), p->needs_text.c_str());
        for (const passes::OptionSpec& o : p->options)
          std::printf("    %-16s %-8s %-9s %s%s\n", o.name.c_str(), passes::kind_name(o.kind),
                      o.default_value.empty() ? "-" : o.default_value.c_str(), o.help.c_str(),
                      o.constraint().empty() ? "" : (" (" + o.constraint() + ")").c_str());
        for (const passes::OptionSpec& o : p->options)
          for (const std::string& alias : o.aliases) std::printf("    %-16s also as %s\n", o.name.c_str(), alias.c_str());
      }
      if (*json) std::cout << all.dump(2) << std::endl;
      return int(kOk);
    };
  });
}

void register_compress(CLI::App& app, Action& action) {
  auto o = std::make_shared<CompressCommand>();
  CLI::App* cmd = app.add_subcommand("compress", "Run a compression recipe, write the model and a report, check quality gates");
  cmd->add_option("model", o->model, "Input .onnx file (required unless --manifest)");
  cmd->add_option("-o,--output", o->output, "Output .onnx file, never the input (required unless --manifest)");
  cmd->add_option("--manifest,--batch", o->batch,
                  "Compress every model of a manifest (YAML `models:` list or CSV with a header: model, output, recipe, "
                  "data, val, report, max-accuracy-drop, min-size-ratio, limit and the options below by name); continues "
                  "past failures, prints one table. --batch N (a number) is the batch size, as in other commands");
  cmd->add_option("--jobs", o->jobs, "With --manifest: models compressed in parallel processes")->check(positive())->capture_default_str();
  cmd->add_option("--shard", o->shard,
                  "With --manifest: compress only share I of N (I/N, I from 0: entries I, I+N, I+2N, ...), to split a "
                  "manifest over machines (docs/distributed.md)");
  cmd->add_option("--recipe", o->recipe, "YAML recipe (default: prune.channels to half the MACs + 3 epochs, then int8)");
  add_data_options(cmd, o->data, false, "--batch-size");
  add_task_options(cmd, o->task);
  add_model_options(cmd, o->model_options);
  cmd->add_flag("--strict", o->strict, "Gate: every step must change the model (exit 3 when one changed nothing)");
  cmd->add_option("--val", o->val, "Labeled data (boxes for a detector) for accuracy before/after (default: --data)");
  cmd->add_option("--report", o->report, "Write the JSON report here, and beside it the Markdown summary (.md) and an HTML page with charts (.html)");
  cmd->add_option("--max-accuracy-drop", o->max_accuracy_drop, "Gate: top-1 (mAP@0.5 for a detector) may fall by at most this many percentage points; a quant.int8 step over it leaves its noisiest layers float")
      ->check(non_negative());
  cmd->add_option("--min-size-ratio", o->min_size_ratio, "Gate: input file bytes / output file bytes at least this")
      ->check(positive());
  cmd->add_option("--min-snr-db", o->min_snr_db,
                  "Gate: every output's SNR against the original model's, in dB, at least this (no labels needed)");
  cmd->add_option("--min-cosine", o->min_cosine,
                  "Gate: every output's cosine similarity to the original model's at least this (no labels needed)")
      ->check(CLI::Range(-1.0, 1.0));
  cmd->add_option("--fidelity-samples", o->fidelity_samples,
                  "Samples of --val (else --data) on which outputs are compared with the original model's")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for every training step")->capture_default_str();
  add_ort_latency_options(cmd, o->ort);
  cmd->add_flag("--json", o->json, "Print the JSON report on stdout instead of the Markdown summary");
  cmd->callback([&action, o] {
    action = [o] {
      // One spelling everywhere: --batch 32 is a batch size; --batch PATH still names a manifest.
      if (!o->batch.empty() && o->batch.find_first_not_of("0123456789") == std::string::npos) {
        o->data.batch = std::stoll(o->batch.substr(0, 12));
        if (o->data.batch <= 0) throw bad_input("--batch must be positive");
        o->batch.clear();
      }
      if (!o->batch.empty()) {
        if (!o->model.empty() || !o->output.empty()) throw bad_input("--manifest takes the models from the manifest: give no MODEL or -o");
        if (dist::active())
          throw bad_input("--manifest runs one process per model: split a manifest over machines with --shard I/N, "
                          "not data-parallel ranks (--nproc, --world-size)");
        BatchOptions batch{o->batch, o->jobs, global_options().threads, o->seed, o->json};
        if (!o->shard.empty()) std::tie(batch.shard_index, batch.shard_count) = parse_shard(o->shard);
        return run_compress_batch(batch);
      }
      if (!o->shard.empty()) throw bad_input("--shard splits a manifest: give --manifest too");
      if (o->model.empty() || o->output.empty()) throw bad_input("compress needs MODEL and -o OUTPUT (or --manifest MANIFEST)");
      check_output_path(o->model, o->output);
      if (!o->report.empty()) check_output_path(o->model, o->report);
      const std::string report_ext = std::filesystem::path(o->report).extension().string();
      if (report_ext == ".md" || report_ext == ".html")
        throw bad_input("--report " + o->report + ": the JSON report cannot end in .md or .html (the Markdown and HTML "
                        "summaries are written beside it)");
      std::vector<std::string> outputs{o->output};
      if (!o->report.empty())
        for (const char* ext : {"", ".md", ".html"})
          outputs.push_back(*ext ? std::filesystem::path(o->report).replace_extension(ext).string() : o->report);
      plan_outputs({o->model, o->data.path, o->val, o->recipe}, outputs);
      // The recipe is validated before any data or model is read.
      pipeline::Report report;
      report.recipe = o->recipe.empty() ? pipeline::default_recipe() : pipeline::load_recipe(o->recipe);
      std::optional<data::Dataset> train_data, val_data;
      if (!o->data.path.empty()) train_data = load_data(o->data.path, o->data, o->data.limit);
      if (!o->val.empty()) val_data = load_data(o->val, o->data);
      const data::Dataset* val = val_data ? &*val_data : train_data ? &*train_data : nullptr;
      const std::optional<eval::DetectionOptions> detection = val ? detection_options(o->task, *val) : std::nullopt;
      pipeline::Available available;
      available.training_data = available.calibration_data = train_data.has_value();
      available.training_labels = train_data && eval::has_truths(*train_data, detection);
      if (o->recipe.empty() && !available.training_labels)
        throw bad_input("the default recipe fine-tunes and calibrates: give labeled --data (or a --recipe)");
      pipeline::check_needs(report.recipe, available);
      if (o->max_accuracy_drop >= 0 && !(val && eval::has_truths(*val, detection)))
        throw bad_input(detection ? "--max-accuracy-drop needs data with boxes for a detector (--val or --data)"
                                  : "--max-accuracy-drop needs labeled data (--val or --data)");
      if ((o->min_snr_db || o->min_cosine) && !val) throw bad_input("--min-snr-db and --min-cosine need data (--val or --data)");
      if ((o->min_snr_db && !std::isfinite(*o->min_snr_db)) || (o->min_cosine && !std::isfinite(*o->min_cosine)))
        throw bad_input("--min-snr-db and --min-cosine take finite numbers");

      ir::Model model = load_user_model(o->model, o->model_options);
      const Teacher teacher(o->model, o->model_options, needs_teacher(report.recipe));
      passes::PassContext context = pass_context(o->data, o->seed);
      context.batch = batch_for(model, context.batch);
      context.train = context.calibration = train_data ? &*train_data : nullptr;
      context.val = val && eval::has_truths(*val, detection) ? val : nullptr;
      context.detection = detection;
      context.teacher = teacher.get();

      report.input = o->model;
      report.output = o->output;
      report.input_file_bytes = std::filesystem::file_size(o->model);
      report.before = pipeline::measure(model, context.val, context);
      for (size_t i = 0; i < report.recipe.steps.size(); ++i) {
        const pipeline::Step& step = report.recipe.steps[i];
        spdlog::info("step {}/{}: {}", i + 1, report.recipe.steps.size(), step.pass);
        set_step_progress(context, step.values());
        // An int8 step over the --max-accuracy-drop budget leaves its noisiest layers float.
        report.steps.push_back(pipeline::run_step_within_drop(
            model, step, context, context.val, report.before.accuracy(),
            o->max_accuracy_drop >= 0 ? std::optional<double>(o->max_accuracy_drop) : std::nullopt));
        spdlog::info("  {} ({:.1f} s)", report.steps.back().result.summary, report.steps.back().seconds);
        warn_if_unchanged(report.steps.back());
      }
      report.output_file_bytes = onnxio::save_model(model, o->output);
      // Fidelity: the only quality measure without labels, and what the fidelity gates read.
      if (val && (o->min_snr_db || o->min_cosine || !eval::has_truths(*val, detection))) {
        // The original: the distillation teacher when one was loaded (the same file), else read again.
        const Teacher original(o->model, o->model_options, !teacher.get());
        const runtime::Executor compressed(model);
        const runtime::Executor& base = teacher.get() ? *teacher.get() : *original.get();
        eval::EvalOptions eo;
        eo.batch = context.batch;
        eo.preprocess = context.preprocess;
        eo.progress = progress_bar("fidelity");
        report.fidelity = eval::compare(base, compressed, data::first_samples(*val, o->fidelity_samples), eo);
      }
      if (o->max_accuracy_drop >= 0) {
        const double drop = report.accuracy_drop_pp().value_or(0);
        report.gates.push_back({"max-accuracy-drop", o->max_accuracy_drop, drop, drop <= o->max_accuracy_drop});
      }
      if (o->strict) {
        int unchanged = 0;
        for (const pipeline::StepResult& s : report.steps) unchanged += !s.result.unchanged.empty();
        report.gates.push_back({"strict", 0, static_cast<double>(unchanged), unchanged == 0});
      }
      if (o->min_snr_db) {
        const double worst = report.fidelity->min_snr_db();
        report.gates.push_back({"min-snr-db", *o->min_snr_db, worst, worst >= *o->min_snr_db});
      }
      if (o->min_cosine) {
        const double worst = report.fidelity->min_cosine();
        report.gates.push_back({"min-cosine", *o->min_cosine, worst, worst >= *o->min_cosine});
      }
      if (o->min_size_ratio > 0)
        report.gates.push_back({"min-size-ratio", o->min_size_ratio, report.size_ratio(), report.size_ratio() >= o->min_size_ratio});
      report.onnxruntime = measure_ort_latency(o->ort, o->model, model);
      if (o->ort.min_speedup && report.onnxruntime) {
        const double speedup = report.onnxruntime->speedup();
        report.gates.push_back({"min-ort-speedup", *o->ort.min_speedup, speedup, speedup >= *o->ort.min_speedup});
      }

      const std::string json = pipeline::report_json(report), markdown = pipeline::report_markdown(report);
      if (!o->report.empty()) {
        write_text(o->report, json);
        write_text(std::filesystem::path(o->report).replace_extension(".md").string(), markdown);
        write_text(std::filesystem::path(o->report).replace_extension(".html").string(), pipeline::report_html(report));
      }
      std::cout << (o->json ? json : markdown) << std::flush;
      if (!report.passed()) {
        spdlog::error("quality gate not met: {} (model written to {})", report.failure(), o->output);
        return int(kGateFailed);
      }
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
