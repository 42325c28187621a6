#pragma once
// NumPy .npy/.npz and IDX (MNIST-style, optionally gzipped) arrays as at::Tensors.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace nncompress::data {

// Reads a .npy file (format 1.0-3.0, little-endian, C or Fortran order). Throws bad_input. With
// row_limit > 0 only the header and the first row_limit rows are read from the file.
at::Tensor read_npy(const std::string& path, int64_t row_limit = 0);
// Parses .npy bytes; `label` names the source in errors. With row_limit > 0 only the first
// row_limit rows (first dimension) of a C-order array are read, and `bytes` may end after them.
at::Tensor parse_npy(const std::string& bytes, const std::string& label, int64_t row_limit = 0);
// How many bytes from the start of a .npy hold its header and first row_limit rows, read from
// `head` (its first kNpyHeadBytes bytes or all of them); nullopt when every byte is needed.
constexpr size_t kNpyHeadBytes = size_t{1} << 20;
std::optional<size_t> npy_prefix_size(const std::string& head, const std::string& label, int64_t row_limit);
// Serializes a tensor as .npy bytes (C order).
std::string to_npy(const at::Tensor& tensor);
// Writes a .npy file atomically.
void write_npy(const at::Tensor& tensor, const std::string& path);

// Reads every array of a .npz (zip of .npy files, stored or deflated), keyed by name without ".npy".
// With row_limit > 0 only the first row_limit rows of each, and a deflated array is inflated
// only that far (a small archive that unpacks to gigabytes, read with --limit 10, costs 10 rows).
std::map<std::string, at::Tensor> read_npz(const std::string& path, int64_t row_limit = 0);

// Reads an IDX file (e.g. train-images-idx3-ubyte, optionally .gz).
at::Tensor read_idx(const std::string& path);

}  // namespace nncompress::data
