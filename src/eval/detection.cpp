#include "nncompress/eval/detection.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "nncompress/core/error.h"

namespace nncompress::eval {

Anchors anchor_points(int64_t height, int64_t width, const DetectionHead& head) {
  std::vector<at::Tensor> centers, strides;
  for (int64_t s : head.strides) {
    if (s <= 0) throw bad_input("detection strides must be positive, found " + std::to_string(s));
    // A strided convolution with padding rounds up: 20 pixels at stride 8 are 3 cells.
    const int64_t rows = (height + s - 1) / s, cols = (width + s - 1) / s;
    const at::Tensor y = (at::arange(rows, at::kFloat) + 0.5) * s, x = (at::arange(cols, at::kFloat) + 0.5) * s;
    const std::vector<at::Tensor> grid = at::meshgrid({y, x}, "ij");
    centers.push_back(at::stack({grid[1].reshape(-1), grid[0].reshape(-1)}, 1));
    strides.push_back(at::full({rows * cols, 1}, static_cast<float>(s), at::kFloat));
  }
  return {at::cat(centers, 0), at::cat(strides, 0)};
}

DecodedHead decode_head(const at::Tensor& raw, const Anchors& anchors, const DetectionHead& head) {
  const int64_t r = head.reg_max, a = anchors.centers.size(0);
  if (raw.dim() != 3 || raw.size(2) != a || raw.size(1) <= 4 * r)
    throw bad_input("a detection head output must be [batch, 4 x " + std::to_string(r) + " + classes, " +
                    std::to_string(a) + " anchors] for this input size and strides, found " + c10::str(raw.sizes()));
  const int64_t b = raw.size(0);
  const at::Tensor x = raw.to(at::kFloat);
  // DFL: the expected bin of each distance's softmax distribution, in strides.
  const at::Tensor bins = at::arange(r, x.options()).view({1, 1, r, 1});
  const at::Tensor dist =
      (x.narrow(1, 0, 4 * r).view({b, 4, r, a}).softmax(2) * bins).sum(2).transpose(1, 2);  // [B,A,4]
  const at::Tensor centers = anchors.centers.to(x.device()).unsqueeze(0),
                   stride = anchors.strides.to(x.device()).unsqueeze(0);
  const at::Tensor lt = centers - dist.narrow(2, 0, 2) * stride, rb = centers + dist.narrow(2, 2, 2) * stride;
  return {at::cat({lt, rb}, 2), x.narrow(1, 4 * r, x.size(1) - 4 * r).sigmoid().transpose(1, 2)};
}

double box_iou(const Box& a, const Box& b) {
  const double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1), h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h;
  const double uni = double(a.x2 - a.x1) * (a.y2 - a.y1) + double(b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0;
}

std::vector<Detection> select_detections(const DecodedHead& decoded, int64_t first_image, const NmsOptions& options) {
  const at::Tensor boxes = decoded.boxes.detach().to(at::kFloat).contiguous().cpu();
  const auto [best, cls] = decoded.scores.detach().to(at::kFloat).cpu().max(2);
  const at::Tensor scores = best.contiguous(), classes = cls.contiguous();
  std::vector<Detection> out;
  for (int64_t i = 0; i < boxes.size(0); ++i) {
    const float* s = scores[i].data_ptr<float>();
    const int64_t* c = classes[i].data_ptr<int64_t>();
    const float* bx = boxes[i].data_ptr<float>();
    std::vector<int64_t> order;
    for (int64_t k = 0; k < scores.size(1); ++k)
      if (s[k] > options.score_threshold) order.push_back(k);
    // Best first; equal scores keep anchor order, so the result does not depend on the sort.
    std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return s[p] > s[q]; });
    std::vector<Detection> kept;
    for (int64_t k : order) {
      const Detection d{first_image + i, c[k], s[k], {bx[4 * k], bx[4 * k + 1], bx[4 * k + 2], bx[4 * k + 3]}};
      const bool suppressed = std::any_of(kept.begin(), kept.end(), [&](const Detection& e) {
        return e.cls == d.cls && box_iou(e.box, d.box) > options.iou_threshold;
      });
      if (!suppressed) kept.push_back(d);
      if (static_cast<int64_t>(kept.size()) == options.max_detections) break;
    }
    out.insert(out.end(), kept.begin(), kept.end());
  }
  return out;
}

