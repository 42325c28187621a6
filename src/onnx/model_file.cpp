#include "nncompress/onnx/model_file.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string_view>

#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/onnx/model_sanity.h"
#include "proto_convert.h"

namespace nncompress::onnxio {

namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw bad_input("cannot open '" + path + "': no such file");
  if (fs::is_directory(st)) throw bad_input("'" + path + "' is a directory, not an ONNX file");
  // A FIFO or a device would block or never end.
  if (!fs::is_regular_file(st)) throw bad_input("'" + path + "' is not a regular file");
  note_input(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw bad_input("cannot open '" + path + "': permission denied or unreadable");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw bad_input("cannot read '" + path + "'");
  return buf.str();
}

// External data lives in regular files inside the model's folder: refuse absolute paths, "..",
// symlinks that lead out, FIFOs and devices before opening anything, and ranges past the end.
// Messages omit the model's name: parse_model and load_tensor prefix it.
ExternalReader external_reader(const std::string& base_dir) {
  return [base_dir](const std::string& location, int64_t offset, int64_t length) {
    const fs::path rel(location);
    bool escapes = rel.is_absolute();
    for (const auto& part : rel)
      if (part == "..") escapes = true;
    if (escapes) throw bad_input("external data location '" + location + "' leaves the model's folder");
    const fs::path folder = base_dir.empty() ? fs::path(".") : fs::path(base_dir);
    const fs::path file = folder / rel;
    std::error_code ec;
    const fs::path real_folder = fs::canonical(folder, ec);
    const fs::path real_file = ec ? fs::path() : fs::canonical(file, ec);
    if (ec) throw bad_input("cannot open external data file '" + file.string() + "': no such file");
    const auto [end, at] = std::mismatch(real_folder.begin(), real_folder.end(), real_file.begin(), real_file.end());
    if (end != real_folder.end())
      throw bad_input("external data location '" + location + "' leads out of the model's folder (to '" +
                      real_file.string() + "')");
    if (!fs::is_regular_file(real_file, ec))
      throw bad_input("external data location '" + location + "' is not a regular file");
    note_input(file.string());
    std::ifstream in(real_file, std::ios::binary);
    if (!in) throw bad_input("cannot open external data file '" + file.string() + "'");
    in.seekg(0, std::ios::end);
    const int64_t size = in.tellg();
    // Compared without adding: offset + length may overflow.
    if (offset < 0 || offset > size || (length >= 0 && length > size - offset))
      throw bad_input("external data range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                      ") is outside '" + file.string() + "' (" + std::to_string(size) + " bytes)");
    const int64_t n = length >= 0 ? length : size - offset;
    std::string bytes(static_cast<size_t>(n), '\0');
    in.seekg(offset);
    in.read(bytes.data(), n);
    if (!in) throw bad_input("cannot read external data file '" + file.string() + "'");
    return bytes;
  };
}

}  // namespace

ir::Model parse_model(const std::string& bytes, const std::string& label, const std::string& base_dir) {
  if (bytes.empty()) throw bad_input("'" + label + "' is empty, not an ONNX model");
  onnx::ModelProto proto;
  google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!proto.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    // Tell nesting beyond protobuf's limit of 100 (deep If/Loop bodies) from a broken file.
    google::protobuf::io::ArrayInputStream again(bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
    google::protobuf::io::CodedInputStream deep(&again);
    deep.SetTotalBytesLimit(INT_MAX);
    deep.SetRecursionLimit(1000);
    onnx::ModelProto probe;
    if (probe.ParseFromCodedStream(&deep) && deep.ConsumedEntireMessage())
      throw bad_input("'" + label + "' nests subgraphs (If/Loop/Scan bodies) deeper than the 100 levels protobuf reads");
    throw bad_input("'" + label + "' is not a valid ONNX model: the protobuf is truncated or corrupt");
  }
  if (proto.ir_version() <= 0 || !proto.has_graph())
    throw bad_input("'" + label + "' is not an ONNX model: it has no " +
                    std::string(proto.ir_version() <= 0 ? "ir_version" : "graph"));
  try {
    ir::Model model = import_model(proto, external_reader(base_dir));
    check_model_sanity(model);
    return model;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::BadInput) throw bad_input("'" + label + "': " + e.what());
    throw;
  }
}

ir::Model load_model(const std::string& path) {
  return parse_model(read_file(path), path, fs::path(path).parent_path().string());
}

ir::Tensor load_tensor(const std::string& path) {
  const std::string bytes = read_file(path);
  onnx::TensorProto proto;
  if (bytes.empty() || !proto.ParseFromString(bytes))
    throw bad_input("'" + path + "' is not a serialized ONNX tensor");
  try {
    return import_tensor(proto, external_reader(fs::path(path).parent_path().string()));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::BadInput) throw bad_input("'" + path + "': " + e.what());
    throw;
  }
}

void save_tensor(const ir::Tensor& tensor, const std::string& path) {
  AtomicFile out(path);
  out.write(export_tensor(tensor).SerializeAsString());
  out.commit();
}

uint64_t model_fingerprint(const ir::Model& model) {
  // Tensors are hashed where they lie instead of copied into one protobuf, which could not hold
  // more than 2 GiB (regnet_y_128gf) and would double the memory a large model takes.
  uint64_t hash = 0;
  auto mix = [&hash](const void* data, size_t size) {  // each piece hashed whole, then combined in order
    const uint64_t piece = std::hash<std::string_view>()(std::string_view(static_cast<const char*>(data), size));
    hash ^= piece + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2);
  };
  int64_t offset = 0;
  ExternalWriter writer;
  writer.wants = [](const ir::Tensor&) { return true; };
  writer.store = [&](const void* data, size_t size) {
    mix(data, size);
    const auto at = std::make_pair(std::string("fingerprint"), offset);
    offset += static_cast<int64_t>(size);
    return at;
  };
  std::string rest;
  if (!export_model(model, &writer).SerializeToString(&rest)) throw internal_error("cannot serialize the model's graph");
  mix(rest.data(), rest.size());
  return hash;
}

uint64_t save_model(const ir::Model& model, const std::string& path, const SaveOptions& options) {
  // Without external data a protobuf is limited to 2 GiB; above that we must externalize.
  uint64_t inline_bytes = 0;
  for (const ir::Value* v : model.graph.initializers()) inline_bytes += v->initializer()->byte_size();
  const bool externalize = options.external_data || inline_bytes > (uint64_t(1) << 31) - (uint64_t(64) << 20);

  onnx::ModelProto proto;
  std::unique_ptr<AtomicFile> data_file;
  if (externalize) {
    const std::string data_path = path + ".data";
    const std::string location = fs::path(data_path).filename().string();
    data_file = std::make_unique<AtomicFile>(data_path);
    ExternalWriter writer;
    writer.wants = [&](const ir::Tensor& t) { return t.byte_size() >= options.external_min_bytes; };
    writer.store = [&](const void* data, size_t size) {
      const int64_t offset = static_cast<int64_t>(data_file->bytes_written());
      data_file->write(data, size);
      return std::make_pair(location, offset);
    };
    proto = export_model(model, &writer);
  } else {
    proto = export_model(model);
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) throw internal_error("cannot serialize the model for '" + path + "'");
  AtomicFile out(path);
  out.write(bytes);
  if (data_file) data_file->commit();
  out.commit();
  return bytes.size();
}

}  // namespace nncompress::onnxio
