"""Pointing game: does a heat map's maximum fall inside a radiologist's fracture box?

python -m core.evaluation.pointing [--weights weights] [--split test] [--out reports/pointing.json]

For every fractured image of the split that has boxes, each model and each CAM method: a hit when
the peak lies inside a box grown by `tolerance` × the image's longer side on every edge. The
baseline is the hit rate of a uniformly random point: the grown boxes' share of the image area.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.data.fracatlas import read_boxes, read_labels
from core.data.loading import load_image
from core.models.explain import CAM_METHODS, peak
from core.serving.predictor import Predictor
from core.settings import data_dir, reports_dir, weights_dir

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]


def grown_mask(shape: tuple[int, int], boxes: list[Box], tolerance: float) -> np.ndarray:
    """Boolean (H, W) mask of the boxes, each grown by tolerance × the longer side."""
    h, w = shape
    pad = tolerance * max(h, w)
    mask = np.zeros((h, w), bool)
    for x, y, bw, bh in boxes:
        x0, y0 = max(0, int(np.floor(x - pad))), max(0, int(np.floor(y - pad)))
        x1, y1 = min(w, int(np.ceil(x + bw + pad))), min(h, int(np.ceil(y + bh + pad)))
        mask[y0:y1, x0:x1] = True
    return mask


def hit(heat: np.ndarray, boxes: list[Box], tolerance: float = 0.02) -> bool:
    """Whether the heat map's peak lies in a (grown) fracture box."""
    x, y = peak(heat)
    return bool(grown_mask(heat.shape, boxes, tolerance)[y, x])


def pointing_game(predictor: Predictor, images: Path, cases: dict[str, list[Box]],
                  methods: list[str], tolerance: float = 0.02) -> dict:
    """Hit rates per model and method, with the random-point baseline."""
    hits = {m.name: {k: [] for k in methods} for m in predictor.members}
    baseline = []
    for name, boxes in tqdm(sorted(cases.items()), desc="pointing game", unit="img", mininterval=5):
        gray = load_image(images / name).pixels
        baseline.append(grown_mask(gray.shape, boxes, tolerance).mean())
        for m in predictor.members:
            for method in methods:
                hits[m.name][method].append(hit(predictor.heatmap(gray, m.name, method), boxes, tolerance))
    return {"n_images": len(cases), "tolerance": tolerance, "baseline_random_point": float(np.mean(baseline)),
            "hit_rate": {m: {k: float(np.mean(v)) for k, v in per.items()} for m, per in hits.items()}}


def main(argv: list[str] | None = None) -> int:
    """Run the pointing game on a split of the data and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--methods", nargs="*", default=list(CAM_METHODS))
    p.add_argument("--out", type=Path, default=None, help="default reports/pointing.json")
    p.add_argument("--limit", type=int, help="only the first N fractured images with boxes (quick checks)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.data = args.data or data_dir()
    labels = read_labels(args.data / "labels.csv", args.split)
    boxes = read_boxes(args.data / "fracture_boxes_coco.json")
    cases = {n: boxes[n] for n in labels.loc[labels.fractured == 1, "image"] if n in boxes}
    if args.limit:
        cases = dict(sorted(cases.items())[:args.limit])
    result = pointing_game(Predictor(args.weights or weights_dir()), args.data / "images", cases,
                           args.methods, args.tolerance)
    result["split"] = args.split
    out = args.out or reports_dir() / "pointing.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for model, rates in result["hit_rate"].items():
        log.info("%-22s %s (random point %.3f)", model, "  ".join(f"{k} {v:.3f}" for k, v in rates.items()),
                 result["baseline_random_point"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
