#pragma once
// Object labels in the YOLO format Ultralytics' datasets use: beside `.../images/NAME.png` a text
// file `.../labels/NAME.txt` with one line `class cx cy w h` per object, coordinates normalized
// to [0, 1] by the image's width and height. An image without its file has no objects.
#include <ATen/core/Tensor.h>

#include <string>

namespace nncompress::data {

// The label file paired with an image: the last `images` folder of its path replaced by `labels`,
// the extension by `.txt`; empty when the path has no `images` folder.
std::string yolo_label_path(const std::string& image);

// The objects of a label file as rows (class, x1, y1, x2, y2) in pixels of a width x height image,
// float [K, 5]. Throws bad_input naming the file and line of anything else (segment polygons too).
at::Tensor read_yolo_labels(const std::string& path, int64_t width, int64_t height);

}  // namespace nncompress::data
