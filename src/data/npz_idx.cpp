// .npz (a zip archive of .npy files) and IDX readers.
#include <zlib.h>

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/core/format.h"
#include "nncompress/data/array_io.h"
#include "read_bounds.h"

namespace nncompress::data {

namespace {

uint32_t u32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
  return v;
}
uint16_t u16(const std::string& b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) | (static_cast<unsigned char>(b[at + 1]) << 8));
}

// Inflates the first `count` bytes of a raw deflate stream (all of it when `whole`, which must
// then end exactly there).
std::string inflate_raw(const char* data, size_t size, size_t count, bool whole, const std::string& label) {
  std::string out(count, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw internal_error("zlib initialization failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  z.avail_in = static_cast<uInt>(size);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(count);
  const int rc = inflate(&z, whole ? Z_FINISH : Z_SYNC_FLUSH);
  inflateEnd(&z);
  const bool ok = whole ? rc == Z_STREAM_END : rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR;
  if (!ok || z.total_out != count) throw bad_input(label + ": corrupt deflated entry");
  return out;
}

}  // namespace

std::map<std::string, at::Tensor> read_npz(const std::string& path, int64_t row_limit) {
  const std::string b = read_file_start(path);
  const std::string label = "'" + path + "'";
  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  size_t eocd = std::string::npos;
  if (b.size() >= 22) {
    const size_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
    for (size_t i = b.size() - 21; i-- > lowest;) {
      if (u32(b, i) == 0x06054b50) {
        eocd = i;
        break;
      }
    }
  }
  if (eocd == std::string::npos) throw bad_input(label + " is not a .npz (zip) archive");
  const uint16_t entries = u16(b, eocd + 10);
  size_t cd = u32(b, eocd + 16);
  std::map<std::string, at::Tensor> arrays;
  for (uint16_t e = 0; e < entries; ++e) {
    if (cd + 46 > b.size() || u32(b, cd) != 0x02014b50) throw bad_input(label + ": corrupt zip directory");
    const uint16_t method = u16(b, cd + 10);
    const uint32_t csize = u32(b, cd + 20), usize = u32(b, cd + 24);
    const uint16_t name_len = u16(b, cd + 28), extra_len = u16(b, cd + 30), comment_len = u16(b, cd + 32);
    const uint32_t local = u32(b, cd + 42);
    if (csize == 0xFFFFFFFF || usize == 0xFFFFFFFF || local == 0xFFFFFFFF)
      throw bad_input(label + ": zip64 archives (arrays over 4 GB) are not supported");
    if (cd + 46 + name_len > b.size()) throw bad_input(label + ": corrupt zip directory");
    std::string name = b.substr(cd + 46, name_len);
    cd += 46 + name_len + extra_len + comment_len;
    // In size_t: local + 30 would wrap around in 32 bits.
    if (size_t{local} + 30 > b.size() || u32(b, local) != 0x04034b50)
      throw bad_input(label + ": corrupt zip entry " + printable(name));
    const size_t data = size_t{local} + 30 + u16(b, size_t{local} + 26) + u16(b, size_t{local} + 28);
    if (data + csize > b.size()) throw bad_input(label + ": truncated zip entry " + printable(name));
    // Deflate expands at most 1032:1: a larger declared size is a lie that would cost memory.
    if ((method == 0 && usize != csize) || (method == 8 && usize > uint64_t(csize) * 1032 + 1024))
      throw bad_input(label + ": zip entry " + printable(name) + " declares " + std::to_string(usize) + " bytes from " +
                      std::to_string(csize) + " stored ones");
    if (method != 0 && method != 8)
      throw bad_input(label + ": zip compression method " + std::to_string(method) + " is not supported");
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    const std::string array_label = label + " array '" + printable(name) + "'";
    // With a row limit only the rows asked for are unpacked.
    size_t unpack = usize;
    if (row_limit > 0) {
      const std::string head = method == 0 ? b.substr(data, std::min<size_t>(csize, kNpyHeadBytes))
                                           : inflate_raw(b.data() + data, csize, std::min<size_t>(usize, kNpyHeadBytes), false, label);
      unpack = std::min<size_t>(usize, npy_prefix_size(head, array_label, row_limit).value_or(usize));
    }
    if (unpack > unpack_limit()) throw bad_input(unpack_refusal(array_label, unpack));
    const std::string content = method == 0 ? b.substr(data, unpack)
                                            : inflate_raw(b.data() + data, csize, unpack, unpack == usize, label);
    arrays[name] = parse_npy(content, array_label, row_limit);
  }
  return arrays;
}

at::Tensor read_idx(const std::string& path) {
  note_input(path);
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) throw bad_input("cannot open '" + path + "'");
  std::string b;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) {
    b.append(buf, static_cast<size_t>(n));
    if (b.size() > unpack_limit()) {
      gzclose(f);
      throw bad_input(unpack_refusal("'" + path + "'", b.size()));
    }
  }
  const bool ok = n == 0;
  gzclose(f);
  const std::string label = "'" + path + "'";
  if (!ok) throw bad_input(label + ": corrupt gzip data");
  if (b.size() < 4 || b[0] != 0 || b[1] != 0) throw bad_input(label + " is not an IDX file");
  const int type = static_cast<unsigned char>(b[2]), rank = static_cast<unsigned char>(b[3]);
  if (type != 0x08) throw bad_input(label + ": only unsigned-byte IDX files are supported");
  if (b.size() < 4 + 4 * static_cast<size_t>(rank)) throw bad_input(label + ": truncated IDX header");
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    const size_t at = 4 + 4 * i;
    const int64_t d = (static_cast<int64_t>(static_cast<unsigned char>(b[at])) << 24) |
                      (static_cast<unsigned char>(b[at + 1]) << 16) | (static_cast<unsigned char>(b[at + 2]) << 8) |
                      static_cast<unsigned char>(b[at + 3]);
    shape.push_back(d);
    if (d > 0 && numel > static_cast<int64_t>(b.size()) / d) throw bad_input(label + ": IDX data is truncated");
    numel *= d;
  }
  const size_t start = 4 + 4 * static_cast<size_t>(rank);
  if (b.size() - start != static_cast<size_t>(numel))
    throw bad_input(label + ": IDX data has " + std::to_string(b.size() - start) + " bytes, header says " + std::to_string(numel));
  at::Tensor t = at::empty(shape, at::kByte);
  if (numel > 0) std::memcpy(t.data_ptr(), b.data() + start, static_cast<size_t>(numel));  // empty: null data
  return t;
}

}  // namespace nncompress::data
