#include "ort_latency_options.h"

#include <spdlog/spdlog.h>

#include "cli_common.h"
#include "distributed.h"

namespace nncompress::cli {

void add_ort_latency_options(CLI::App* cmd, OrtLatencyOptions& o) {
  cmd->add_flag("--ort-latency", o.requested,
                "Time the input and output models in ONNX Runtime (batch 1, --threads or 1 thread) and warn when the "
                "output runs slower; needs ONNX Runtime's libonnxruntime.so (not linked: loaded at run time)");
  cmd->add_option("--ort-library", o.library,
                  "ONNX Runtime's libonnxruntime.so for --ort-latency (default: libonnxruntime.so.1 from the loader's "
                  "path); implies --ort-latency");
  cmd->add_option("--ort-runs", o.runs, "Timed runs of each model for --ort-latency (alternated, median reported)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--min-ort-speedup", o.min_speedup,
                  "Gate: the output must run at least this many times as fast as the input in ONNX Runtime (exit 3 "
                  "otherwise); implies --ort-latency")
      ->check(positive());
}

std::optional<eval::OnnxRuntimeLatency> measure_ort_latency(const OrtLatencyOptions& o, const std::string& input,
                                                            const ir::Model& output) {
  // Data-parallel ranks other than the writer would time beside it and skew its numbers.
  if (!o.enabled() || !writes_outputs()) return std::nullopt;
  const int threads = global_options().threads > 0 ? global_options().threads : 1;
  spdlog::info("timing {} and its compressed version in ONNX Runtime ({} runs each, {} thread{})", input, o.runs, threads,
               threads == 1 ? "" : "s");
  const eval::OnnxRuntimeLatency l = eval::onnxruntime_latency(o.library, input, output, threads, o.runs);
  spdlog::info("ONNX Runtime {}: {:.3f} ms -> {:.3f} ms ({:.2f}x)", l.version, l.before_ms, l.after_ms, l.speedup());
  if (l.speedup() < 1.0)
    spdlog::warn("the output runs slower than the input in ONNX Runtime {} ({:.3f} ms vs {:.3f} ms at batch 1, {} thread{})",
                 l.version, l.after_ms, l.before_ms, threads, threads == 1 ? "" : "s");
  return l;
}

}  // namespace nncompress::cli
