#include "nncompress/pipeline/recipe.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "nncompress/core/error.h"
#include "yaml_file.h"

namespace nncompress::pipeline {

namespace {

using K = OptionKind;

OptionSpec opt(std::string name, K kind, std::string def, std::string help, std::vector<std::string> choices = {}) {
  return {std::move(name), kind, std::move(def), std::move(help), std::move(choices)};
}

// Fine-tuning options every training pass shares.
std::vector<OptionSpec> with_training(std::vector<OptionSpec> options, const std::string& epochs) {
  options.push_back(opt("epochs", K::Integer, epochs, "fine-tuning epochs on the training data"));
  options.push_back(opt("epoch-samples", K::Integer, "0", "samples per epoch, a fresh random subset each epoch (0: all)"));
  options.push_back(opt("lr", K::Number, "0.01", "fine-tuning learning rate"));
  options.push_back(opt("distill", K::Boolean, "false", "fine-tune by distillation from the input model"));
  return options;
}

const PassSpec* find_pass(const std::string& name) {
  for (const PassSpec& p : pass_registry())
    if (p.name == name) return &p;
  return nullptr;
}

const OptionSpec* find_option(const PassSpec& pass, const std::string& name) {
  for (const OptionSpec& o : pass.options)
    if (o.name == name) return &o;
  return nullptr;
}

const OptionSpec& spec_of(const std::string& pass, const std::string& option) {
  const PassSpec* p = find_pass(pass);
  const OptionSpec* o = p ? find_option(*p, option) : nullptr;
  if (!o) throw internal_error("pass '" + pass + "' has no option '" + option + "'");
  return *o;
}

std::string where(const std::string& source, int line) { return source + (line > 0 ? ":" + std::to_string(line) : ""); }

// Checks that `value` is a valid `spec`; throws bad_input with the place otherwise.
void check_value(const OptionSpec& spec, const std::string& value, const std::string& place) {
  auto fail = [&](const std::string& what) {
    throw bad_input(place + ": option '" + spec.name + "' " + what + ", got '" + value + "'");
  };
  char* end = nullptr;
  switch (spec.kind) {
    case K::Number:
      std::strtod(value.c_str(), &end);
      if (value.empty() || *end) fail("must be a number");
      break;
    case K::Integer:
      std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end) fail("must be an integer");
      break;
    case K::Boolean:
      if (value != "true" && value != "false") fail("must be true or false");
      break;
    case K::Text:
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end()) {
        std::string all;
        for (const std::string& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
        fail("must be one of " + all);
      }
      break;
    case K::List:
      break;
  }
}

bool trains(const Step& s) {
  if (s.pass == "finetune" || s.pass == "prune.autoprune") return true;
  const PassSpec* p = find_pass(s.pass);
  return p && find_option(*p, "epochs") && s.integer("epochs") > 0;
}

}  // namespace

const std::vector<PassSpec>& pass_registry() {
  static const std::vector<PassSpec> registry = {
      {"prune.channels", "remove output channels for real (dependency groups; residuals, concat, depthwise)",
       "labeled data for criterion taylor or epochs > 0",
       with_training({opt("ratio", K::Number, "0.3", "fraction of each group's channels to remove"),
                      opt("target-macs", K::Number, "", "keep this fraction of the MACs (global)"),
                      opt("target-params", K::Number, "", "keep this fraction of the params (global)"),
                      opt("criterion", K::Text, "l1", "channel importance", {"l1", "l2", "bn-scale", "fpgm", "taylor"}),
                      opt("round-to", K::Integer, "1", "keep channel counts multiples of this"),
                      opt("keep", K::List, "", "node names left alone")},
                     "0")},
      {"prune.magnitude", "zero the smallest weights (global or per-layer threshold)", "data only when epochs > 0",
       with_training({opt("sparsity", K::Number, "0.5", "fraction of weights to zero"),
                      opt("per-layer", K::Boolean, "false", "one threshold per layer"),
                      opt("gradual", K::Boolean, "false", "reach the sparsity gradually while fine-tuning (AGP)"),
                      opt("keep", K::List, "", "node names left dense")},
                     "0")},
      {"prune.autoprune", "pruning by trained auxiliary parameters, per weight or per channel (docs/autoprune.md)",
       "training data (labels, or distill: true)",
       with_training({opt("granularity", K::Text, "weights", "weights: unstructured; channels: real removal", {"weights", "channels"}),
                      opt("sparsity", K::Number, "", "weights: target sparsity (else lambda decides)"),
                      opt("target-macs", K::Number, "", "channels: keep this fraction of the MACs (else lambda decides)"),
                      opt("target-params", K::Number, "", "channels: keep this fraction of the params"),
                      opt("round-to", K::Integer, "1", "channels: keep channel counts multiples of this"),
                      opt("lambda", K::Number, "0.5", "regularization pull on the auxiliary parameters"),
                      opt("keep", K::List, "", "node names left dense")},
                     "5")},
      {"quant.int8", "post-training int8 Q/DQ (docs/quantization.md)", "data for calibration (labels not needed)",
       {opt("calibration", K::Text, "minmax", "activation ranges", {"minmax", "percentile", "entropy"}),
        opt("calib-limit", K::Integer, "1000", "calibration samples"),
        opt("symmetric", K::Boolean, "false", "symmetric int8 activations (TensorRT)"),
        opt("full-range", K::Boolean, "false", "8-bit instead of 7-bit weights"),
        opt("keep", K::List, "", "node names left in float")}},
      {"quant.focused", "power-of-two weights for pruned models (docs/quantization.md)", "data only when epochs > 0",
       with_training({opt("bits", K::Integer, "5", "bits per non-zero weight (3-8)"),
                      opt("keep", K::List, "", "node names left in float")},
                     "0")},
      {"quant.mixed", "per-layer weight bits by sensitivity under a budget, exact allocation (docs/quantization.md)",
       "data for the sensitivity (labels not needed)",
       with_training({opt("avg-bits", K::Number, "", "budget: mean bits per quantized weight"),
                      opt("max-bytes", K::Integer, "", "budget: encoded weight bytes (codes and scales)"),
                      opt("min-bits", K::Integer, "2", "narrowest width (2-8)"),
                      opt("max-bits", K::Integer, "8", "widest width (2-8; = min-bits: uniform)"),
                      opt("calib-limit", K::Integer, "1000", "samples the sensitivity is measured on"),
                      opt("int4-qdq", K::Boolean, "false", "INT4/INT8 DequantizeLinear at opset 21 instead of bit planes"),
                      opt("keep", K::List, "", "node names left in float")},
                     "0")},
      {"finetune", "train the weights (pruned zeros stay zero)", "training data (labels, or distill: true)",
       with_training({}, "1")},
  };
  return registry;
}

