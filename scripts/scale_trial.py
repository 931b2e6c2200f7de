"""Box reading at several input sizes, tried on val: `python scripts/scale_trial.py [--sizes 320 384 448 512]`.

The localiser is fully convolutional, so it can read an image letterboxed to another size than it was
trained at (a finer grid for small fractures at a larger size). For each size the shipped localiser's
heads are computed for every val image (mirror-averaged as the card says) and its boxes read as shipped;
then the boxes of several sizes are fused by weighted box fusion (boxes of different sizes that overlap
by IoU ≥ `--fuse-iou` become one box, coordinates averaged by score, score = sum / number of sizes).
Val only: thresholds chosen on val, AP50, FROC and pointing measured on val. Writes
reports/localizer_scale_trial.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.data.boxes import fuse_boxes  # noqa: E402
from core.data.fracatlas import load_gray_images, read_boxes, read_labels  # noqa: E402
from core.evaluation.localization import choose_thresholds, measure  # noqa: E402
from core.models.localizer import LOCALIZER_CARD, boxes_from_heads, load_localizer, run_heads  # noqa: E402
from core.settings import data_dir, reports_dir, weights_dir  # noqa: E402

log = logging.getLogger("scale_trial")


@torch.no_grad()
def boxes_at(size: int, names: list[str], grays: list[np.ndarray], batch: int = 16) -> dict[str, list[list[float]]]:
    """Every val image's boxes (x, y, w, h, score) with the localiser read at input size `size`."""
    net, card = load_localizer(weights_dir() / LOCALIZER_CARD)
    card = card.with_(preprocess=replace(card.preprocess, size=size))
    out: dict[str, list[list[float]]] = {}
    for start in range(0, len(grays), batch):
        chunk = grays[start:start + batch]
        heads, lbs = run_heads(net, chunk, card)
        for k, (g, lb) in enumerate(zip(chunk, lbs)):
            found = boxes_from_heads(tuple(h[k:k + 1] for h in heads), card.stride, card.top_k, lb, g.shape[:2],
                                     vote=card.vote)
            out[names[start + k]] = [[*b, s] for b, s in found]
    log.info("size %d: boxes for %d val images", size, len(out))
    return out


def fuse(per_size: list[list[list[float]]], thr: float) -> list[list[float]]:
    """Weighted box fusion of one image's box rows from several sizes (`core.data.boxes.fuse_boxes`)."""
    readings = [[(tuple(r[:4]), r[4]) for r in rows] for rows in per_size]
    return [[*b, s] for b, s in fuse_boxes(readings, thr)]


def figures(preds: dict, names: list[str], grays: list[np.ndarray]) -> dict:
    """AP50, FROC, pointing and top-score AUC on val (thresholds chosen on val)."""
    labels = read_labels(data_dir() / "labels.csv", "val")
    boxes = read_boxes(data_dir() / "fracture_boxes_coco.json")
    truth = {n: boxes.get(n, []) for n in names}
    m = measure(truth, preds, {n: g.shape[:2] for n, g in zip(names, grays)},
                dict(zip(labels["image"], labels["fractured"])), choose_thresholds(truth, preds))
    return {"ap50": m["ap50"], "froc": m["froc"], "pointing": m["pointing"], "top_score_auc": m["top_score_auc"]}


def main(argv: list[str] | None = None) -> int:
    """Boxes at each size, then every pair and the whole set fused; write the comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[320, 384, 448, 512])
    p.add_argument("--fuse-iou", type=float, default=0.55)
    p.add_argument("--out", type=Path, default=reports_dir() / "localizer_scale_trial.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    names = read_labels(data_dir() / "labels.csv", "val")["image"].tolist()
    grays = load_gray_images(data_dir() / "images", names)
    by_size = {s: boxes_at(s, names, grays) for s in args.sizes}
    rows = [{"sizes": [s], **figures(b, names, grays)} for s, b in by_size.items()]
    sets = [list(c) for k in range(2, len(args.sizes) + 1) for c in combinations(args.sizes, k)]
    for sizes in sets:
        preds = {n: fuse([by_size[s][n] for s in sizes], args.fuse_iou) for n in names}
        rows.append({"sizes": sizes, **figures(preds, names, grays)})
    for r in rows:
        log.info("sizes %s: val AP50 %.4f FROC %s pointing %.3f", r["sizes"], r["ap50"], r["froc"], r["pointing"])
    args.out.write_text(json.dumps({"command": "python scripts/scale_trial.py " + " ".join(argv or sys.argv[1:]),
                                    "split": "val", "n_images": len(names), "fuse_iou": args.fuse_iou,
                                    "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
