#pragma once
// `compress --batch MANIFEST [--jobs N]`: every manifest entry runs as its own `nncompress
// compress` process (one model's failure, even a crash, cannot take the others down), up to N at
// a time, with its output in <report>.log; then one summary table (Markdown, or JSON).
#include <cstdint>
#include <string>
#include <utility>

namespace nncompress::cli {

struct BatchOptions {
  std::string manifest;
  int jobs = 1;
  int threads = 0;  // per process; 0: the cores divided among the jobs
  uint64_t seed = 0;
  bool json = false;
  int shard_index = 0, shard_count = 1;  // this process runs entries shard_index, +shard_count, ...
};

// "I/N" with 0 <= I < N, as --shard takes it; bad_input otherwise.
std::pair<int, int> parse_shard(const std::string& text);

// Exit code: 0 when every entry succeeded, else the first failing entry's (2 bad input, 3 gate).
int run_compress_batch(const BatchOptions& options);

}  // namespace nncompress::cli
