#include "pass_command.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/passes/registry.h"
#include "nncompress/pipeline/pipeline.h"
#include "nncompress/pipeline/report.h"
#include "ort_latency_options.h"

namespace nncompress::cli {

namespace {

struct Invocation {
  std::string model, output, method, val, calib;
  DataOptions data;
  TaskOptions task;
  ModelOptions model_options;
  uint64_t seed = 0;
  bool json = false;
  bool strict = false;
  OrtLatencyOptions ort;
  std::map<std::string, std::string> values;               // option -> value given (scalars)
  std::map<std::string, std::vector<std::string>> lists;   // option -> items given (lists)
  std::map<std::string, CLI::Option*> flags;               // option -> its flag
};

std::vector<const passes::PassInfo*> passes_of(const std::string& prefix) {
  std::vector<const passes::PassInfo*> out;
  for (const passes::PassInfo* p : passes::all_passes())
    if (p->name.rfind(prefix, 0) == 0) out.push_back(p);
  return out;
}

std::string method_of(const passes::PassInfo& p, const std::string& prefix) { return p.name.substr(prefix.size()); }

const char* type_name(passes::OptionKind kind) {
  switch (kind) {
    case passes::OptionKind::Number: return "NUMBER";
    case passes::OptionKind::Integer: return "INT";
    default: return "TEXT";
  }
}

// One flag per option name over the command's passes, its help naming the methods it applies to
// with their defaults and the accepted range.
void add_option_flags(CLI::App* cmd, Invocation& inv, const std::string& prefix) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<const passes::PassInfo*, const passes::OptionSpec*>>> owners;
  for (const passes::PassInfo* p : passes_of(prefix))
    for (const passes::OptionSpec& o : p->options) {
      if (!owners.count(o.name)) order.push_back(o.name);
      owners[o.name].push_back({p, &o});
    }
  for (const std::string& name : order) {
    const auto& specs = owners[name];
    const passes::OptionSpec& first = *specs.front().second;
    std::string where;
    for (const auto& [pass, spec] : specs)
      where += (where.empty() ? "" : "; ") + method_of(*pass, prefix) +
               (spec->default_value.empty() || spec->kind == passes::OptionKind::Boolean ? "" : ": default " + spec->default_value);
    // Passes that mean different things by one name (int8's --symmetric is about activations,
    // weight-only's about weights) each have their own words and range in the help.
    bool same = true;
    for (const auto& [pass, spec] : specs) same = same && spec->help == first.help && spec->constraint() == first.constraint();
    std::string help;
    if (same) {
      help = first.help + " [" + where + "]";
      if (!first.constraint().empty()) help += " (" + first.constraint() + ")";
    } else {
      for (const auto& [pass, spec] : specs)
        help += (help.empty() ? "" : "; ") + method_of(*pass, prefix) + ": " + spec->help +
                (spec->constraint().empty() ? "" : " (" + spec->constraint() + ")");
      help += " [" + where + "]";
    }
    std::string flag = "--" + name;
    for (const std::string& alias : first.aliases) flag += ",--" + alias;
    switch (first.kind) {
      case passes::OptionKind::Boolean:
        inv.flags[name] = cmd->add_flag_function(flag, [&inv, name](int64_t) { inv.values[name] = "true"; }, help);
        break;
      case passes::OptionKind::List:
        inv.flags[name] = cmd->add_option(flag, inv.lists[name], help)->delimiter(',')->type_name("NAME,...");
        break;
      default:
        inv.flags[name] = cmd->add_option(flag, inv.values[name], help)->type_name(type_name(first.kind));
    }
  }
}

// The options given on the command line, checked against the chosen pass.
std::map<std::string, std::string> given_options(const Invocation& inv, const passes::PassInfo& pass,
                                                 const std::string& prefix) {
  std::map<std::string, std::string> given;
  for (const auto& [name, flag] : inv.flags) {
    if (flag->count() == 0) continue;
    if (!pass.find_option(name)) {
      std::string owners;
      for (const passes::PassInfo* p : passes_of(prefix))
        if (p->find_option(name)) owners += (owners.empty() ? "" : ", ") + method_of(*p, prefix);
      throw bad_input("--" + name + " is not an option of --method " + inv.method + " (it applies to --method " + owners + ")");
    }
    if (inv.lists.count(name)) {
      std::string joined;
      for (const std::string& item : inv.lists.at(name)) joined += (joined.empty() ? "" : ",") + item;
      given[name] = joined;
    } else {
      given[name] = inv.values.at(name);
    }
  }
  return given;
}

void print_table(const passes::Table& t) {
  if (t.header.empty()) return;
  std::vector<size_t> width(t.header.size());
  for (size_t c = 0; c < t.header.size(); ++c) width[c] = t.header[c].size();
  for (const auto& row : t.rows)
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size() && c < width.size(); ++c) {
      const std::string pad(width[c] - cells[c].size(), ' ');
      out += (c ? "  " : "") + (c < 2 ? cells[c] + pad : pad + cells[c]);  // names left, numbers right
    }
    std::printf("%s\n", out.c_str());
  };
  line(t.header);
  for (const auto& row : t.rows) line(row);
  std::printf("\n");
}

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

