#include "read_bounds.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/core/format.h"
#include "nncompress/core/limits.h"

namespace nncompress::data {

uint64_t unpack_limit() { return physical_memory_bytes() / 2; }

std::string unpack_refusal(const std::string& what, uint64_t bytes) {
  return what + " unpacks to at least " + human_bytes(bytes) + ", more than half of this machine's memory (" +
         human_bytes(unpack_limit()) + "); --limit N reads only the first N samples of .npy and .npz arrays";
}

std::string read_file_start(const std::string& path, uint64_t max_bytes) {
  note_input(path);
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (!in || ec) throw bad_input("cannot open '" + path + "'");
  const uint64_t count = std::min<uint64_t>(size, max_bytes);
  if (count > unpack_limit()) throw bad_input(unpack_refusal("'" + path + "'", count));
  std::string bytes(count, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(count));
  bytes.resize(static_cast<size_t>(in.gcount()));  // a file that shrank meanwhile reads short
  return bytes;
}

}  // namespace nncompress::data
