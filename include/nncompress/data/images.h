#pragma once
// Images as datasets (PNG, JPEG, BMP, GIF, TGA, PNM through Debian's stb_image): one image file,
// a folder of images (unlabeled), or a folder of class sub-folders, labeled by the sorted
// sub-folder names as torchvision's ImageFolder does. Samples are uint8 [N, H, W, C], C = 1 when
// every image is grayscale, else 3 (RGB); preprocessing later scales them and moves channels
// first (Preprocess). Images keep their size unless a size is given (stb_image_resize's default
// filters: Mitchell when shrinking, cubic when enlarging). A folder of images laid out as
// Ultralytics' datasets (`.../images/...` beside `.../labels/...`) also gives the objects of the
// YOLO label files (data/yolo_labels.h) as the dataset's boxes, in pixels of the resampled size.
#include <string>

#include "nncompress/data/dataset.h"

namespace nncompress::data {

// True for file names with an image extension stb_image reads.
bool is_image_file(const std::string& path);
// True when `dir` holds images directly or in sub-folders.
bool is_image_folder(const std::string& dir);
// Reads the images, sorted by path, resampled to `resize` when set. Without it images must share
// one size (else bad_input naming two that differ and suggesting --resize).
Dataset read_images(const std::string& path, const ImageSize& resize = {});

}  // namespace nncompress::data
