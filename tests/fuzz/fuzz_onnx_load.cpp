// libFuzzer target: bytes as an .onnx file through the loader (protobuf parse, import, sanity
// checks), ONNX's checker and shape inference, as `inspect` runs them. A bad_input error is the
// expected answer to garbage; anything else escaping, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nncompress/core/error.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/onnx/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nncompress;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    // External data resolves against a folder that does not exist: reads must be refused cleanly.
    const ir::Model model = onnxio::parse_model(bytes, "fuzz.onnx", "/nonexistent-fuzz-folder");
    onnxio::check_model(model);
    onnxio::infer_shapes(model);
    onnxio::model_fingerprint(model);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::BadInput) throw;
  }
  return 0;
}
