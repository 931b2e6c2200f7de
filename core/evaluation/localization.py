"""How well the localiser's boxes sit on the radiologists' boxes: AP50, FROC, top-box pointing, and
the box-score thresholds of the two operating points (chosen on val, reported on test).

Box predictions are kept as {image name: [(x, y, w, h, score), ...]} in pixels of the image as
loaded (what `reports/localizer/SPLIT_boxes.json` holds).
"""
from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.evaluation.detection import Scored, ap50, froc, froc_curve, pointing_hits
from core.evaluation.metrics import roc_auc
from core.models.cards import BALANCED, HIGH_SENSITIVITY

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]
Predictions = Mapping[str, Sequence[Sequence[float]]]
# Mean false boxes per image allowed on val at each operating point (dashed and solid boxes).
FALSE_RATE = {HIGH_SENSITIVITY: 1.0, BALANCED: 0.25}
POINTING_TOLERANCE = 0.02  # as core.evaluation.pointing


def scored(preds: Predictions, min_score: float = 0.0) -> dict[str, list[Scored]]:
    """Plain rows → `Scored` boxes, keeping those at or above min_score."""
    return {n: [Scored(tuple(r[:4]), float(r[4])) for r in rows if r[4] >= min_score] for n, rows in preds.items()}


def threshold_at_rate(truth: Mapping[str, Sequence[Box]], preds: Predictions, rate: float) -> float:
    """The lowest box score whose boxes make at most `rate` false boxes per image (IoU < 0.5)."""
    rates, _, scores = froc_curve(truth, scored(preds))
    ok = rates <= rate
    return float(scores[ok].min()) if ok.any() else 1.0


def choose_thresholds(truth: Mapping[str, Sequence[Box]], preds: Predictions) -> dict[str, float]:
    """Box-score thresholds of both operating points, from val."""
    return {op: threshold_at_rate(truth, preds, r) for op, r in FALSE_RATE.items()}


def top_scores(names: Sequence[str], preds: Predictions) -> np.ndarray:
    """Each image's highest box score (0 when it has none): evidence for the image-level verdict."""
    return np.array([max((r[4] for r in preds.get(n, [])), default=0.0) for n in names])


def measure(truth: Mapping[str, Sequence[Box]], preds: Predictions, shapes: Mapping[str, tuple[int, int]],
            labels: Mapping[str, int], thresholds: Mapping[str, float]) -> dict[str, Any]:
    """AP50, FROC at 0.5/1/2 false boxes per image, top-box pointing and per-threshold counts on one split."""
    s = scored(preds)
    hits = pointing_hits(truth, s, POINTING_TOLERANCE, shapes)
    names = list(truth)
    y = np.array([labels[n] for n in names])
    rates, found, scores = froc_curve(truth, s)
    at = {}
    for op, t in thresholds.items():
        k = int(np.sum(scores >= t)) - 1  # events are in falling score order
        kept = scored(preds, t)
        at[op] = {"threshold": t, "box_sensitivity": float(found[k]) if k >= 0 else 0.0,
                  "false_boxes_per_image": float(rates[k]) if k >= 0 else 0.0,
                  "boxes_per_image": float(np.mean([len(v) for v in kept.values()])),
                  "normal_images_with_a_box": float(np.mean([bool(kept[n]) for n in names if not labels[n]]))}
    keep = np.unique(np.linspace(0, len(rates) - 1, min(len(rates), 200)).astype(int)) if len(rates) else []
    return {"n_images": len(names), "n_fractured_with_boxes": len(hits), "n_boxes": sum(len(b) for b in truth.values()),
            "ap50": ap50(truth, s), "froc": {str(k): v for k, v in froc(truth, s).items()},
            "pointing": float(np.mean(list(hits.values()))) if hits else float("nan"),
            "pointing_tolerance": POINTING_TOLERANCE,
            "top_score_auc": roc_auc(y, top_scores(names, preds)), "operating_points": at,
            "froc_curve": {"false_per_image": [round(float(rates[i]), 4) for i in keep],
                           "sensitivity": [round(float(found[i]), 4) for i in keep]}}


REGIONS = ("hand", "leg", "hip", "shoulder", "mixed")


def subgroups(labels: Any, truth: Mapping[str, Sequence[Box]], preds: Predictions,
              shapes: Mapping[str, tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """AP50 and pointing per body region and on the hardware-free images (labels: a DataFrame of the split)."""
    groups = {r: labels[labels[r] == 1]["image"] for r in REGIONS if r in labels}
    if "hardware" in labels:
        groups["hardware-free"] = labels[labels["hardware"] == 0]["image"]
    out = {}
    for g, names in groups.items():
        t = {n: truth[n] for n in names}
        if not any(t.values()):
            continue
        s = scored({n: preds.get(n, []) for n in names})
        hits = pointing_hits(t, s, POINTING_TOLERANCE, shapes)
        out[g] = {"images": len(t), "boxes": sum(len(b) for b in t.values()), "ap50": ap50(t, s),
                  "pointing": float(np.mean(list(hits.values())))}
    return out


def remeasure(box_dir: Path, data: Path) -> dict[str, Any]:
    """Thresholds (val) and every figure (val, test) again from the stored box files; the card's new metrics."""
    from core.data.fracatlas import read_boxes, read_labels

    all_boxes = read_boxes(data / "fracture_boxes_coco.json")
    preds = {s: json.loads((box_dir / f"{s}_boxes.json").read_text()) for s in ("val", "test")}
    frames = {s: read_labels(data / "labels.csv", s) for s in preds}
    frames = {s: df[df["image"].isin(preds[s])] for s, df in frames.items()}
    truth = {s: {n: all_boxes.get(n, []) for n in df["image"]} for s, df in frames.items()}
    thresholds = choose_thresholds(truth["val"], preds["val"])
    metrics = {}
    for s, df in frames.items():
        shapes = {n: (int(h), int(w)) for n, h, w in zip(df["image"], df["h"], df["w"])}
        m = measure(truth[s], preds[s], shapes, dict(zip(df["image"], df["fractured"])), thresholds)
        metrics[s] = m | {"subgroups": subgroups(df, truth[s], preds[s], shapes)}
    return {"thresholds": thresholds, "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    """`python -m core.evaluation.localization`: re-measure the shipped localiser from its stored boxes."""
    from core.models.localizer import LOCALIZER_CARD, read_localizer_card, write_localizer_card
    from core.settings import data_dir, reports_dir, weights_dir

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--reports", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    weights, reports = args.weights or weights_dir(), args.reports or reports_dir()
    card = read_localizer_card(weights / LOCALIZER_CARD)
    new = remeasure(reports / "localizer", args.data or data_dir())
    if new["thresholds"] != card.thresholds:
        log.warning("thresholds moved on re-measuring: %s → %s", card.thresholds, new["thresholds"])
    card = card.with_(**new)
    write_localizer_card(card, weights / LOCALIZER_CARD)
    write_localizer_card(card, reports / LOCALIZER_CARD)
    for s, m in card.metrics.items():
        log.info("%s: AP50 %.3f  FROC %s  pointing %.3f", s, m["ap50"], m["froc"], m["pointing"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
