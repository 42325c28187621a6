#include "nncompress/pipeline/recipe.h"

#include <yaml-cpp/yaml.h>

#include "nncompress/core/error.h"
#include "yaml_file.h"

namespace nncompress::pipeline {

namespace {

std::string where(const std::string& source, int line) { return source + (line > 0 ? ":" + std::to_string(line) : ""); }

const passes::PassInfo& pass_of(const Step& s) {
  const passes::PassInfo* p = passes::find_pass(s.pass);
  if (!p) throw internal_error("no pass '" + s.pass + "'");
  return *p;
}

Recipe read_recipe(const std::string& path) {
  const YAML::Node root = load_yaml_file(path, "recipe");
  if (!root.IsMap()) throw bad_input(path + ": a recipe is a map with 'name' and 'steps'");
  Recipe r;
  r.source = path;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key != "name" && key != "steps")
      throw bad_input(where(path, kv.first.Mark().line + 1) + ": unknown key '" + key + "' (name, steps)");
  }
  r.name = root["name"] ? root["name"].as<std::string>() : path;
  const YAML::Node steps = root["steps"];
  if (!steps || !steps.IsSequence() || steps.size() == 0) throw bad_input(path + ": 'steps' must be a non-empty list");
  for (const YAML::Node& s : steps) {
    const int line = s.Mark().line + 1;
    if (!s.IsMap() || !s["pass"]) throw bad_input(where(path, line) + ": each step is a map with 'pass' and its options");
    Step step;
    step.line = line;
    step.pass = s["pass"].as<std::string>();
    const passes::PassInfo* pass = passes::find_pass(step.pass);
    if (!pass) throw bad_input(where(path, line) + ": unknown pass '" + step.pass + "' (" + passes::pass_names() + ")");
    std::map<std::string, int> key_lines;
    for (const auto& kv : s) {
      const std::string key = kv.first.as<std::string>();
      if (key == "pass") continue;
      const int at = kv.first.Mark().line + 1;
      key_lines[key] = at;
      std::string value;
      if (kv.second.IsSequence()) {
        for (const YAML::Node& item : kv.second) value += (value.empty() ? "" : ",") + item.as<std::string>();
      } else if (kv.second.IsScalar()) {
        value = kv.second.as<std::string>();
      } else {
        throw bad_input(where(path, at) + ": " + step.pass + "." + key + " must be a value or a list");
      }
      step.options[key] = value;
    }
    r.steps.push_back(step);
    passes::OptionPlace place;
    place.value = [&](const std::string& key) { return where(path, key_lines[key]) + ": " + step.pass + "." + key; };
    place.name = [](const std::string& key) { return key; };
    place.step = step_place(r, r.steps.size() - 1);
    passes::validate_options(*pass, step.options, place);
  }
  return r;
}

}  // namespace

passes::OptionValues Step::values() const { return passes::OptionValues(pass_of(*this), options); }

std::string step_place(const Recipe& r, size_t i) {
  return where(r.source, r.steps[i].line) + ": step " + std::to_string(i + 1) + " (" + r.steps[i].pass + ")";
}

Recipe load_recipe(const std::string& path) {
  return with_yaml_errors(path, [&] { return read_recipe(path); });
}

Recipe default_recipe() {
  Recipe r;
  r.name = "default: prune.channels (half the MACs, 3 epochs of at most 40,000 samples) -> quant.int8";
  r.source = "default";
  // Recovery after pruning, not training from scratch: a fixed sample budget keeps big training
  // sets (Fashion-MNIST's 60k on ResNet-20) within minutes while small ones are used whole.
  r.steps.push_back({"prune.channels", {{"target-macs", "0.5"}, {"epochs", "3"}, {"epoch-samples", "40000"}}, 0});
  r.steps.push_back({"quant.int8", {}, 0});
  return r;
}

void check_step_needs(const passes::PassInfo& pass, const passes::OptionValues& values, const Available& a,
                      const std::string& place) {
  const passes::Needs needs = pass.needs ? pass.needs(values) : passes::Needs{};
  if (needs.training_data && !a.training_data)
    throw bad_input(place + " needs " + (needs.labels ? "labeled " : "") + "training data: give " + a.training_flag);
  if (needs.labels && !a.training_labels)
    throw bad_input(place + " needs labels in " + a.training_flag +
                    (pass.find_option("distill") ? " (or " + a.distill_hint + ")" : ""));
  if (needs.calibration_data && !a.calibration_data)
    throw bad_input(place + " needs calibration data: give " + a.calibration_flag);
}

void check_needs(const Recipe& r, const Available& a) {
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const std::string place = step_place(r, i);
    check_step_needs(pass_of(r.steps[i]), r.steps[i].values(), a, place);
    // Quantized weights are stored as codes (Q/DQ, packed), which later passes cannot train or prune.
    if (i > 0 && pass_of(r.steps[i - 1]).must_be_last)
      throw bad_input(place + " follows " + r.steps[i - 1].pass + ", which must be the last step");
  }
}

}  // namespace nncompress::pipeline
