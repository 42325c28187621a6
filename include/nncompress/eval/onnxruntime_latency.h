#pragma once
// Latency of a model and its compressed version in ONNX Runtime, the runtime most users deploy
// with. Its C library is loaded at run time (dlopen: Debian ships no ONNX Runtime package or
// header), so nncompress neither links nor needs it unless asked. Used to flag a compressed model
// that runs slower than its original there (ONNX Runtime's int8 kernels are not always faster).
#include <string>

#include "nncompress/ir/model.h"

namespace nncompress::eval {

struct OnnxRuntimeLatency {
  std::string library;  // the file loaded
  std::string version;  // ONNX Runtime's version string
  int threads = 1;
  int runs = 0;                        // timed runs of each model
  double before_ms = 0, after_ms = 0;  // medians
  double speedup() const { return after_ms > 0 ? before_ms / after_ms : 0; }
};

// Runs the ONNX file `before` and the model `after` (handed over in memory: a command's outputs
// reach their paths only when it succeeds) alternately at batch 1 on the same random inputs (the
// graph inputs of `after`, symbolic dimensions set to 1), `runs` timed runs each after warm-up,
// with `threads` intra-op threads. `library`: a path to libonnxruntime.so, or empty for the
// loader's search path. Throws bad_input when the library cannot be used or `before` does not run
// there, internal_error when only `after` fails.
OnnxRuntimeLatency onnxruntime_latency(const std::string& library, const std::string& before, const ir::Model& after,
                                       int threads, int runs);

}  // namespace nncompress::eval
