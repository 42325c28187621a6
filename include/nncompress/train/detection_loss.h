#pragma once
// YOLOv8's training loss for an anchor-free raw head (eval/detection.h's layout): a task-aligned
// assigner (TOOD: each object takes the 10 anchors inside it with the best score^0.5 x IoU^6,
// an anchor claimed twice goes to the object it overlaps most; soft class targets scaled by that
// alignment), then 7.5 x (1 - CIoU) + 0.5 x binary cross-entropy of the class logits + 1.5 x DFL
// (cross-entropy of each side's distribution against the two bins around the true distance),
// each normalized by the sum of the class targets.
#include <ATen/core/Tensor.h>

#include "nncompress/eval/detection.h"

namespace nncompress::train {

struct DetectionLoss {
  at::Tensor total;                  // differentiable scalar
  double box = 0, cls = 0, dfl = 0;  // the unweighted terms, for logs
  int64_t assigned = 0;              // anchors given an object
};

// `raw` [B, 4 * reg_max + C, A] from the model; `truths` float [B, K, 5] rows (class, x1, y1, x2,
// y2) in pixels, class -1 padding. Throws bad_input for a class outside [0, C).
DetectionLoss detection_loss(const at::Tensor& raw, const at::Tensor& truths, const eval::Anchors& anchors,
                             const eval::DetectionHead& head);

// Complete IoU of boxes [..., 4] (x1, y1, x2, y2) broadcast against each other: IoU minus the
// squared center distance over the enclosing box's squared diagonal minus the aspect-ratio term.
at::Tensor complete_iou(const at::Tensor& a, const at::Tensor& b);

}  // namespace nncompress::train
