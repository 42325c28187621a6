// libFuzzer target: bytes as a .npy, a .npz and an IDX file (plain and through zlib's reader),
// the formats --data, --calib and `run -i` read. Only bad_input errors may come out.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/data/array_io.h"

namespace {

// A scratch file named after the process, removed when the fuzzer exits.
struct Scratch {
  std::string path = "/tmp/nncompress-fuzz-arrays-" + std::to_string(getpid());
  ~Scratch() { std::remove(path.c_str()); }
};

std::string scratch_file() {
  static const Scratch scratch;
  return scratch.path;
}

template <typename F>
void expect_bad_input_at_most(F&& f) {
  try {
    f();
  } catch (const nncompress::Error& e) {
    if (e.kind() != nncompress::ErrorKind::BadInput) throw;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nncompress;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  expect_bad_input_at_most([&] { data::parse_npy(bytes, "fuzz.npy"); });
  expect_bad_input_at_most([&] { data::parse_npy(bytes, "fuzz.npy", 2); });  // --limit 2
  expect_bad_input_at_most([&] { data::npy_prefix_size(bytes, "fuzz.npy", 2); });
  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  expect_bad_input_at_most([&] { data::read_npz(scratch_file()); });
  expect_bad_input_at_most([&] { data::read_npz(scratch_file(), 2); });
  expect_bad_input_at_most([&] { data::read_idx(scratch_file()); });
  reset_file_guard();  // the readers note every input; do not grow the list forever
  return 0;
}
