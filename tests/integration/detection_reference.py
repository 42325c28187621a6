"""An independent reference for `nncompress eval --task detection`: numpy decoding of a YOLOv8-style
raw head, class-wise NMS, and COCO mAP written after pycocotools' evaluateImg/accumulate (one area
range, no crowds, every detection kept). Used by test_detection_eval.py on the same raw outputs."""
import numpy as np


def anchors(height, width, strides):
    """Anchor centers [A, 2] (x, y) in pixels and their strides [A]."""
    centers, stride_of = [], []
    for s in strides:
        rows, cols = -(-height // s), -(-width // s)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centers.append(np.stack([(xs.ravel() + 0.5) * s, (ys.ravel() + 0.5) * s], 1))
        stride_of.append(np.full(rows * cols, s, dtype=np.float64))
    return np.concatenate(centers), np.concatenate(stride_of)


def decode(raw, height, width, strides=(8, 16, 32), reg_max=16):
    """raw [B, 4R + C, A] -> boxes [B, A, 4] (x1 y1 x2 y2), scores [B, A, C]."""
    raw = raw.astype(np.float64)
    b, _, a = raw.shape
    centers, stride = anchors(height, width, strides)
    assert centers.shape[0] == a
    logits = raw[:, : 4 * reg_max].reshape(b, 4, reg_max, a)
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    p = e / e.sum(axis=2, keepdims=True)
    dist = (p * np.arange(reg_max).reshape(1, 1, reg_max, 1)).sum(axis=2).transpose(0, 2, 1)  # [B, A, 4]
    s = stride.reshape(1, a, 1)
    boxes = np.concatenate([centers - dist[..., :2] * s, centers + dist[..., 2:] * s], axis=2)
    scores = 1 / (1 + np.exp(-raw[:, 4 * reg_max:].transpose(0, 2, 1)))
    return boxes, scores


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(boxes):
    """IoU of every pair of boxes [n, 4], as iou() computes it."""
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    w = np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None])
    h = np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    area = (x2 - x1) * (y2 - y1)
    union = area[:, None] + area[None] - inter
    return np.where((inter > 0) & (union > 0), inter / np.where(union > 0, union, 1), 0.0)


def detect(boxes, scores, conf=0.001, iou_threshold=0.7, max_det=300):
    """Per image: best class per anchor, score > conf, NMS within each class, the best max_det.
    Returns a list of (image, class, score, box) in image order, each image best first."""
    out = []
    for i in range(boxes.shape[0]):
        cls = scores[i].argmax(1)
        best = scores[i].max(1)
        order = [k for k in np.argsort(-best, kind="stable") if best[k] > conf]
        overlaps = iou_matrix(boxes[i, order])
        kept = []  # positions in `order`
        for p, k in enumerate(order):
            if any(cls[order[q]] == cls[k] and overlaps[q, p] > iou_threshold for q in kept):
                continue
            kept.append(p)
            if len(kept) == max_det:
                break
        out.extend((i, int(cls[order[p]]), float(best[order[p]]), boxes[i, order[p]]) for p in kept)
    return out


def coco_map(detections, truths):
    """(mAP@0.5, mAP@0.5:0.95, {class: AP@0.5}) of detections against truths [N, K, 5]."""
    iou_thresholds = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
    recall_thresholds = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
    classes = sorted({int(c) for c in truths[..., 0].ravel() if c >= 0})
    ap = np.zeros((len(iou_thresholds), len(classes)))
    for ci, c in enumerate(classes):
        gts = {i: [row[1:] for row in truths[i] if int(row[0]) == c and row[0] >= 0] for i in range(truths.shape[0])}
        n_gt = sum(len(g) for g in gts.values())
        dets = [d for d in detections if d[1] == c]
        order = np.argsort(-np.array([d[2] for d in dets]), kind="mergesort")
        dets = [dets[k] for k in order]
        for ti, t in enumerate(iou_thresholds):
            taken = {i: [False] * len(g) for i, g in gts.items()}
            tps = []
            for image, _, _, box in dets:
                best, m = min(t, 1 - 1e-10), -1
                for g, gt in enumerate(gts[image]):
                    if taken[image][g]:
                        continue
                    v = iou(box, gt)
                    if v < best:
                        continue
                    best, m = v, g
                if m >= 0:
                    taken[image][m] = True
                tps.append(m >= 0)
            tp = np.cumsum(np.array(tps, dtype=np.float64))
            fp = np.cumsum(1 - np.array(tps, dtype=np.float64))
            rc = tp / n_gt
            pr = (tp / np.maximum(tp + fp, np.spacing(1))).tolist()
            for k in range(len(pr) - 1, 0, -1):
                pr[k - 1] = max(pr[k - 1], pr[k])
            inds = np.searchsorted(rc, recall_thresholds, side="left")
            q = [pr[k] if k < len(pr) else 0.0 for k in inds]
            ap[ti, ci] = np.mean(q)
    if not classes:
        return 0.0, 0.0, {}
    return float(ap[0].mean()), float(ap.mean()), {c: float(ap[0, i]) for i, c in enumerate(classes)}
