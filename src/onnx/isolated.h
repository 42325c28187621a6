#pragma once
// Runs libonnx's checker and shape inference in a forked child process: their inference functions
// trust shapes and attributes in more places than validation can foresee (the fuzzer found
// ConvTranspose reading a weight dimension that a rank-2 weight lacks), and a crash there must
// become a refusal of the model, not a crash of the tool. Private to the onnx layer.
#include <functional>
#include <string>

namespace nncompress::onnxio {

struct IsolatedResult {
  bool crashed = false;  // the child died (a signal, a sanitizer report) before answering
  std::string bytes;     // what `work` returned
  std::string error;     // what `work` threw (std::exception::what), empty if nothing
};

// Runs `work` in a child process (in this process when fork fails) and returns its answer.
IsolatedResult run_isolated(const std::function<std::string()>& work);

}  // namespace nncompress::onnxio
