// nncompress: compress neural networks stored as ONNX files.
#include <malloc.h>

#include <cstdlib>

#include "cli_main.h"
#include "nncompress/runtime/block_cache.h"

namespace {

// Every batch allocates and frees the same large activations and gradients. glibc's defaults hand
// blocks over 128 KiB back to the kernel (munmap, or trimming the heap top) as soon as they are
// freed, so the next batch page-faults them in again, zeroed: on this VM that was most of the time
// of a MobileNetV2 training step. Keeping freed memory in the heap for reuse made training 2.7x
// faster (docs/benchmarks.md); the resident size stays at the peak, which the run reached anyway.
// Blocks of 1 MiB and more go to the block cache (nncompress/runtime/block_cache.h) instead.
// A user's own MALLOC_* or GLIBC_TUNABLES settings win.
void keep_freed_memory_for_reuse() {
  if (std::getenv("GLIBC_TUNABLES")) return;
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, -1);  // never trim
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  nncompress::runtime::install_block_cache();
  return nncompress::cli::run_cli(argc, argv);
}
