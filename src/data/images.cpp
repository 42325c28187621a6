#include "nncompress/data/images.h"

#include <ATen/ATen.h>
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/data/yolo_labels.h"

namespace nncompress::data {

namespace fs = std::filesystem;

namespace {

struct ImageFile {
  std::string path;
  int64_t label = -1;
};

struct Decoded {
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels{nullptr, stbi_image_free};
  int width = 0, height = 0, channels = 0;
};

std::vector<std::string> images_in(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image_file(e.path().string())) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<fs::path> class_folders(const fs::path& dir) {
  std::vector<fs::path> classes;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && !images_in(e.path()).empty()) classes.push_back(e.path());
  std::sort(classes.begin(), classes.end());
  return classes;
}

Decoded decode(const std::string& path, int channels) {
  note_input(path);
  Decoded d;
  d.pixels.reset(stbi_load(path.c_str(), &d.width, &d.height, &d.channels, channels));
  if (!d.pixels) throw bad_input("cannot read image '" + path + "': " + stbi_failure_reason());
  if (channels) d.channels = channels;
  return d;
}

at::Tensor resampled(const Decoded& img, const ImageSize& size, const std::string& path) {
  at::Tensor out = at::empty({size.height, size.width, img.channels}, at::kByte);
  if (!stbir_resize_uint8(img.pixels.get(), img.width, img.height, 0, out.data_ptr<uint8_t>(), static_cast<int>(size.width),
                          static_cast<int>(size.height), 0, img.channels))
    throw bad_input("cannot resize image '" + path + "'");
  return out;
}

// Objects [N, K, 5] from the YOLO label files of the images (data/yolo_labels.h), padded with
// class -1 rows; undefined when no image has a label file.
at::Tensor yolo_boxes(const std::vector<ImageFile>& files, int64_t width, int64_t height) {
  std::vector<at::Tensor> tables;
  int64_t most = 0;
  bool any = false;
  for (const ImageFile& f : files) {
    const std::string labels = yolo_label_path(f.path);
    std::error_code ec;
    const bool exists = !labels.empty() && fs::is_regular_file(labels, ec);
    any = any || exists;
    tables.push_back(exists ? read_yolo_labels(labels, width, height) : at::empty({0, 5}, at::kFloat));
    most = std::max(most, tables.back().size(0));
  }
  if (!any) return {};
  at::Tensor boxes = at::full({static_cast<int64_t>(files.size()), std::max<int64_t>(most, 1), 5}, -1.0, at::kFloat);
  for (size_t i = 0; i < tables.size(); ++i) boxes[i].narrow(0, 0, tables[i].size(0)).copy_(tables[i]);
  return boxes;
}

}  // namespace

bool is_image_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pgm", ".ppm", ".pnm"})
    if (ext == e) return true;
  return false;
}

bool is_image_folder(const std::string& dir) {
  return fs::is_directory(dir) && (!images_in(dir).empty() || !class_folders(dir).empty());
}

Dataset read_images(const std::string& path, const ImageSize& resize) {
  std::vector<ImageFile> files;
  bool labeled = false;
  if (!fs::is_directory(path)) {
    files.push_back({path});
  } else if (const std::vector<std::string> direct = images_in(path); !direct.empty()) {
    for (const std::string& f : direct) files.push_back({f});
  } else {
    const std::vector<fs::path> classes = class_folders(path);
    for (size_t c = 0; c < classes.size(); ++c)
      for (const std::string& f : images_in(classes[c])) files.push_back({f, static_cast<int64_t>(c)});
    labeled = true;
  }
  if (files.empty()) throw bad_input("'" + path + "' holds no images");
  // Grayscale when every image is; else every image as RGB.
  int channels = 1;
  for (const ImageFile& f : files) {
    int w = 0, h = 0, c = 0;
    if (!stbi_info(f.path.c_str(), &w, &h, &c)) throw bad_input("cannot read image '" + f.path + "': " + stbi_failure_reason());
    if (c > 1) channels = 3;
  }
  Dataset d;
  std::vector<at::Tensor> samples;
  std::vector<int64_t> labels;
  for (const ImageFile& f : files) {
    const Decoded img = decode(f.path, channels);
    if (resize.set()) {
      samples.push_back(resampled(img, resize, f.path));
    } else {
      if (!samples.empty() && (img.height != samples[0].size(0) || img.width != samples[0].size(1)))
        throw bad_input("images differ in size: '" + files[0].path + "' is " + std::to_string(samples[0].size(1)) + "x" +
                        std::to_string(samples[0].size(0)) + ", '" + f.path + "' is " + std::to_string(img.width) + "x" +
                        std::to_string(img.height) + " (give --resize H,W to resample them to one size)");
      samples.push_back(at::from_blob(img.pixels.get(), {img.height, img.width, img.channels}, at::kByte).clone());
    }
    labels.push_back(f.label);
  }
  d.x = at::stack(samples);
  if (labeled) d.y = at::tensor(labels, at::kLong);
  if (!labeled) d.boxes = yolo_boxes(files, d.x.size(2), d.x.size(1));
  return d;
}

}  // namespace nncompress::data