namespace {

// numpy.linspace(start, stop, n): start + i * step, the last value exactly `stop` (the recall and
// IoU thresholds must be the same doubles as pycocotools' for ties to fall the same way).
std::vector<double> linspace(double start, double stop, int n) {
  std::vector<double> v(n);
  const double step = (stop - start) / (n - 1);
  for (int i = 0; i < n; ++i) v[i] = start + i * step;
  v.back() = stop;
  return v;
}

// AP of one class at one IoU threshold, pycocotools' evaluateImg + accumulate: detections taken
// best first (a stable sort of the image-ordered list), each matched to the unmatched object of
// its image with the highest IoU >= threshold; precision made monotone, then read at 101 recalls.
double average_precision(const std::vector<const Detection*>& dets, const std::map<int64_t, std::vector<Box>>& objects,
                         int64_t object_count, double threshold) {
  std::map<int64_t, std::vector<bool>> matched;
  for (const auto& [image, boxes] : objects) matched[image].assign(boxes.size(), false);
  std::vector<double> precision, recall;
  int64_t tp = 0, fp = 0;
  for (const Detection* d : dets) {
    int64_t m = -1;
    auto it = objects.find(d->image);
    if (it != objects.end()) {
      double best = std::min(threshold, 1 - 1e-10);
      for (size_t g = 0; g < it->second.size(); ++g) {
        if (matched[d->image][g]) continue;
        const double iou = box_iou(d->box, it->second[g]);
        if (iou < best) continue;
        best = iou;
        m = static_cast<int64_t>(g);
      }
    }
    if (m >= 0) {
      matched[d->image][m] = true;
      ++tp;
    } else {
      ++fp;
    }
    recall.push_back(static_cast<double>(tp) / object_count);
    precision.push_back(static_cast<double>(tp) / (tp + fp));
  }
  for (size_t i = precision.size(); i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
  double sum = 0;
  for (double r : linspace(0, 1, 101)) {
    const auto at = std::lower_bound(recall.begin(), recall.end(), r);
    if (at != recall.end()) sum += precision[at - recall.begin()];
  }
  return sum / 101;
}

}  // namespace

MeanAveragePrecision mean_average_precision(const std::vector<Detection>& detections, const at::Tensor& truths) {
  if (truths.dim() != 3 || truths.size(2) != 5)
    throw bad_input("detection labels must be [images, objects, 5] (class, x1, y1, x2, y2), found " +
                    c10::str(truths.sizes()));
  const at::Tensor t = truths.to(at::kFloat).contiguous();
  // Objects per class and image.
  std::map<int64_t, std::map<int64_t, std::vector<Box>>> objects;
  std::map<int64_t, int64_t> counts;
  MeanAveragePrecision r;
  const float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < t.size(0); ++i)
    for (int64_t k = 0; k < t.size(1); ++k) {
      const float* row = p + (i * t.size(1) + k) * 5;
      if (row[0] < 0) continue;
      const auto c = static_cast<int64_t>(row[0]);
      objects[c][i].push_back({row[1], row[2], row[3], row[4]});
      ++counts[c];
      ++r.objects;
    }
  std::map<int64_t, std::vector<const Detection*>> by_class;
  for (const Detection& d : detections) by_class[d.cls].push_back(&d);
  for (auto& [c, list] : by_class) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Detection* a, const Detection* b) { return a->image < b->image; });
    std::stable_sort(list.begin(), list.end(),
                     [](const Detection* a, const Detection* b) { return a->score > b->score; });
  }
  r.detections = static_cast<int64_t>(detections.size());
  const std::vector<double> thresholds = linspace(0.5, 0.95, 10);
  for (const auto& [c, per_image] : objects) {
    const std::vector<const Detection*>& dets = by_class[c];
    double sum = 0;
    for (size_t k = 0; k < thresholds.size(); ++k) {
      const double ap = average_precision(dets, per_image, counts[c], thresholds[k]);
      if (k == 0) r.ap50.push_back(ap);
      sum += ap;
    }
    r.classes.push_back(c);
    r.map50 += r.ap50.back();
    r.map50_95 += sum / thresholds.size();
  }
  if (!r.classes.empty()) {
    r.map50 /= r.classes.size();
    r.map50_95 /= r.classes.size();
  }
  return r;
}

}  // namespace nncompress::eval
