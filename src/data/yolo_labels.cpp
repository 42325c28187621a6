#include "nncompress/data/yolo_labels.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"

namespace nncompress::data {

namespace fs = std::filesystem;

std::string yolo_label_path(const std::string& image) {
  const fs::path p(image);
  std::vector<fs::path> parts(p.begin(), p.end());
  for (size_t i = parts.size() - 1; i-- > 0;) {  // folders only, the last one first
    if (parts[i] != "images") continue;
    parts[i] = "labels";
    fs::path out;
    for (const fs::path& part : parts) out /= part;
    return out.replace_extension(".txt").string();
  }
  return "";
}

at::Tensor read_yolo_labels(const std::string& path, int64_t width, int64_t height) {
  note_input(path);
  std::ifstream in(path);
  if (!in) throw bad_input("cannot read labels '" + path + "'");
  std::vector<float> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    std::vector<double> v;
    for (double x; fields >> x;) v.push_back(x);
    if (v.empty() && (fields.eof() || line.find_first_not_of(" \t\r") == std::string::npos)) continue;
    const auto where = "'" + path + "' line " + std::to_string(number) + ": ";
    if (!fields.eof() || v.size() != 5)
      throw bad_input(where +
                      "expected 'class cx cy w h' (normalized box; segment polygons are not supported), found '" +
                      line + "'");
    if (v[0] < 0 || v[0] != std::floor(v[0]) || v[0] > 1e6)
      throw bad_input(where + "the class must be a whole number >= 0");
    for (size_t k = 1; k < 5; ++k)
      if (!std::isfinite(v[k]) || v[k] < 0 || v[k] > 1)
        throw bad_input(where + "box values must be normalized to [0, 1]");
    const double cx = v[1] * width, cy = v[2] * height, w = v[3] * width, h = v[4] * height;
    rows.insert(rows.end(), {static_cast<float>(v[0]), static_cast<float>(cx - w / 2), static_cast<float>(cy - h / 2),
                             static_cast<float>(cx + w / 2), static_cast<float>(cy + h / 2)});
  }
  return at::tensor(rows, at::kFloat).view({-1, 5});
}

}  // namespace nncompress::data
