// Big CPU buffers (activations, gradients, oneDNN scratchpads) kept for reuse across batches.
//
// Each batch of inference or training allocates and frees the same large tensors. Left to
// glibc, a block over its mmap threshold (at most 32 MiB) goes back to the kernel when freed and
// the next batch faults it in again, zeroed, one 4 KiB page at a time: on this project's VM that
// was a third of resnet18's inference time. The block cache becomes LibTorch's CPU allocator
// (also used by the oneDNN tensors LibTorch creates): blocks of 1 MiB and more are mapped on
// 2 MiB boundaries with transparent huge pages allowed, and a freed block waits in the cache for
// the next request of about its size. Smaller requests go to LibTorch's own allocator.
#pragma once

#include <cstddef>

namespace nncompress::runtime {

struct BlockCacheStats {
  std::size_t blocks_mapped = 0;  // mmap calls so far
  std::size_t blocks_reused = 0;  // requests served from the cache
  std::size_t bytes_in_use = 0;   // handed out and not yet freed
  std::size_t bytes_cached = 0;   // freed, kept for reuse
  std::size_t cache_limit = 0;    // bytes_cached never exceeds this
};

// Whether this build runs under AddressSanitizer, whose allocator must see every buffer's bounds.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizerBuild = true;
#else
inline constexpr bool kAddressSanitizerBuild = false;
#endif
#else
inline constexpr bool kAddressSanitizerBuild = false;
#endif

// Makes the block cache LibTorch's CPU allocator. Call before the first tensor is made (a buffer
// made earlier is still freed correctly, by LibTorch's allocator). Does nothing in
// AddressSanitizer builds. Idempotent.
void install_block_cache();

// Whether install_block_cache() took effect in this process.
bool block_cache_installed();

BlockCacheStats block_cache_stats();

}  // namespace nncompress::runtime
