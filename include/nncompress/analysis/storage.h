#pragma once
// Bytes a weight tensor needs in a sparse deployment format, so reports can state honestly what
// pruning saves beyond the (dense) ONNX file.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace nncompress::analysis {

// CSR over the tensor viewed as [dim0, rest]: values (value_bits each), int32 column indices,
// int32 row pointers.
int64_t csr_bytes(const at::Tensor& weight, int value_bits = 32);

// Deep Compression's relative indexing: each non-zero stores the gap to the previous one in
// `index_bits` bits (a filler zero is stored when a gap does not fit) plus its value.
int64_t relative_index_bytes(const at::Tensor& weight, int index_bits = 4, int value_bits = 32);

// Bits of the stream of relative-index gaps (`index_bits` each, fillers included), as symbols.
std::vector<int64_t> relative_index_symbols(const at::Tensor& weight, int index_bits = 4);

// Total bits of a message with these symbol counts under an optimal (Huffman) prefix code.
int64_t huffman_bits(const std::vector<int64_t>& counts);

}  // namespace nncompress::analysis
