#include "nncompress/train/detection_loss.h"

#include <ATen/ATen.h>

#include <cmath>

#include "nncompress/core/error.h"

namespace nncompress::train {

namespace {

constexpr double kEps = 1e-9;
constexpr int64_t kTopK = 10;
constexpr double kAlpha = 0.5, kBeta = 6.0;                       // alignment = score^alpha x IoU^beta
constexpr double kBoxGain = 7.5, kClsGain = 0.5, kDflGain = 1.5;  // Ultralytics' defaults

// Which object each anchor learns, as the task-aligned assigner decides.
struct Targets {
  at::Tensor boxes;       // [B, A, 4] the assigned object's box (anything where not foreground)
  at::Tensor scores;      // [B, A, C] soft one-hot class targets, 0 for background
  at::Tensor foreground;  // [B, A] bool
};

Targets assign(const at::Tensor& scores, const at::Tensor& boxes, const at::Tensor& truths, const at::Tensor& centers) {
  at::NoGradGuard no_grad;
  const int64_t b = scores.size(0), a = scores.size(1), c = scores.size(2), m = truths.size(1);
  const at::Tensor cls = truths.select(2, 0);    // [B, M]
  const at::Tensor real = cls.ge(0);             // [B, M]
  const at::Tensor gt = truths.narrow(2, 1, 4);  // [B, M, 4]
  const at::Tensor cx = centers.select(1, 0).view({1, 1, a}), cy = centers.select(1, 1).view({1, 1, a});
  const at::Tensor inside = at::stack({cx - gt.select(2, 0).unsqueeze(2), cy - gt.select(2, 1).unsqueeze(2),
                                       gt.select(2, 2).unsqueeze(2) - cx, gt.select(2, 3).unsqueeze(2) - cy})
                                .amin(0)
                                .gt(kEps) &
                            real.unsqueeze(2);  // [B, M, A]
  const at::Tensor label = cls.clamp_min(0).to(at::kLong);
  const at::Tensor class_score = scores.transpose(1, 2).gather(1, label.unsqueeze(2).expand({b, m, a}));  // [B, M, A]
  const at::Tensor overlaps = at::where(inside, complete_iou(gt.unsqueeze(2), boxes.unsqueeze(1)).clamp_min(0),
                                        at::zeros({}, scores.options()));
  const at::Tensor align =
      at::where(inside, class_score.pow(kAlpha) * overlaps.pow(kBeta), at::zeros({}, scores.options()));
  const int64_t k = std::min(kTopK, a);
  const at::Tensor top = std::get<1>(align.topk(k, 2));  // [B, M, k]
  at::Tensor positive = at::zeros({b, m, a}, scores.options()).scatter_(2, top, 1.0).gt(0) & inside;
  // An anchor two objects claim goes to the one it overlaps most.
  const at::Tensor claims = positive.sum(1, true);                                   // [B, 1, A]
  const at::Tensor most = at::one_hot(overlaps.argmax(1), m).transpose(1, 2).gt(0);  // [B, M, A]
  positive = at::where(claims.gt(1), most, positive);
  const at::Tensor foreground = positive.any(1);               // [B, A]
  const at::Tensor owner = positive.to(at::kFloat).argmax(1);  // [B, A]
  Targets t;
  t.foreground = foreground;
  t.boxes = gt.gather(1, owner.unsqueeze(2).expand({b, a, 4}));
  const at::Tensor owner_label = label.gather(1, owner);  // [B, A]
  // Class targets scaled so that each object's best-aligned anchor gets its best IoU.
  const at::Tensor aligned = align * positive;
  const at::Tensor best_align = aligned.amax(2, true), best_overlap = (overlaps * positive).amax(2, true);
  const at::Tensor norm = (aligned * best_overlap / (best_align + kEps)).amax(1);  // [B, A]
  t.scores = at::one_hot(owner_label, c).to(scores.scalar_type()) * (norm * foreground).unsqueeze(2);
  return t;
}

}  // namespace

at::Tensor complete_iou(const at::Tensor& a, const at::Tensor& b) {
  const double eps = 1e-7;
  const at::Tensor ax1 = a.select(-1, 0), ay1 = a.select(-1, 1), ax2 = a.select(-1, 2), ay2 = a.select(-1, 3);
  const at::Tensor bx1 = b.select(-1, 0), by1 = b.select(-1, 1), bx2 = b.select(-1, 2), by2 = b.select(-1, 3);
  const at::Tensor w1 = ax2 - ax1, h1 = ay2 - ay1 + eps, w2 = bx2 - bx1, h2 = by2 - by1 + eps;
  const at::Tensor inter = (at::minimum(ax2, bx2) - at::maximum(ax1, bx1)).clamp_min(0) *
                           (at::minimum(ay2, by2) - at::maximum(ay1, by1)).clamp_min(0);
  const at::Tensor iou = inter / (w1 * h1 + w2 * h2 - inter + eps);
  const at::Tensor cw = at::maximum(ax2, bx2) - at::minimum(ax1, bx1),
                   ch = at::maximum(ay2, by2) - at::minimum(ay1, by1);
  const at::Tensor diagonal = cw.pow(2) + ch.pow(2) + eps;
  const at::Tensor distance = ((bx1 + bx2 - ax1 - ax2).pow(2) + (by1 + by2 - ay1 - ay2).pow(2)) / 4;
  const at::Tensor v = (4 / (M_PI * M_PI)) * (at::atan(w2 / h2) - at::atan(w1 / h1)).pow(2);
  at::Tensor alpha;
  {
    at::NoGradGuard no_grad;
    alpha = v / (v - iou + (1 + eps));
  }
  return iou - (distance / diagonal + v * alpha);
}

DetectionLoss detection_loss(const at::Tensor& raw, const at::Tensor& truths, const eval::Anchors& anchors,
                             const eval::DetectionHead& head) {
  const eval::DecodedHead decoded = eval::decode_head(raw, anchors, head);  // checks the layout
  const int64_t b = raw.size(0), r = head.reg_max, a = raw.size(2), c = raw.size(1) - 4 * r;
  if (truths.dim() != 3 || truths.size(0) != b || truths.size(2) != 5)
    throw bad_input("detection labels must be [images, objects, 5], found " + c10::str(truths.sizes()));
  // An empty object table still needs one (padding) row for the assigner's shapes.
  const at::Tensor t = truths.size(1) ? truths.to(raw.device()).to(at::kFloat)
                                      : at::full({b, 1, 5}, -1.0, raw.options().dtype(at::kFloat));
  const double largest_class = t.numel() ? t.select(2, 0).max().item<double>() : -1;
  if (largest_class >= static_cast<double>(c))
    throw bad_input("object class " + std::to_string(static_cast<int64_t>(largest_class)) +
                    " is not a class of the model (its head has " + std::to_string(c) + " classes)");
  const at::Tensor x = raw.to(at::kFloat);
  const at::Tensor logits = x.narrow(1, 4 * r, c).transpose(1, 2);  // [B, A, C]
  const Targets target = assign(decoded.scores.detach(), decoded.boxes.detach(), t, anchors.centers.to(x.device()));
  const at::Tensor norm = target.scores.sum().clamp_min(1);
  const at::Tensor cls = at::binary_cross_entropy_with_logits(logits, target.scores, {}, {}, at::Reduction::Sum) / norm;
  DetectionLoss out;
  out.assigned = target.foreground.sum().item<int64_t>();
  at::Tensor box = at::zeros({}, x.options()), dfl = at::zeros({}, x.options());
  if (out.assigned > 0) {
    const at::Tensor fg = target.foreground;
    const at::Tensor weight = target.scores.sum(2).masked_select(fg);  // [P]
    const at::Tensor pred = decoded.boxes.masked_select(fg.unsqueeze(2)).view({-1, 4});
    const at::Tensor truth = target.boxes.masked_select(fg.unsqueeze(2)).view({-1, 4});
    box = ((1 - complete_iou(pred, truth)) * weight).sum() / norm;
    // DFL: the true distances in strides, each between two bins; cross-entropy towards both,
    // weighted by nearness.
    const at::Tensor center =
        anchors.centers.to(x.device()).unsqueeze(0).expand({b, a, 2}).masked_select(fg.unsqueeze(2)).view({-1, 2});
    const at::Tensor stride =
        anchors.strides.to(x.device()).unsqueeze(0).expand({b, a, 1}).masked_select(fg.unsqueeze(2)).view({-1, 1});
    const at::Tensor distance =
        (at::cat({center - truth.narrow(1, 0, 2), truth.narrow(1, 2, 2) - center}, 1) / stride).clamp(0, r - 1 - 0.01);
    const at::Tensor left = distance.floor().to(at::kLong), right = left + 1;
    const at::Tensor w_left = right.to(at::kFloat) - distance, w_right = 1 - w_left;
    // The foreground anchors' rows by index: LibTorch 1.13's masked_select on this permuted view
    // selects the right values but sends their gradients to other logits (its backward scatters in
    // memory order), so the distributions never learned their targets (detection_loss_test.cpp).
    const at::Tensor rows = fg.reshape({-1}).nonzero().squeeze(1);
    const at::Tensor distribution = x.narrow(1, 0, 4 * r).view({b, 4, r, a}).permute({0, 3, 1, 2}).reshape({b * a, 4, r});
    const at::Tensor log_p = distribution.index_select(0, rows).log_softmax(2);
    const at::Tensor ce = -(log_p.gather(2, left.unsqueeze(2)).squeeze(2) * w_left +
                            log_p.gather(2, right.unsqueeze(2)).squeeze(2) * w_right);
    dfl = (ce.mean(1) * weight).sum() / norm;
  }
  out.total = kBoxGain * box + kClsGain * cls + kDflGain * dfl;
  out.box = box.item<double>();
  out.cls = cls.item<double>();
  out.dfl = dfl.item<double>();
  return out;
}

}  // namespace nncompress::train
