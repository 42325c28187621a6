#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/core/format.h"
#include "nncompress/data/array_io.h"
#include "read_bounds.h"

namespace nncompress::data {

namespace {

at::ScalarType type_from_descr(const std::string& d, const std::string& label) {
  // '<' little-endian, '|' not applicable (1 byte), '=' native (little on our targets).
  if (d.size() < 3 || (d[0] != '<' && d[0] != '|' && d[0] != '='))
    throw bad_input(label + ": unsupported .npy dtype '" + d + "' (big-endian or structured)");
  const std::string t = d.substr(1);
  if (t == "f4") return at::kFloat;
  if (t == "f8") return at::kDouble;
  if (t == "f2") return at::kHalf;
  if (t == "i8") return at::kLong;
  if (t == "i4") return at::kInt;
  if (t == "i2") return at::kShort;
  if (t == "i1") return at::kChar;
  if (t == "u1") return at::kByte;
  if (t == "b1") return at::kBool;
  throw bad_input(label + ": unsupported .npy dtype '" + d + "'");
}

std::string descr_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "<f4";
    case at::kDouble: return "<f8";
    case at::kHalf: return "<f2";
    case at::kLong: return "<i8";
    case at::kInt: return "<i4";
    case at::kShort: return "<i2";
    case at::kChar: return "|i1";
    case at::kByte: return "|u1";
    case at::kBool: return "|b1";
    default: break;
  }
  throw bad_input(std::string("cannot write tensors of type ") + c10::toString(t) + " as .npy");
}

// The value of `key` in the header dict, e.g. 'descr': '<f4' -> <f4.
std::string header_field(const std::string& header, const std::string& key, const std::string& label) {
  const auto k = header.find("'" + key + "'");
  if (k == std::string::npos) throw bad_input(label + ": .npy header lacks '" + key + "'");
  auto v = header.find(':', k);
  if (v == std::string::npos) throw bad_input(label + ": malformed .npy header");
  ++v;
  while (v < header.size() && header[v] == ' ') ++v;
  size_t end = v;
  if (header[v] == '\'') {
    end = header.find('\'', v + 1);
    if (end == std::string::npos) throw bad_input(label + ": malformed .npy header");
    return header.substr(v + 1, end - v - 1);
  }
  if (header[v] == '(') {
    end = header.find(')', v);
    if (end == std::string::npos) throw bad_input(label + ": malformed .npy header");
    return header.substr(v, end - v + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(v, end - v);
}

// What a .npy header says, and where its data starts.
struct NpyHeader {
  at::ScalarType type;
  bool fortran;
  std::vector<int64_t> shape;
  size_t data_offset;
};

NpyHeader parse_header(const std::string& bytes, const std::string& label) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw bad_input(label + " is not a .npy array");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw bad_input(label + ": truncated .npy header");
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    throw bad_input(label + ": unsupported .npy version " + std::to_string(major));
  }
  if (offset + header_len > bytes.size()) throw bad_input(label + ": truncated .npy header");
  const std::string header = bytes.substr(offset, header_len);
  NpyHeader h{type_from_descr(header_field(header, "descr", label), label),
              header_field(header, "fortran_order", label) == "True", {}, offset + header_len};
  std::vector<int64_t>& shape = h.shape;
  const std::string dims = header_field(header, "shape", label);
  if (dims.size() < 2 || dims.front() != '(' || dims.back() != ')')
    throw bad_input(label + ": malformed .npy shape '" + printable(dims) + "'");
  std::stringstream ss(dims.substr(1, dims.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    try {
      shape.push_back(std::stoll(item));
    } catch (const std::exception&) {
      throw bad_input(label + ": malformed .npy shape " + printable(dims));
    }
    if (shape.back() < 0) throw bad_input(label + ": negative dimension in .npy shape " + printable(dims));
  }
  return h;
}

// Whether reading only the first row_limit rows leaves some out (Fortran order keeps them all).
bool cuts_rows(const NpyHeader& h, int64_t row_limit) {
  return row_limit > 0 && !h.fortran && !h.shape.empty() && h.shape[0] > row_limit;
}

}  // namespace

std::optional<size_t> npy_prefix_size(const std::string& head, const std::string& label, int64_t row_limit) {
  if (row_limit <= 0) return std::nullopt;
  const NpyHeader h = parse_header(head, label);
  if (!cuts_rows(h, row_limit)) return std::nullopt;
  uint64_t bytes = static_cast<uint64_t>(row_limit) * at::elementSize(h.type);
  for (size_t i = 1; i < h.shape.size(); ++i)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(h.shape[i]), &bytes)) return std::nullopt;
  if (bytes > SIZE_MAX - h.data_offset) return std::nullopt;
  return h.data_offset + bytes;
}

at::Tensor parse_npy(const std::string& bytes, const std::string& label, int64_t row_limit) {
  NpyHeader h = parse_header(bytes, label);
  if (cuts_rows(h, row_limit)) h.shape[0] = row_limit;
  const at::ScalarType type = h.type;
  const bool fortran = h.fortran;
  const std::vector<int64_t>& shape = h.shape;
  int64_t numel = 1;
  for (int64_t d : shape) {
    // Every element takes at least one byte: larger shapes cannot fit (and must not overflow).
    if (d > 0 && numel > static_cast<int64_t>(bytes.size()) / d) throw bad_input(label + ": .npy data is truncated");
    numel *= d;
  }
  const size_t data_bytes = static_cast<size_t>(numel) * at::elementSize(type);
  const size_t start = h.data_offset;
  if (bytes.size() - start < data_bytes)
    throw bad_input(label + ": .npy data is truncated (" + std::to_string(bytes.size() - start) + " of " +
                    std::to_string(data_bytes) + " bytes)");
  std::vector<int64_t> storage_shape = shape;
  if (fortran) std::reverse(storage_shape.begin(), storage_shape.end());
  at::Tensor t = at::empty(storage_shape, at::TensorOptions().dtype(type));
  if (data_bytes) std::memcpy(t.data_ptr(), bytes.data() + start, data_bytes);
  if (fortran) {
    std::vector<int64_t> perm;
    for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) perm.push_back(i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

at::Tensor read_npy(const std::string& path, int64_t row_limit) {
  const std::string label = "'" + path + "'";
  // With a row limit, the header first, then only the rows asked for.
  std::optional<size_t> prefix;
  if (row_limit > 0) prefix = npy_prefix_size(read_file_start(path, kNpyHeadBytes), label, row_limit);
  return parse_npy(read_file_start(path, prefix.value_or(UINT64_MAX)), label, row_limit);
}

std::string to_npy(const at::Tensor& tensor) {
  const at::Tensor t = tensor.detach().contiguous();
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += std::to_string(t.size(i)) + (t.dim() == 1 ? "," : (i + 1 < t.dim() ? ", " : ""));
  shape += ")";
  std::string header = "{'descr': '" + descr_of(t.scalar_type()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so data starts at a multiple of 64 bytes, newline-terminated.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>((header.size() >> 8) & 0xFF);
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

void write_npy(const at::Tensor& tensor, const std::string& path) {
  AtomicFile out(path);
  out.write(to_npy(tensor));
  out.commit();
}

}  // namespace nncompress::data
