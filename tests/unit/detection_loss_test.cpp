// YOLOv8's detection loss: its parts on hand-made cases, and that minimizing it over a free head
// output finds the objects (what training a detector relies on).
#include "nncompress/train/detection_loss.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "nncompress/core/error.h"

namespace nncompress::train {
namespace {

TEST(DetectionLoss, CompleteIouIsOneForEqualBoxesAndPenalizesDistantCenters) {
  const at::Tensor a = at::tensor({0.f, 0.f, 10.f, 10.f});
  EXPECT_NEAR(complete_iou(a, a).item<float>(), 1.0, 1e-5);
  // Disjoint boxes: IoU 0 and a center-distance penalty (20^2 / (30^2 + 10^2)).
  EXPECT_NEAR(complete_iou(a, at::tensor({20.f, 0.f, 30.f, 10.f})).item<float>(), -400.0 / 1000, 1e-5);
  // Same center, other aspect: IoU 50/100 minus a positive aspect term.
  EXPECT_LT(complete_iou(a, at::tensor({0.f, 2.5f, 10.f, 7.5f})).item<float>(), 0.5f);
}

TEST(DetectionLoss, GradientDescentOnAFreeHeadFindsTheObjects) {
  const eval::DetectionHead head{{8, 16}, 8};
  const eval::Anchors anchors = eval::anchor_points(32, 32, head);  // 16 + 4 anchors
  const int64_t classes = 3;
  at::manual_seed(0);
  at::Tensor raw = (at::randn({2, 4 * 8 + classes, anchors.centers.size(0)}) * 0.1).requires_grad_(true);
  // Image 0: two objects; image 1: one, and a padding row.
  const at::Tensor truths = at::tensor({1.f, 2.f, 3.f, 14.f, 17.f, 2.f,  12.f, 10.f, 30.f, 29.f,  //
                                        0.f, 3.f, 3.f, 21.f, 13.f, -1.f, 0.f,  0.f,  0.f,  0.f})
                                .view({2, 2, 5});
  const DetectionLoss first_loss = detection_loss(raw, truths, anchors, head);
  const double first = first_loss.total.item<double>();
  for (int step = 0; step < 1000; ++step) {
    const DetectionLoss loss = detection_loss(raw, truths, anchors, head);
    ASSERT_GT(loss.assigned, 0);
    raw.mutable_grad() = at::Tensor();
    loss.total.backward();
    at::NoGradGuard no_grad;
    raw.sub_(raw.grad() * 0.5);
  }
  const DetectionLoss last = detection_loss(raw, truths, anchors, head);
  EXPECT_LT(last.total.item<double>(), first / 4);
  // Every term descends, the box distributions' too: when LibTorch 1.13's masked_select sent the
  // DFL term's gradient to other logits (its backward on a permuted tensor), the decoded boxes still
  // converged through the box term but DFL only went 1.42 -> 0.93 (now 0.46).
  EXPECT_LT(last.box, first_loss.box / 4);
  EXPECT_LT(last.dfl, first_loss.dfl / 2);
  // Each object is found: the best detection of its image and class overlaps it well.
  const std::vector<eval::Detection> found =
      eval::select_detections(eval::decode_head(raw.detach(), anchors, head), 0, {});
  const at::Tensor t = truths.contiguous();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 2; ++k) {
      const float* row = t[i][k].data_ptr<float>();
      if (row[0] < 0) continue;
      double best_iou = 0;
      for (const eval::Detection& d : found)
        if (d.image == i && d.cls == static_cast<int64_t>(row[0]) && d.score > 0.3)
          best_iou = std::max(best_iou, eval::box_iou(d.box, {row[1], row[2], row[3], row[4]}));
      EXPECT_GT(best_iou, 0.8) << "image " << i << " object " << k;
    }
}

TEST(DetectionLoss, NoObjectsTrainsOnlyTheClassesTowardsBackground) {
  const eval::DetectionHead head{{8}, 4};
  const eval::Anchors anchors = eval::anchor_points(16, 16, head);
  const at::Tensor raw = at::zeros({1, 16 + 2, 4});
  const DetectionLoss loss = detection_loss(raw, at::full({1, 0, 5}, -1.0), anchors, head);
  EXPECT_EQ(loss.assigned, 0);
  EXPECT_DOUBLE_EQ(loss.box, 0);
  EXPECT_NEAR(loss.cls, 8 * std::log(2.0), 1e-5);  // 8 logits at 0 against 0 targets, normalized by 1
}

TEST(DetectionLoss, AClassOutsideTheHeadIsBadInput) {
  const eval::DetectionHead head{{8}, 4};
  const eval::Anchors anchors = eval::anchor_points(16, 16, head);
  EXPECT_THROW(
      detection_loss(at::zeros({1, 18, 4}), at::tensor({2.f, 0.f, 0.f, 4.f, 4.f}).view({1, 1, 5}), anchors, head),
      Error);
}

}  // namespace
}  // namespace nncompress::train
