#include "nncompress/pipeline/report.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "nncompress/core/format.h"

namespace nncompress::pipeline {

namespace {

nlohmann::json optional_number(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
// JSON has no infinity (identical outputs have an infinite SNR): written as null.
nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json to_json(const Measurement& m) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerStats& l : m.layers)
    layers.push_back({{"name", l.node}, {"op", l.op}, {"channels", l.channels}, {"params", l.params},
                      {"nonzeros", l.nonzeros}, {"macs", l.macs}, {"bits", l.bits},
                      {"dense_bytes", l.dense_bytes}, {"encoded_bytes", l.encoded_bytes}});
  return {{"params", m.params}, {"nonzeros", m.nonzeros}, {"macs", m.macs}, {"initializer_bytes", m.initializer_bytes},
          {"weights_dense_bytes", m.weights_dense_bytes}, {"weights_encoded_bytes", m.weights_encoded_bytes},
          {"top1", optional_number(m.top1)}, {"map50", optional_number(m.map50)}, {"map50_95", optional_number(m.map50_95)},
          {"layers", layers}};
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string top1(const std::optional<double>& v) { return v ? fixed(100 * *v, 2) + "%" : "—"; }

std::string gate_line(const Gate& g) {
  if (g.name == "max-accuracy-drop")
    return "accuracy drop " + fixed(g.value, 2) + " pp " + (g.passed ? "<=" : ">") + " --max-accuracy-drop " + fixed(g.threshold, 2);
  if (g.name == "min-snr-db")
    return "worst output SNR " + fixed(g.value, 2) + " dB " + (g.passed ? ">=" : "<") + " --min-snr-db " + fixed(g.threshold, 2);
  if (g.name == "min-cosine")
    return "worst output cosine " + fixed(g.value, 5) + " " + (g.passed ? ">=" : "<") + " --min-cosine " + fixed(g.threshold, 5);
  if (g.name == "min-ort-speedup")
    return "ONNX Runtime speedup " + fixed(g.value, 2) + "x " + (g.passed ? ">=" : "<") + " --min-ort-speedup " + fixed(g.threshold, 2);
  if (g.name == "strict") return fixed(g.value, 0) + " step(s) changed nothing (--strict)";
  return "size ratio " + fixed(g.value, 2) + "x " + (g.passed ? ">=" : "<") + " --min-size-ratio " + fixed(g.threshold, 2);
}

}  // namespace

std::optional<double> Report::accuracy_drop_pp() const {
  if (!before.accuracy() || !after().accuracy()) return std::nullopt;
  return 100.0 * (*before.accuracy() - *after().accuracy());
}

bool Report::passed() const {
  for (const Gate& g : gates)
    if (!g.passed) return false;
  return true;
}

std::string Report::failure() const {
  for (const Gate& g : gates)
    if (!g.passed) return gate_line(g);
  return "";
}

std::vector<std::pair<const LayerStats*, const LayerStats*>> Report::layer_pairs() const {
  std::map<std::string, const LayerStats*> after_by_name;
  for (const LayerStats& l : after().layers) after_by_name[l.node] = &l;
  std::vector<std::pair<const LayerStats*, const LayerStats*>> pairs;
  for (const LayerStats& b : before.layers) {
    const auto it = after_by_name.find(b.node);
    pairs.push_back({&b, it == after_by_name.end() ? nullptr : it->second});
  }
  return pairs;
}

nlohmann::json fidelity_outputs_json(const eval::Comparison& c) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const eval::OutputFidelity& f : c.outputs)
    outputs.push_back({{"name", f.name}, {"shape", f.shape}, {"cosine", f.cosine}, {"snr_db", finite_or_null(f.snr_db)},
                       {"max_abs_diff", f.max_abs_diff}, {"mean_abs_diff", f.mean_abs_diff},
                       {"agreement", optional_number(f.agreement)}});
  return outputs;
}

nlohmann::json onnxruntime_latency_json(const std::optional<eval::OnnxRuntimeLatency>& l) {
  if (!l) return nullptr;
  return {{"library", l->library}, {"version", l->version},     {"threads", l->threads},
          {"runs", l->runs},       {"before_ms", l->before_ms}, {"after_ms", l->after_ms},
          {"speedup", l->speedup()}, {"slower", l->speedup() < 1.0}};
}

std::string onnxruntime_latency_line(const eval::OnnxRuntimeLatency& l) {
  return "ONNX Runtime " + l.version + " (batch 1, " + std::to_string(l.threads) + " thread(s), median of " +
         std::to_string(l.runs) + " alternated runs): " + fixed(l.before_ms, 3) + " ms -> " + fixed(l.after_ms, 3) +
         " ms, " + fixed(l.speedup(), 2) + "x";
}

