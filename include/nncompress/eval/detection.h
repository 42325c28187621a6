#pragma once
// Object detection with YOLOv8-style anchor-free heads: decoding the raw head output (box
// distances as distributions, DFL, and class logits per anchor point), class-wise non-maximum
// suppression, and COCO-style mean average precision (pycocotools' matching and 101-point
// interpolation, every object one area range, no crowd regions).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace nncompress::eval {

// The layout of a raw head: one output [B, 4 * reg_max + classes, anchors], the anchors listed
// level by level (one level per stride, each a row-major grid of input size / stride cells), the
// 4 * reg_max channels the distributions of the distances left, top, right, bottom in strides.
struct DetectionHead {
  std::vector<int64_t> strides{8, 16, 32};
  int64_t reg_max = 16;
};

// Ultralytics' validation settings.
struct NmsOptions {
  double score_threshold = 0.001;  // kept when the best class score is above it
  double iou_threshold = 0.7;      // a box is suppressed by a better one of its class above it
  int64_t max_detections = 300;    // per image, the best scores
};

struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // pixels of the model input
};

struct Detection {
  int64_t image = 0;  // index in the dataset
  int64_t cls = 0;
  float score = 0;
  Box box;
};

// Anchor centers [A, 2] (x, y in pixels) and the stride of each [A, 1], for an input of
// height x width. A cell center is (column + 0.5, row + 0.5) * stride.
struct Anchors {
  at::Tensor centers, strides;
};
Anchors anchor_points(int64_t height, int64_t width, const DetectionHead& head);

// Boxes [B, A, 4] (x1, y1, x2, y2 in pixels) and class scores [B, A, C] (sigmoid) of a raw head
// output [B, 4 * reg_max + C, A]; differentiable. Throws bad_input when the output does not have
// the anchors of the strides or no class channels.
struct DecodedHead {
  at::Tensor boxes, scores;
};
DecodedHead decode_head(const at::Tensor& raw, const Anchors& anchors, const DetectionHead& head);

// Per image of a decoded batch (image indices from `first_image` on): each anchor's best class,
// the score threshold, non-maximum suppression within each class, the best max_detections.
std::vector<Detection> select_detections(const DecodedHead& decoded, int64_t first_image, const NmsOptions& options);

// Intersection over union (0 when both boxes are empty).
double box_iou(const Box& a, const Box& b);

struct MeanAveragePrecision {
  double map50 = 0, map50_95 = 0;  // fractions in [0, 1]
  std::vector<int64_t> classes;    // the classes with objects, which the means average over
  std::vector<double> ap50;        // per class in `classes`
  int64_t objects = 0, detections = 0;
};

// The mAP of detections against the objects `truths`: float [N, K, 5] rows (class, x1, y1, x2,
// y2) per image, rows with class < 0 are padding. AP per class and IoU threshold (0.50, 0.55 ..
// 0.95) as pycocotools computes it; classes without objects are left out of the means.
MeanAveragePrecision mean_average_precision(const std::vector<Detection>& detections, const at::Tensor& truths);

}  // namespace nncompress::eval
