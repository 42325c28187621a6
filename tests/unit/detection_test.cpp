// Detection decoding, NMS and mAP on cases small enough to work out by hand.
#include "nncompress/eval/detection.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "nncompress/core/error.h"

namespace nncompress::eval {
namespace {

TEST(Detection, AnchorsAreCellCentersOfEveryLevelRoundedUp) {
  const Anchors a = anchor_points(20, 36, {{8, 16}, 16});
  // stride 8: 3 x 5 cells, stride 16: 2 x 3 cells.
  ASSERT_EQ(a.centers.size(0), 15 + 6);
  EXPECT_FLOAT_EQ(a.centers[0][0].item<float>(), 4);
  EXPECT_FLOAT_EQ(a.centers[6][0].item<float>(), 12);  // row 1, column 1
  EXPECT_FLOAT_EQ(a.centers[6][1].item<float>(), 12);
  EXPECT_FLOAT_EQ(a.centers[20][0].item<float>(), 40);  // stride 16, row 1, column 2
  EXPECT_FLOAT_EQ(a.strides[20][0].item<float>(), 16);
}

TEST(Detection, DecodingTakesTheExpectedBinOfEachSideTimesTheStride) {
  const DetectionHead head{{8}, 4};
  const Anchors anchors = anchor_points(8, 16, head);  // two anchors, centers (4, 4) and (12, 4)
  at::Tensor raw = at::full({1, 4 * 4 + 2, 2}, -30.0);
  // Anchor 0: left 1, top 2, right 3, bottom 0 bins (peaked logits); anchor 1: even bins, 1.5 each.
  const int64_t bins[4] = {1, 2, 3, 0};
  for (int side = 0; side < 4; ++side) raw[0][side * 4 + bins[side]][0] = 30.0;
  raw.narrow(1, 0, 16).select(2, 1).fill_(0.0);
  raw[0][16][0] = 2.0;  // class logits of anchor 0
  const DecodedHead d = decode_head(raw, anchors, head);
  const at::Tensor b0 = d.boxes[0][0], b1 = d.boxes[0][1];
  EXPECT_NEAR(b0[0].item<float>(), 4 - 1 * 8, 1e-4);
  EXPECT_NEAR(b0[1].item<float>(), 4 - 2 * 8, 1e-4);
  EXPECT_NEAR(b0[2].item<float>(), 4 + 3 * 8, 1e-4);
  EXPECT_NEAR(b0[3].item<float>(), 4 + 0 * 8, 1e-4);
  EXPECT_NEAR(b1[0].item<float>(), 12 - 1.5 * 8, 1e-4);
  EXPECT_NEAR(d.scores[0][0][0].item<float>(), 1 / (1 + std::exp(-2.0)), 1e-6);
  EXPECT_THROW(decode_head(raw.narrow(2, 0, 1), anchors, head), Error);
  EXPECT_THROW(decode_head(raw.narrow(1, 0, 16), anchors, head), Error);  // no class channels
}

TEST(Detection, NonMaximumSuppressionKeepsOverlapsOfOtherClasses) {
  // Three anchors: boxes 0 and 1 overlap (IoU 0.81), box 2 elsewhere.
  DecodedHead d;
  d.boxes = at::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 8.1f, 20.f, 20.f, 30.f, 30.f}).view({1, 3, 4});
  d.scores = at::tensor({0.9f, 0.1f, 0.8f, 0.2f, 0.7f, 0.1f}).view({1, 3, 2});
  std::vector<Detection> same = select_detections(d, 4, {0.001, 0.7, 300});
  ASSERT_EQ(same.size(), 2u);  // box 1 (class 0, score 0.8) lost to box 0
  EXPECT_EQ(same[0].image, 4);
  EXPECT_FLOAT_EQ(same[1].score, 0.7f);
  d.scores[0][1][0] = 0.1f;
  d.scores[0][1][1] = 0.8f;  // box 1 now class 1: kept
  EXPECT_EQ(select_detections(d, 0, {0.001, 0.7, 300}).size(), 3u);
  EXPECT_EQ(select_detections(d, 0, {0.001, 0.7, 2}).size(), 2u);
  EXPECT_EQ(select_detections(d, 0, {0.75, 0.7, 300}).size(), 2u);  // score 0.7 under the threshold
}

TEST(Detection, AveragePrecisionReadsTheMonotonePrecisionAt101Recalls) {
  // One image, two objects of class 0; detections: hit (0.9), miss (0.8), hit (0.7).
  at::Tensor truths = at::tensor({0.f, 0.f, 0.f, 10.f, 10.f, 0.f, 20.f, 20.f, 30.f, 30.f}).view({1, 2, 5});
  const std::vector<Detection> dets{
      {0, 0, 0.9f, {0, 0, 10, 10}}, {0, 0, 0.8f, {50, 50, 60, 60}}, {0, 0, 0.7f, {20, 20, 30, 31}}};
  const MeanAveragePrecision m = mean_average_precision(dets, truths);
  // Recall 0.5, 0.5, 1; precision 1, 0.5, 2/3 -> 1, 2/3, 2/3: 51 recalls read 1, 50 read 2/3.
  EXPECT_NEAR(m.map50, (51 + 50 * 2.0 / 3) / 101, 1e-12);
  // The third box has IoU 100/110 = 0.909: a hit up to the threshold 0.9, a miss at 0.95.
  EXPECT_NEAR(m.map50_95, (9 * m.map50 + 51.0 / 101) / 10, 1e-12);
  EXPECT_EQ(m.objects, 2);
  EXPECT_EQ(m.detections, 3);
}

TEST(Detection, ClassesWithoutObjectsAreLeftOutAndEachObjectMatchesOnce) {
  at::Tensor truths = at::full({2, 1, 5}, -1.0);
  truths[1][0] = at::tensor({1.f, 0.f, 0.f, 10.f, 10.f});
  const std::vector<Detection> dets{
      {1, 1, 0.9f, {0, 0, 10, 10}}, {1, 1, 0.8f, {0, 0, 10, 10}}, {0, 2, 0.9f, {0, 0, 5, 5}}};
  const MeanAveragePrecision m = mean_average_precision(dets, truths);
  ASSERT_EQ(m.classes, std::vector<int64_t>{1});  // class 2 has detections but no objects
  EXPECT_NEAR(m.map50, 1.0, 1e-12);               // the duplicate comes after the hit: recall 1 at precision 1
  EXPECT_THROW(mean_average_precision(dets, at::zeros({2, 4})), Error);
}

TEST(Detection, IouOfDisjointTouchingAndEmptyBoxesIsZero) {
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {10, 0, 20, 10}), 0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0 / 150);
}

}  // namespace
}  // namespace nncompress::eval
