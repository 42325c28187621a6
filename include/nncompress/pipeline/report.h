#pragma once
// The compress report: before/after totals and per layer, every step with its timing and the
// model after it, sizes, accuracy, and the quality gates. JSON (stable schema, docs/compress.md)
// a Markdown summary for CI logs, and a self-contained HTML page with charts.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/eval/evaluate.h"
#include "nncompress/eval/onnxruntime_latency.h"
#include "nncompress/pipeline/pipeline.h"
#include "nncompress/pipeline/recipe.h"

namespace nncompress::pipeline {

inline constexpr int kReportSchemaVersion = 1;

struct Gate {
  // "max-accuracy-drop" (pp), "min-size-ratio" (input file / output file), "min-snr-db" and
  // "min-cosine" (the worst output against the original model's), "min-ort-speedup" (input latency
  // / output latency in ONNX Runtime) or "strict" (steps that changed nothing; threshold 0)
  std::string name;
  double threshold = 0, value = 0;
  bool passed = true;
};

struct Report {
  std::string input, output;
  Recipe recipe;
  uint64_t input_file_bytes = 0, output_file_bytes = 0;
  Measurement before;
  std::vector<StepResult> steps;
  std::vector<Gate> gates;
  // Every output of the compressed model against the original's on the same data (no labels
  // needed), when fidelity was measured.
  std::optional<eval::Comparison> fidelity;
  // Input and output timed in ONNX Runtime (--ort-latency).
  std::optional<eval::OnnxRuntimeLatency> onnxruntime;

  const Measurement& after() const { return steps.empty() ? before : steps.back().after; }
  double size_ratio() const { return output_file_bytes ? static_cast<double>(input_file_bytes) / output_file_bytes : 0; }
  std::optional<double> accuracy_drop_pp() const;
  bool passed() const;
  // The first failed gate as one line, e.g. "accuracy drop 1.42 pp > --max-accuracy-drop 1".
  std::string failure() const;
  // Each layer of the input with the same layer after the last step (nullptr: removed).
  std::vector<std::pair<const LayerStats*, const LayerStats*>> layer_pairs() const;
};

// Per output of a comparison: name, shape, cosine, snr_db (null when infinite), max_abs_diff,
// mean_abs_diff, agreement (null unless class scores) — the report's `fidelity.outputs` and
// `compare --json`'s `outputs`.
nlohmann::json fidelity_outputs_json(const eval::Comparison& comparison);

// The report's `onnxruntime_latency` (null when not measured): library, version, threads, runs,
// before_ms, after_ms, speedup, slower — also in the JSON of prune and quantize.
nlohmann::json onnxruntime_latency_json(const std::optional<eval::OnnxRuntimeLatency>& latency);
// The latency for people, as every printer shows it: "ONNX Runtime 1.30.0 (batch 1, 1 thread(s),
// median of 20 alternated runs): 0.066 ms -> 0.049 ms, 1.34x"; each marks a slower output its way.
std::string onnxruntime_latency_line(const eval::OnnxRuntimeLatency& latency);

std::string report_json(const Report& report);
std::string report_markdown(const Report& report);
// No scripts and no external resources: tables and inline SVG charts (per-layer sparsity, bits and
// MACs before/after; top-1 against stored bytes after each step).
std::string report_html(const Report& report);

}  // namespace nncompress::pipeline
