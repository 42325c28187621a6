#include "nncompress/analysis/storage.h"

#include <ATen/ATen.h>

#include <functional>
#include <queue>

namespace nncompress::analysis {

int64_t csr_bytes(const at::Tensor& weight, int value_bits) {
  const int64_t rows = weight.dim() > 0 ? weight.size(0) : 1;
  const int64_t nnz = weight.ne(0).sum().item<int64_t>();
  return (nnz * value_bits + 7) / 8 + nnz * 4 + (rows + 1) * 4;
}

int64_t relative_index_bytes(const at::Tensor& weight, int index_bits, int value_bits) {
  const at::Tensor positions = at::nonzero(weight.reshape({-1}).ne(0)).reshape({-1});
  const int64_t nnz = positions.numel();
  if (nnz == 0) return 0;
  // Gap before each non-zero (the first one counts from position -1).
  const at::Tensor previous = at::cat({at::full({1}, -1, at::kLong), positions.narrow(0, 0, nnz - 1)});
  const at::Tensor gaps = positions - previous;
  const int64_t span = int64_t(1) << index_bits;  // a gap of `span` or more needs fillers
  const int64_t fillers = ((gaps - 1) / span).sum().item<int64_t>();
  return ((nnz + fillers) * (index_bits + value_bits) + 7) / 8;
}

std::vector<int64_t> relative_index_symbols(const at::Tensor& weight, int index_bits) {
  const at::Tensor positions = at::nonzero(weight.reshape({-1}).ne(0)).reshape({-1});
  const int64_t nnz = positions.numel(), span = int64_t(1) << index_bits;
  std::vector<int64_t> counts(span, 0);
  if (nnz == 0) return counts;
  const at::Tensor previous = at::cat({at::full({1}, -1, at::kLong), positions.narrow(0, 0, nnz - 1)});
  const at::Tensor gaps = (positions - previous).contiguous();
  const int64_t* g = gaps.data_ptr<int64_t>();
  for (int64_t i = 0; i < nnz; ++i) {
    counts[span - 1] += (g[i] - 1) / span;  // fillers: a maximal gap each
    ++counts[(g[i] - 1) % span];
  }
  return counts;
}

int64_t huffman_bits(const std::vector<int64_t>& counts) {
  // The cost of a Huffman code is the sum of the weights of all merged nodes.
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<int64_t>> heap;
  for (int64_t c : counts)
    if (c > 0) heap.push(c);
  if (heap.size() == 1) return heap.top();  // one symbol still needs a bit each
  int64_t bits = 0;
  while (heap.size() > 1) {
    const int64_t a = heap.top();
    heap.pop();
    const int64_t b = heap.top();
    heap.pop();
    bits += a + b;
    heap.push(a + b);
  }
  return bits;
}

}  // namespace nncompress::analysis