std::string report_json(const Report& r) {
  nlohmann::json steps = nlohmann::json::array(), recipe_steps = nlohmann::json::array(), gates = nlohmann::json::array();
  for (const Step& s : r.recipe.steps) recipe_steps.push_back({{"pass", s.pass}, {"options", s.options}, {"line", s.line}});
  for (const StepResult& s : r.steps)
    steps.push_back({{"pass", s.step.pass}, {"line", s.step.line}, {"seconds", s.seconds}, {"summary", s.result.summary},
                     {"unchanged", s.result.unchanged.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.result.unchanged)},
                     {"details", s.result.details}, {"after", to_json(s.after)}});
  for (const Gate& g : r.gates)
    gates.push_back({{"name", g.name}, {"threshold", g.threshold}, {"value", finite_or_null(g.value)}, {"passed", g.passed}});
  nlohmann::json fidelity = nullptr;
  if (r.fidelity) fidelity = {{"samples", r.fidelity->samples}, {"outputs", fidelity_outputs_json(*r.fidelity)}};
  const nlohmann::json j = {
      {"schema_version", kReportSchemaVersion},
      {"input", r.input},
      {"output", r.output},
      {"recipe", {{"name", r.recipe.name}, {"source", r.recipe.source}, {"steps", recipe_steps}}},
      {"before", to_json(r.before)},
      {"after", to_json(r.after())},
      {"steps", steps},
      {"sizes", {{"input_file_bytes", r.input_file_bytes}, {"output_file_bytes", r.output_file_bytes},
                 {"size_ratio", r.size_ratio()}}},
      {"accuracy", {{"metric", r.before.map50 ? "map50" : "top1"},
                    {"top1_before", optional_number(r.before.top1)}, {"top1_after", optional_number(r.after().top1)},
                    {"map50_before", optional_number(r.before.map50)}, {"map50_after", optional_number(r.after().map50)},
                    {"drop_pp", optional_number(r.accuracy_drop_pp())}}},
      {"fidelity", fidelity},
      {"onnxruntime_latency", onnxruntime_latency_json(r.onnxruntime)},
      {"gates", gates},
      {"passed", r.passed()}};
  return j.dump(2) + "\n";
}

std::string report_markdown(const Report& r) {
  std::ostringstream md;
  const Measurement& a = r.after();
  md << "## nncompress: " << r.input << " -> " << r.output << "\n\n";
  md << "Recipe: " << r.recipe.name << " (" << r.recipe.source << ")\n\n";
  const std::string metric = r.before.map50 ? "mAP@0.5" : "top-1";
  md << "| | params | non-zeros | MACs | file bytes | " << metric << " |\n|---|---:|---:|---:|---:|---:|\n";
  const auto c = [](int64_t v) { return with_commas(v); };
  md << "| before | " << c(r.before.params) << " | " << c(r.before.nonzeros) << " | " << c(r.before.macs) << " | "
     << c(r.input_file_bytes) << " | " << top1(r.before.accuracy()) << " |\n";
  md << "| after | " << c(a.params) << " | " << c(a.nonzeros) << " | " << c(a.macs) << " | " << c(r.output_file_bytes) << " | "
     << top1(a.accuracy()) << " |\n\n";
  md << "| step | pass | seconds | what it did | non-zeros | MACs | " << metric << " |\n|---:|---|---:|---|---:|---:|---:|\n";
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const StepResult& s = r.steps[i];
    md << "| " << i + 1 << " | " << s.step.pass << " | " << fixed(s.seconds, 1) << " | " << s.result.summary
       << (s.result.unchanged.empty() ? "" : " (changed nothing: " + s.result.unchanged + ")") << " | " << c(s.after.nonzeros)
       << " | " << c(s.after.macs) << " | " << top1(s.after.accuracy()) << " |\n";
  }
  md << "\n| layer | op | channels | non-zeros | bits | MACs | encoded bytes |\n|---|---|---:|---:|---:|---:|---:|\n";
  for (const auto& layer : r.layer_pairs()) {
    const LayerStats& b = *layer.first;
    const LayerStats* l = layer.second;  // nullptr: removed
    auto pair = [&](int64_t x, int64_t y) { return c(x) + (l ? " -> " + c(y) : " -> removed"); };
    md << "| " << b.node << " | " << b.op << " | " << pair(b.channels, l ? l->channels : 0) << " | "
       << pair(b.nonzeros, l ? l->nonzeros : 0) << " | " << pair(b.bits, l ? l->bits : 0) << " | "
       << pair(b.macs, l ? l->macs : 0) << " | " << pair(b.encoded_bytes, l ? l->encoded_bytes : 0) << " |\n";
  }
  md << "\nWeights encoded (codes at their bits, relative indices when sparse; scales not counted): "
     << c(r.before.weights_encoded_bytes) << " -> " << c(a.weights_encoded_bytes) << " bytes (dense float32 "
     << c(r.before.weights_dense_bytes) << ")\n";
  md << "\nSize ratio (input file / output file): " << fixed(r.size_ratio(), 2) << "x";
  if (auto d = r.accuracy_drop_pp()) md << "; accuracy drop " << fixed(*d, 2) << " pp";
  md << "\n";
  if (r.fidelity) {
    md << "\nFidelity to the original model (" << r.fidelity->samples << " samples):\n\n"
       << "| output | cosine | SNR dB | max abs diff | mean abs diff | top-1 agreement |\n|---|---:|---:|---:|---:|---:|\n";
    for (const eval::OutputFidelity& f : r.fidelity->outputs)
      md << "| " << f.name << " | " << fixed(f.cosine, 5) << " | " << (std::isfinite(f.snr_db) ? fixed(f.snr_db, 2) : "inf")
         << " | " << f.max_abs_diff << " | " << f.mean_abs_diff << " | "
         << (f.agreement ? fixed(100 * *f.agreement, 2) + "%" : "—") << " |\n";
  }
  if (const auto& l = r.onnxruntime)
    md << "\n" << onnxruntime_latency_line(*l) << (l->speedup() < 1.0 ? " — **slower than the input**" : "") << "\n";
  for (const Gate& g : r.gates) md << "\n- " << (g.passed ? "PASS " : "FAIL ") << gate_line(g);
  if (!r.gates.empty()) md << "\n";
  return md.str();
}

}  // namespace nncompress::pipeline