nlohmann::json json_of(const Invocation& inv, const pipeline::Measurement& before, const pipeline::StepResult& step,
                       uint64_t file_bytes, const std::optional<eval::OnnxRuntimeLatency>& latency) {
  const pipeline::Measurement& after = step.after;
  nlohmann::json j = {{"output", inv.output},
                      {"method", inv.method},
                      {"pass", step.step.pass},
                      {"summary", step.result.summary},
                      {"unchanged", step.result.unchanged.empty() ? nlohmann::json(nullptr) : nlohmann::json(step.result.unchanged)},
                      {"seconds", step.seconds},
                      {"params_before", before.params},
                      {"params_after", after.params},
                      {"nonzeros_before", before.nonzeros},
                      {"nonzeros_after", after.nonzeros},
                      {"macs_before", before.macs},
                      {"macs_after", after.macs},
                      {"initializer_bytes_before", before.initializer_bytes},
                      {"initializer_bytes_after", after.initializer_bytes},
                      {"csr_bytes", after.csr_bytes},
                      {"relative_index_bytes", after.relative_index_bytes},
                      {"file_bytes", file_bytes},
                      {"top1_before", optional_json(before.top1)},
                      {"top1_after", optional_json(after.top1)},
                      {"map50_before", optional_json(before.map50)},
                      {"map50_after", optional_json(after.map50)},
                      {"onnxruntime_latency", pipeline::onnxruntime_latency_json(latency)}};
  j.update(step.result.details);
  return j;
}

void print_human(const Invocation& inv, const pipeline::Measurement& before, const pipeline::StepResult& step,
                 uint64_t file_bytes, const std::optional<eval::OnnxRuntimeLatency>& latency) {
  const pipeline::Measurement& after = step.after;
  print_table(step.result.table);
  for (const std::string& note : step.result.notes) std::printf("%s\n", note.c_str());
  std::printf("%s (%.1f s)\n", step.result.summary.c_str(), step.seconds);
  // Non-zero weights as the layers compute with them (int8 and packed codes decoded).
  auto layer_nonzeros = [](const pipeline::Measurement& m) {
    int64_t n = 0;
    for (const pipeline::LayerStats& l : m.layers) n += l.nonzeros;
    return n;
  };
  const int64_t nonzeros_before = layer_nonzeros(before), nonzeros_after = layer_nonzeros(after);
  std::printf("params %s -> %s, MACs %s -> %s, non-zero weights %s -> %s (%.1fx fewer)\n", with_commas(before.params).c_str(),
              with_commas(after.params).c_str(), human_count(static_cast<double>(before.macs)).c_str(),
              human_count(static_cast<double>(after.macs)).c_str(), with_commas(nonzeros_before).c_str(),
              with_commas(nonzeros_after).c_str(), static_cast<double>(nonzeros_before) / std::max<int64_t>(1, nonzeros_after));
  std::printf("bytes: initializers %s -> %s, file %s", human_bytes(before.initializer_bytes).c_str(),
              human_bytes(after.initializer_bytes).c_str(), human_bytes(file_bytes).c_str());
  if (after.nonzeros < 0.9 * after.params)  // sparse enough for sparse storage to matter
    std::printf(", CSR %s, relative-index (4-bit) %s", human_bytes(after.csr_bytes).c_str(),
                human_bytes(after.relative_index_bytes).c_str());
  std::printf("\n");
  if (before.top1 && after.top1) std::printf("top-1 %.2f%% -> %.2f%%\n", 100 * *before.top1, 100 * *after.top1);
  if (before.map50 && after.map50) std::printf("mAP@0.5 %.2f%% -> %.2f%%\n", 100 * *before.map50, 100 * *after.map50);
  if (latency)
    std::printf("%s%s\n", pipeline::onnxruntime_latency_line(*latency).c_str(),
                latency->speedup() < 1.0 ? " (slower than the input)" : "");
  spdlog::info("wrote {} ({})", inv.output, human_bytes(file_bytes));
}

