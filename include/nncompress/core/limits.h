#pragma once
// Bounds on what a file may make nncompress allocate, shared by the loader, the array readers and
// the executor.
#include <cstdint>

namespace nncompress {

// No tensor may hold more elements than this (2^48: a petabyte of floats). Larger counts come only
// from corrupt or hostile files, and their products overflow int64 arithmetic.
constexpr int64_t kMaxTensorElements = int64_t(1) << 48;

// This machine's physical memory in bytes.
uint64_t physical_memory_bytes();

}  // namespace nncompress
