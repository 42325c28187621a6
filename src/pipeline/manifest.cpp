#include "nncompress/pipeline/manifest.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "nncompress/core/error.h"
#include "yaml_file.h"

namespace nncompress::pipeline {

namespace {

const char* kKeys[] = {"model", "output", "recipe", "data", "val", "report", "max-accuracy-drop", "min-size-ratio", "limit"};

// Keys passed on to compress as its option of the same name. Kinds: 'n' non-negative number,
// 'r' any finite number, 't' text, 'b' boolean flag, 'l' a list joined by ';' (one flag each).
struct PassThroughKey {
  const char* key;
  const char* flag;
  char kind;
};
const PassThroughKey kPassThrough[] = {
    {"batch-size", "--batch-size", 'n'}, {"batch", "--batch-size", 'n'}, {"input-shape", "--input-shape", 'l'},
    {"min-snr-db", "--min-snr-db", 'r'}, {"min-cosine", "--min-cosine", 'r'}, {"fidelity-samples", "--fidelity-samples", 'n'},
    {"strict", "--strict", 'b'},        {"scale", "--scale", 'n'},         {"mean", "--mean", 't'},
    {"std", "--std", 't'},              {"layout", "--layout", 't'},        {"resize", "--resize", 't'},
    {"ort-latency", "--ort-latency", 'b'}, {"ort-library", "--ort-library", 't'}, {"ort-runs", "--ort-runs", 'n'},
    {"min-ort-speedup", "--min-ort-speedup", 'n'}};

void pass_through(BatchEntry& e, const PassThroughKey& k, const std::string& value, const std::string& where) {
  char* end = nullptr;
  switch (k.kind) {
    case 'n':
    case 'r': {
      const double x = std::strtod(value.c_str(), &end);
      if (*end || !std::isfinite(x) || (k.kind == 'n' && x < 0))
        throw bad_input(where + ": '" + k.key + "' must be a " + (k.kind == 'n' ? "non-negative" : "finite") +
                        " number, got '" + value + "'");
      e.extra_args.insert(e.extra_args.end(), {k.flag, value});
      return;
    }
    case 'b':
      if (value == "true" || value == "yes" || value == "1") e.extra_args.push_back(k.flag);
      else if (value != "false" && value != "no" && value != "0")
        throw bad_input(where + ": '" + k.key + "' is true or false, got '" + value + "'");
      return;
    case 'l': {
      size_t start = 0;
      while (start <= value.size()) {
        const size_t semi = std::min(value.find(';', start), value.size());
        if (semi > start) e.extra_args.insert(e.extra_args.end(), {k.flag, value.substr(start, semi - start)});
        start = semi + 1;
      }
      return;
    }
    default:
      e.extra_args.insert(e.extra_args.end(), {k.flag, value});
  }
}

std::string place(const std::string& path, int line) { return path + ":" + std::to_string(line); }

// One entry from key/value pairs, checked.
BatchEntry make_entry(const std::map<std::string, std::string>& kv, const std::string& path, int line) {
  BatchEntry e;
  e.line = line;
  auto number = [&](const std::string& key, const std::string& v) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !std::isfinite(x) || x < 0)
      throw bad_input(place(path, line) + ": '" + key + "' must be a finite non-negative number, got '" + v + "'");
    return x;
  };
  auto count = [&](const std::string& key, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno == ERANGE || n < 0)
      throw bad_input(place(path, line) + ": '" + key + "' must be a non-negative integer, got '" + v + "'");
    return static_cast<int64_t>(n);
  };
  for (const auto& [key, value] : kv) {
    if (value.empty()) continue;
    if (key == "model") e.model = value;
    else if (key == "output") e.output = value;
    else if (key == "recipe") e.recipe = value;
    else if (key == "data") e.data = value;
    else if (key == "val") e.val = value;
    else if (key == "report") e.report = value;
    else if (key == "max-accuracy-drop") e.max_accuracy_drop = number(key, value);
    else if (key == "min-size-ratio") e.min_size_ratio = number(key, value);
    else if (key == "limit") e.limit = count(key, value);
    else if (auto k = std::find_if(std::begin(kPassThrough), std::end(kPassThrough), [&name = key](const PassThroughKey& p) { return name == p.key; });
             k != std::end(kPassThrough))
      pass_through(e, *k, value, place(path, line));
    else {
      std::string all;
      for (const char* k : kKeys) all += (all.empty() ? "" : ", ") + std::string(k);
      for (const PassThroughKey& p : kPassThrough) all += ", " + std::string(p.key);
      throw bad_input(place(path, line) + ": unknown key '" + key + "' (" + all + ")");
    }
  }
  if (e.model.empty() || e.output.empty()) throw bad_input(place(path, line) + ": each entry needs 'model' and 'output'");
  if (e.report.empty()) e.report = std::filesystem::path(e.output).replace_extension(".report.json").string();
  return e;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) {
    const size_t a = cell.find_first_not_of(" \t\r"), b = cell.find_last_not_of(" \t\r");
    cells.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
  }
  if (!line.empty() && line.back() == ',') cells.push_back("");
  return cells;
}

std::vector<BatchEntry> load_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw bad_input("cannot read manifest '" + path + "'");
  std::vector<std::string> header;
  std::vector<BatchEntry> entries;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    const std::vector<std::string> cells = split_csv_line(line);
    if (header.empty()) {
      header = cells;
      continue;
    }
    if (cells.size() != header.size())
      throw bad_input(place(path, line_no) + ": " + std::to_string(cells.size()) + " cells, the header has " +
                      std::to_string(header.size()));
    std::map<std::string, std::string> kv;
    for (size_t i = 0; i < cells.size(); ++i) kv[header[i]] = cells[i];
    entries.push_back(make_entry(kv, path, line_no));
  }
  return entries;
}

std::vector<BatchEntry> load_yaml(const std::string& path) {
  const YAML::Node root = load_yaml_file(path, "manifest");
  const YAML::Node models = root.IsMap() ? root["models"] : YAML::Node();
  if (!models || !models.IsSequence()) throw bad_input(path + ": a manifest is a map with 'models', a list of entries");
  std::vector<BatchEntry> entries;
  for (const YAML::Node& m : models) {
    const int line = m.Mark().line + 1;
    if (!m.IsMap()) throw bad_input(place(path, line) + ": each entry is a map with 'model', 'output', ...");
    std::map<std::string, std::string> kv;
    for (const auto& item : m) {
      if (!item.second.IsScalar()) throw bad_input(place(path, item.first.Mark().line + 1) + ": values must be scalars");
      kv[item.first.as<std::string>()] = item.second.as<std::string>();
    }
    entries.push_back(make_entry(kv, path, line));
  }
  return entries;
}

}  // namespace

std::vector<BatchEntry> load_manifest(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  std::vector<BatchEntry> entries =
      ext == ".csv" ? load_csv(path) : with_yaml_errors(path, [&] { return load_yaml(path); });
  if (entries.empty()) throw bad_input(path + ": the manifest lists no models");
  std::set<std::string> outputs;
  for (const BatchEntry& e : entries)
    if (!outputs.insert(std::filesystem::weakly_canonical(e.output).string()).second)
      throw bad_input(place(path, e.line) + ": output '" + e.output + "' is written by an earlier entry too");
  return entries;
}

}  // namespace nncompress::pipeline
