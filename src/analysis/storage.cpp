#include "nncompress/analysis/storage.h"

#include <ATen/ATen.h>

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

}  // namespace nncompress::analysis
