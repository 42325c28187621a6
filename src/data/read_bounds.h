#pragma once
// What the array readers may hold in memory: no array read or unpacked from a file may be larger
// than half of this machine's memory (a small .npz or .gz can declare or inflate to gigabytes, and
// a file larger than memory would end in an allocator abort), and a file is read at most as far
// as the rows asked for.
#include <cstdint>
#include <string>

namespace nncompress::data {

// Half of the machine's physical memory.
uint64_t unpack_limit();
// "WHAT unpacks to at least N GB, more than half of this machine's memory (M GB); --limit ..."
std::string unpack_refusal(const std::string& what, uint64_t bytes);
// The first `max_bytes` bytes of a file (all of it when shorter), noted as an input; refused
// when that is more than unpack_limit().
std::string read_file_start(const std::string& path, uint64_t max_bytes = UINT64_MAX);

}  // namespace nncompress::data
