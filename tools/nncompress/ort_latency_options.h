#pragma once
// --ort-latency and its companions, declared once for prune, quantize and compress: the input and
// output models timed in ONNX Runtime (loaded at run time), a slower output flagged, and an
// optional speed gate.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "nncompress/eval/onnxruntime_latency.h"

namespace nncompress::cli {

struct OrtLatencyOptions {
  bool requested = false;
  std::string library;                // empty: the loader's search path
  int runs = 20;                      // timed runs of each model
  std::optional<double> min_speedup;  // gate: input latency / output latency at least this
  bool enabled() const { return requested || !library.empty() || min_speedup.has_value(); }
};

void add_ort_latency_options(CLI::App* cmd, OrtLatencyOptions& o);

// Times `input` and `output` when asked (nullopt otherwise, and on data-parallel ranks that write
// nothing): batch 1, --threads intra-op threads (1 when not given). Logs the result and warns when
// the output runs slower.
std::optional<eval::OnnxRuntimeLatency> measure_ort_latency(const OrtLatencyOptions& o, const std::string& input,
                                                            const ir::Model& output);

}  // namespace nncompress::cli
