// libFuzzer target: bytes as a `compress --batch` manifest, once as YAML and once as CSV (the
// format follows the file name). Only bad_input errors may come out.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/pipeline/manifest.h"

namespace {

// Scratch files named after the process, removed when the fuzzer exits.
struct Scratch {
  std::string yaml = "/tmp/nncompress-fuzz-manifest-" + std::to_string(getpid()) + ".yaml";
  std::string csv = "/tmp/nncompress-fuzz-manifest-" + std::to_string(getpid()) + ".csv";
  ~Scratch() {
    std::remove(yaml.c_str());
    std::remove(csv.c_str());
  }
};

void load_as(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  try {
    nncompress::pipeline::load_manifest(path);
  } catch (const nncompress::Error& e) {
    if (e.kind() != nncompress::ErrorKind::BadInput) throw;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Scratch scratch;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  load_as(scratch.yaml, bytes);
  load_as(scratch.csv, bytes);
  nncompress::reset_file_guard();  // the reader notes its input; do not grow the list forever
  return 0;
}
