#pragma once
// Batch manifests for `compress --batch`: a list of models with their outputs, recipes, data and
// gates, as YAML (`models:` a list of maps) or CSV (a header row naming the same keys). Paths are
// taken as written (relative to the current directory). Validated completely before any work:
// unknown keys, missing model/output, bad numbers and outputs named twice are errors with the
// manifest's line.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nncompress::pipeline {

struct BatchEntry {
  std::string model, output;
  std::string recipe, data, val;  // "" = compress's defaults
  std::string report;             // default: the output's path with .report.json
  std::optional<double> max_accuracy_drop, min_size_ratio;
  int64_t limit = 0;
  // Further compress options as command-line arguments ("--input-shape", "x=1,3,48,192", ...),
  // from keys named like the options: batch-size (or batch), input-shape (several joined by ';'),
  // min-snr-db, min-cosine, fidelity-samples, strict, scale, mean, std, layout, resize,
  // ort-latency, ort-library, ort-runs, min-ort-speedup.
  std::vector<std::string> extra_args;
  int line = 0;
};

std::vector<BatchEntry> load_manifest(const std::string& path);

}  // namespace nncompress::pipeline
