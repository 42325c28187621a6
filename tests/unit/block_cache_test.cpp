#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>

#include <cstdint>

#include "nncompress/runtime/block_cache.h"

using nncompress::runtime::block_cache_stats;

TEST(BlockCache, AFreedLargeBlockServesTheNextRequestOfItsSize) {
  nncompress::runtime::install_block_cache();
  ASSERT_EQ(nncompress::runtime::block_cache_installed(), !nncompress::runtime::kAddressSanitizerBuild);
  if (nncompress::runtime::kAddressSanitizerBuild) {
    // AddressSanitizer keeps LibTorch's allocator: no block is ours.
    at::empty({4 << 20}, at::kFloat);
    EXPECT_EQ(block_cache_stats().blocks_mapped, 0u);
    return;
  }
  const auto before = block_cache_stats();
  void* first = nullptr;
  {
    at::Tensor t = at::empty({3 << 20}, at::kFloat);  // 12 MiB
    first = t.data_ptr();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % (2 << 20), 0u) << "huge-page aligned";
    EXPECT_GE(block_cache_stats().bytes_in_use, before.bytes_in_use + (12u << 20));
    t.fill_(1.0f);  // the memory is really there
  }
  EXPECT_GE(block_cache_stats().bytes_cached, 12u << 20);
  const auto freed = block_cache_stats();
  at::Tensor again = at::empty({3 << 20}, at::kFloat);
  // Served from the cache (this block, or one of the same size an earlier test left there).
  EXPECT_EQ(block_cache_stats().blocks_reused, freed.blocks_reused + 1);
  EXPECT_EQ(block_cache_stats().blocks_mapped, freed.blocks_mapped);
  // A request far smaller is not served by the big block (that would waste most of it).
  again.reset();
  at::Tensor smaller = at::empty({1 << 19}, at::kFloat);  // 2 MiB
  EXPECT_NE(smaller.data_ptr(), first);
  // Small requests stay with LibTorch's allocator.
  const auto in_use = block_cache_stats().bytes_in_use;
  at::Tensor tiny = at::empty({100}, at::kFloat);
  EXPECT_EQ(block_cache_stats().bytes_in_use, in_use);
  EXPECT_LE(block_cache_stats().bytes_cached, block_cache_stats().cache_limit);
}

TEST(BlockCache, RawAllocationsOfEverySizeGoBackWhereTheyCameFrom) {
  nncompress::runtime::install_block_cache();
  c10::Allocator* cpu = c10::GetCPUAllocator();
  // oneDNN's buffers come and go through raw_allocate/raw_deallocate, which cannot say the size.
  for (size_t bytes : {size_t{64}, size_t{1} << 20, size_t{5} << 20}) {
    void* p = cpu->raw_allocate(bytes);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[bytes - 1] = 1;
    const auto in_use = block_cache_stats().bytes_in_use;
    cpu->raw_deallocate(p);
    if (bytes >= (size_t{1} << 20) && nncompress::runtime::block_cache_installed())
      EXPECT_LT(block_cache_stats().bytes_in_use, in_use) << bytes;
    else
      EXPECT_EQ(block_cache_stats().bytes_in_use, in_use) << bytes;
  }
}
