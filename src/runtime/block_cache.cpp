// The block cache: LibTorch's CPU allocator with large freed blocks kept for reuse (block_cache.h).
#include "nncompress/runtime/block_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

namespace nncompress::runtime {
namespace {

constexpr std::size_t kSmallest = std::size_t{1} << 20;  // below this, LibTorch's own allocator
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kFineGranule = std::size_t{64} << 10;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Blocks of 2 MiB and more start on a 2 MiB boundary so that the kernel can back them with huge
// pages (one fault per 2 MiB instead of per 4 KiB).
void* map_block(std::size_t size) {
  if (size < kHugePage) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = round_up(start, kHugePage);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t end = start + size + kHugePage;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
  void* block = reinterpret_cast<void*>(aligned);
  madvise(block, size, MADV_HUGEPAGE);  // a hint: fine if the kernel declines
  return block;
}

class BlockCache final : public c10::Allocator {
 public:
  BlockCache() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    // A quarter of the memory at most waits for reuse: a steady loop needs its peak, no more.
    limit_ = pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) / 4
                                   : std::size_t{1} << 30;
  }

  c10::DataPtr allocate(std::size_t n) const override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (n < kSmallest) {
      void* p = c10::alloc_cpu(n);
      return {p, p, &c10::free_cpu, cpu};
    }
    void* p = const_cast<BlockCache*>(this)->take(n);
    return {p, p, &release, cpu};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  BlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    BlockCacheStats s = stats_;
    s.cache_limit = limit_;
    return s;
  }

  // Frees a pointer from allocate(), large or small (raw_deallocate cannot tell which).
  static void release(void* p);

 private:
  void* take(std::size_t n) {
    const std::size_t size = round_up(n, n < 4 * kHugePage ? kFineGranule : kHugePage);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // The smallest cached block that fits, unless it would waste more than an eighth.
      const auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= size + size / 8) {
        void* p = it->second;
        live_.emplace(p, it->first);
        stats_.bytes_cached -= it->first;
        stats_.bytes_in_use += it->first;
        ++stats_.blocks_reused;
        free_.erase(it);
        return p;
      }
    }
    void* p = map_block(size);
    if (!p) {
      // Out of address space or memory: give the cache back to the kernel and try once more.
      drop_cached(0);
      p = map_block(size);
      if (!p) throw std::bad_alloc();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    live_.emplace(p, size);
    stats_.bytes_in_use += size;
    ++stats_.blocks_mapped;
    return p;
  }

  // Returns false when p is not one of ours.
  bool give_back(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return false;
    const std::size_t size = it->second;
    live_.erase(it);
    stats_.bytes_in_use -= size;
    // Make room by unmapping the largest cached blocks; a block bigger than the limit goes too.
    unmap_largest_until(size <= limit_ ? limit_ - size : 0);
    if (size > limit_) {
      munmap(p, size);
      return true;
    }
    free_.emplace(size, p);
    stats_.bytes_cached += size;
    return true;
  }

  void drop_cached(std::size_t keep) {
    std::lock_guard<std::mutex> lock(mutex_);
    unmap_largest_until(keep);
  }

  // Unmaps the largest cached blocks until at most `keep` bytes are cached. Holds mutex_.
  void unmap_largest_until(std::size_t keep) {
    while (stats_.bytes_cached > keep && !free_.empty()) {
      const auto largest = std::prev(free_.end());
      munmap(largest->second, largest->first);
      stats_.bytes_cached -= largest->first;
      free_.erase(largest);
    }
  }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;    // size -> block, waiting for reuse
  std::unordered_map<void*, std::size_t> live_;  // handed out
  BlockCacheStats stats_;
  std::size_t limit_ = 0;
};

// Never destroyed: tensors freed during static destruction still find it.
BlockCache& cache() {
  static BlockCache* const instance = new BlockCache();
  return *instance;
}

void BlockCache::release(void* p) {
  if (p && !cache().give_back(p)) c10::free_cpu(p);
}

bool installed = false;

}  // namespace

void install_block_cache() {
  if (installed || kAddressSanitizerBuild) return;
  c10::SetCPUAllocator(&cache(), /*priority=*/1);
  installed = true;
}

bool block_cache_installed() { return installed; }

BlockCacheStats block_cache_stats() { return cache().stats(); }

}  // namespace nncompress::runtime
