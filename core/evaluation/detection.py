"""Box metrics for a fracture localiser against the radiologists' boxes (issue 15):
AP at IoU 0.5 (pycocotools' COCOeval, area 'all', up to 100 boxes per image), FROC (sensitivity
per ground-truth box at 0.5, 1 and 2 false boxes per image) and the pointing hit rate of the top
box's centre with `core.evaluation.pointing`'s protocol (a box grown by a tolerance).

Boxes are (x, y, w, h) in pixels of the image as loaded, top-left origin; predictions carry a
score. Images without ground truth (normal films) count for false boxes and AP, not for hits.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Scored:
    """One predicted box and its score."""

    box: Box
    score: float


def _check(truth: Mapping[str, Sequence[Box]], preds: Mapping[str, Sequence[Scored]]) -> list[str]:
    """The evaluated image names (truth's keys, in order); ValueError names a stray or bad entry."""
    stray = sorted(set(preds) - set(truth))
    if stray:
        raise ValueError(f"predictions for images without a truth entry: {stray[:5]}")
    for name, boxes in list(truth.items()) + [(n, [p.box for p in ps]) for n, ps in preds.items()]:
        for b in boxes:
            if len(b) != 4 or b[2] <= 0 or b[3] <= 0:
                raise ValueError(f"box {b} of {name!r} is not (x, y, w, h) with positive size")
    return list(truth)


def ap50(truth: Mapping[str, Sequence[Box]], preds: Mapping[str, Sequence[Scored]]) -> float:
    """Average precision at IoU 0.5 by pycocotools (101-point interpolation, all areas)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = _check(truth, preds)
    if not any(truth.values()):
        raise ValueError("AP needs at least one ground-truth box")
    ids = {n: i + 1 for i, n in enumerate(names)}
    gt = COCO()
    anns = [{"id": k + 1, "image_id": ids[n], "category_id": 1, "bbox": list(b), "area": b[2] * b[3], "iscrowd": 0}
            for k, (n, b) in enumerate((n, b) for n in names for b in truth[n])]
    gt.dataset = {"images": [{"id": i} for i in ids.values()], "categories": [{"id": 1}], "annotations": anns}
    dets = [{"image_id": ids[n], "category_id": 1, "bbox": list(p.box), "score": float(p.score)}
            for n, ps in preds.items() for p in ps]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt.createIndex()
        if not dets:
            return 0.0
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, 0, 0, -1]  # IoU 0.5, all recall points, class 1, area all, 100 dets
    return float(np.mean(np.where(precision < 0, 0.0, precision)))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def froc_curve(truth: Mapping[str, Sequence[Box]], preds: Mapping[str, Sequence[Scored]],
               min_iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean false boxes per image, share of ground-truth boxes found, and the score, at each prediction in
    falling score order (greedy matching by score within each image)."""
    names = _check(truth, preds)
    events = []  # (score, found-a-new-box, false-box) over every prediction
    for n in names:
        taken: set[int] = set()
        for p in sorted(preds.get(n, []), key=lambda s: -s.score):
            overlaps = [(iou(p.box, g), i) for i, g in enumerate(truth[n]) if i not in taken]
            best = max(overlaps, default=(0.0, -1))
            if best[0] >= min_iou:
                taken.add(best[1])
            events.append((p.score, best[0] >= min_iou, best[0] < min_iou))
    events.sort(key=lambda e: -e[0])
    total = sum(len(b) for b in truth.values())
    if not total:
        raise ValueError("FROC needs at least one ground-truth box")
    ev = np.array(events, float).reshape(-1, 3)
    return np.cumsum(ev[:, 2]) / len(names), np.cumsum(ev[:, 1]) / total, ev[:, 0]


def froc(truth: Mapping[str, Sequence[Box]], preds: Mapping[str, Sequence[Scored]],
         rates: Sequence[float] = (0.5, 1.0, 2.0), min_iou: float = 0.5) -> dict[float, float]:
    """Share of ground-truth boxes found (IoU ≥ min_iou) at each mean number of false boxes per image."""
    false, found, _ = froc_curve(truth, preds, min_iou)
    return {r: float(found[false <= r].max()) if (false <= r).any() else 0.0 for r in rates}


def pointing_hits(truth: Mapping[str, Sequence[Box]], preds: Mapping[str, Sequence[Scored]],
                  tolerance: float, shapes: Mapping[str, tuple[int, int]]) -> dict[str, bool]:
    """Per image with truth boxes: does the top box's centre fall in a box grown by tolerance × the longer side?"""
    out = {}
    for n in _check(truth, preds):
        if not truth[n]:
            continue
        top = max(preds.get(n, []), key=lambda s: s.score, default=None)
        if top is None:
            out[n] = False
            continue
        cx, cy = top.box[0] + top.box[2] / 2, top.box[1] + top.box[3] / 2
        pad = tolerance * max(shapes[n])
        out[n] = any(x - pad <= cx <= x + w + pad and y - pad <= cy <= y + h + pad for x, y, w, h in truth[n])
    return out