int run(const Invocation& inv, const PassCommand& command) {
  const passes::PassInfo* pass = passes::find_pass(command.prefix + inv.method);
  if (!pass) throw internal_error("no pass " + command.prefix + inv.method);
  passes::OptionPlace place;
  place.value = [](const std::string& option) { return "--" + option; };
  place.name = place.value;
  place.step = "--method " + inv.method;
  pipeline::Step step{pass->name, given_options(inv, *pass, command.prefix), 0};
  const passes::OptionValues values = passes::validate_options(*pass, step.options, place);

  // Everything the user gave is checked before the model is touched.
  check_output_path(inv.model, inv.output);
  plan_outputs({inv.model, inv.data.path, inv.val, inv.calib}, {inv.output});
  std::optional<data::Dataset> train_data, val_data, calib_data;
  if (!inv.data.path.empty()) train_data = load_data(inv.data.path, inv.data, inv.data.limit);
  if (!inv.val.empty()) val_data = load_data(inv.val, inv.data);
  if (!inv.calib.empty()) calib_data = load_data(inv.calib, inv.data);
  const data::Dataset* accuracy = val_data ? &*val_data : train_data ? &*train_data : nullptr;
  const std::optional<eval::DetectionOptions> detection = accuracy ? detection_options(inv.task, *accuracy) : std::nullopt;
  pipeline::Available available;
  available.training_data = train_data.has_value();
  available.training_labels = train_data && eval::has_truths(*train_data, detection);
  available.calibration_data = command.calibration_flag ? calib_data.has_value() : train_data.has_value();
  available.calibration_flag = command.calibration_flag ? "--calib" : "--data";
  available.distill_hint = "--distill";
  pipeline::check_step_needs(*pass, values, available, pass->name + (inv.method.empty() ? "" : " (--method " + inv.method + ")"));

  ir::Model model = load_user_model(inv.model, inv.model_options);
  const Teacher teacher(inv.model, inv.model_options, pass->needs && pass->needs(values).teacher);
  passes::PassContext context = pass_context(inv.data, inv.seed);
  context.batch = batch_for(model, context.batch);
  context.train = train_data ? &*train_data : nullptr;
  context.val = val_data && eval::has_truths(*val_data, detection) ? &*val_data : nullptr;
  context.detection = detection;
  context.calibration = command.calibration_flag ? (calib_data ? &*calib_data : nullptr) : context.train;
  context.teacher = teacher.get();
  set_step_progress(context, values);

  const pipeline::Measurement before = pipeline::measure(model, accuracy, context);
  const pipeline::StepResult result = pipeline::run_step(model, step, context, accuracy);
  const uint64_t file_bytes = onnxio::save_model(model, inv.output);
  const std::optional<eval::OnnxRuntimeLatency> latency = measure_ort_latency(inv.ort, inv.model, model);
  if (inv.json) std::cout << json_of(inv, before, result, file_bytes, latency).dump(2) << std::endl;
  else print_human(inv, before, result, file_bytes, latency);
  warn_if_unchanged(result);
  if (inv.strict && !result.result.unchanged.empty()) {
    spdlog::error("--strict: {} changed nothing (model written to {})", result.step.pass, inv.output);
    return int(kGateFailed);
  }
  if (latency && inv.ort.min_speedup && latency->speedup() < *inv.ort.min_speedup) {
    spdlog::error("quality gate not met: ONNX Runtime speedup {:.2f}x < --min-ort-speedup {:.2f} (model written to {})",
                  latency->speedup(), *inv.ort.min_speedup, inv.output);
    return int(kGateFailed);
  }
  return int(kOk);
}

}  // namespace

void register_pass_command(CLI::App& app, Action& action, const PassCommand& command) {
  auto inv = std::make_shared<Invocation>();
  inv->method = command.default_method;
  CLI::App* cmd = app.add_subcommand(command.name, command.description);
  cmd->add_option("model", inv->model, "Input .onnx file")->required();
  cmd->add_option("-o,--output", inv->output, "Output .onnx file (never the input)")->required();
  std::vector<std::string> methods;
  std::string method_help;
  for (const passes::PassInfo* p : passes_of(command.prefix)) {
    methods.push_back(method_of(*p, command.prefix));
    method_help += (method_help.empty() ? "" : "; ") + methods.back() + ": " + p->summary;
  }
  cmd->add_option("--method", inv->method, method_help)->check(CLI::IsMember(methods))->capture_default_str();
  add_data_options(cmd, inv->data, false);
  add_task_options(cmd, inv->task);
  add_model_options(cmd, inv->model_options);
  cmd->add_option("--val", inv->val, "Data for accuracy before/after and per-epoch validation (default for accuracy: --data)");
  if (command.calibration_flag)
    cmd->add_option("--calib", inv->calib, "Calibration / sensitivity data (no labels needed); preprocessing as for --data");
  cmd->add_option("--seed", inv->seed, "Seed for shuffling and augmentation while fine-tuning")->capture_default_str();
  cmd->add_flag("--json", inv->json, "Print one JSON object");
  cmd->add_flag("--strict", inv->strict, "Exit 3 when the pass changes nothing (for CI)");
  add_ort_latency_options(cmd, inv->ort);
  add_option_flags(cmd, *inv, command.prefix);
  cmd->footer("Every option above is also a recipe key of the pass (see `nncompress passes`).");
  cmd->callback([&action, inv, command] { action = [inv, command] { return run(*inv, command); }; });
}

}  // namespace nncompress::cli
