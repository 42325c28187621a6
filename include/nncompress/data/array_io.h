#pragma once
// NumPy .npy/.npz and IDX (MNIST-style, optionally gzipped) arrays as at::Tensors.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace nncompress::data {

// Reads a .npy file (format 1.0-3.0, little-endian, C or Fortran order). Throws bad_input.
at::Tensor read_npy(const std::string& path);
// Parses .npy bytes; `label` names the source in errors.
at::Tensor parse_npy(const std::string& bytes, const std::string& label);
// Serializes a tensor as .npy bytes (C order).
std::string to_npy(const at::Tensor& tensor);
// Writes a .npy file atomically.
void write_npy(const at::Tensor& tensor, const std::string& path);

// Reads every array of a .npz (zip of .npy files, stored or deflated), keyed by name without ".npy".
std::map<std::string, at::Tensor> read_npz(const std::string& path);

// Reads an IDX file (e.g. train-images-idx3-ubyte, optionally .gz).
at::Tensor read_idx(const std::string& path);

}  // namespace nncompress::data