double Step::number(const std::string& name) const {
  auto it = options.find(name);
  return std::strtod((it != options.end() ? it->second : spec_of(pass, name).default_value).c_str(), nullptr);
}

int64_t Step::integer(const std::string& name) const {
  auto it = options.find(name);
  return std::strtoll((it != options.end() ? it->second : spec_of(pass, name).default_value).c_str(), nullptr, 10);
}

bool Step::boolean(const std::string& name) const { return text(name) == "true"; }

std::string Step::text(const std::string& name) const {
  auto it = options.find(name);
  return it != options.end() ? it->second : spec_of(pass, name).default_value;
}

std::vector<std::string> Step::list(const std::string& name) const {
  std::vector<std::string> out;
  std::stringstream ss(text(name));
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

Recipe load_recipe(const std::string& path) {
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
    const PassSpec* spec = find_pass(step.pass);
    if (!spec) {
      std::string all;
      for (const PassSpec& p : pass_registry()) all += (all.empty() ? "" : ", ") + p.name;
      throw bad_input(where(path, line) + ": unknown pass '" + step.pass + "' (" + all + ")");
    }
    for (const auto& kv : s) {
      const std::string key = kv.first.as<std::string>();
      if (key == "pass") continue;
      const int at = kv.first.Mark().line + 1;
      const OptionSpec* o = find_option(*spec, key);
      if (!o) throw bad_input(where(path, at) + ": pass '" + step.pass + "' has no option '" + key + "' (see `nncompress passes`)");
      std::string value;
      if (kv.second.IsSequence()) {
        for (const YAML::Node& item : kv.second) value += (value.empty() ? "" : ",") + item.as<std::string>();
      } else if (kv.second.IsScalar()) {
        value = kv.second.as<std::string>();
      } else {
        throw bad_input(where(path, at) + ": option '" + key + "' must be a value or a list");
      }
      check_value(*o, value, where(path, at));
      step.options[key] = value;
    }
    r.steps.push_back(std::move(step));
  }
  return r;
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

void check_needs(const Recipe& r, const Available& a) {
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const Step& s = r.steps[i];
    const std::string place = where(r.source, s.line) + ": step " + std::to_string(i + 1) + " (" + s.pass + ")";
    const bool needs_data = trains(s) || s.pass == "quant.int8" || s.pass == "quant.mixed" || (s.pass == "prune.channels" && s.text("criterion") == "taylor");
    if (needs_data && !a.train_data) throw bad_input(place + " needs data: give --data");
    const bool needs_labels = (trains(s) && !s.boolean("distill")) || (s.pass == "prune.channels" && s.text("criterion") == "taylor");
    if (needs_labels && !a.train_labels)
      throw bad_input(place + " needs labels in --data" + (trains(s) ? " (or distill: true)" : ""));
    const PassSpec* spec = find_pass(s.pass);
    if (spec && find_option(*spec, "epoch-samples") && s.integer("epoch-samples") < 0)
      throw bad_input(place + ": epoch-samples must not be negative");
    if (s.pass == "prune.magnitude" && s.boolean("gradual") && s.integer("epochs") == 0)
      throw bad_input(place + ": gradual needs epochs > 0");
    if (s.pass == "prune.autoprune") {
      const bool channels = s.text("granularity") == "channels";
      if (channels && s.has("sparsity")) throw bad_input(place + ": granularity channels takes target-macs or target-params, not sparsity");
      if (!channels && (s.has("target-macs") || s.has("target-params") || s.has("round-to")))
        throw bad_input(place + ": target-macs, target-params and round-to need granularity: channels");
    }
    // Quantized weights are stored as codes (Q/DQ, packed), which later passes cannot train or prune.
    if (i > 0 && r.steps[i - 1].pass.rfind("quant.", 0) == 0)
      throw bad_input(place + " follows " + r.steps[i - 1].pass + ": quantization must be the last step");
  }
}

}  // namespace nncompress::pipeline
