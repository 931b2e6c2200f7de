"""Val-only trial (issue 14): does denoising or smoothing a shifted image before the models pay?

    python scripts/restore_trial.py --variants none,nlm1,gauss1 --cases noise:10,jpeg:20

Scores the shipped ensemble on every `val` image unshifted, then under each case (shift:level) with
each variant applied after the shift (inverted-looking images turned back first, as the app does),
and prints ROC-AUC and sensitivity/specificity at the shipped card's thresholds. Writes
reports/restore_trial.json. The test split is never read. Nothing here ships: the outcome is recorded
in RESULTS ("Input steps tried").
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

import cv2
import numpy as np

from core.data.fracatlas import load_gray_images, read_labels
from core.data.polarity import upright
from core.data.shifts import apply_shift, get_shift
from core.evaluation.robustness import ENSEMBLE, batched_logits, measure, probabilities, thresholds
from core.serving.predictor import Predictor
from core.settings import data_dir, reports_dir, weights_dir

log = logging.getLogger(__name__)
LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær's fast estimate of additive Gaussian noise (grey levels)."""
    h, w = gray.shape
    r = cv2.filter2D(gray.astype(np.float32), -1, LAPLACE)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(r).sum() / (6 * (w - 2) * (h - 2)))


def nlm(gray: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Non-local means with its strength set from the estimated noise."""
    return cv2.fastNlMeansDenoising(gray, None, h=max(1.0, factor * noise_sigma(gray)), templateWindowSize=7,
                                    searchWindowSize=21)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda g: g, "nlm1": nlm, "nlm1.5": lambda g: nlm(g, 1.5),
    "gauss1": lambda g: cv2.GaussianBlur(g, (0, 0), 1.0), "gauss0.7": lambda g: cv2.GaussianBlur(g, (0, 0), 0.7),
    "median3": lambda g: cv2.medianBlur(g, 3)}


def row(y: np.ndarray, p: np.ndarray, cuts: dict[str, float]) -> dict[str, float]:
    """ROC-AUC and the rates at both operating points."""
    m = measure(y, p, cuts, 0, 0)
    return {"auc": round(m["roc_auc"], 4), **{f"{k[:3]}@{op[:3]}": round(m["operating_points"][op][k], 3)
                                              for op in ("high_sensitivity", "balanced")
                                              for k in ("sensitivity", "specificity")}}


def main(argv: list[str] | None = None) -> int:
    """Run the trial and write reports/restore_trial.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="none,nlm1")
    p.add_argument("--cases", default="noise:10,jpeg:20")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    labels = read_labels(data_dir() / "labels.csv", "val")
    y, grays = labels["fractured"].to_numpy(), load_gray_images(data_dir() / "images", list(labels["image"]))
    pred = Predictor(weights_dir())
    cuts = thresholds(pred)[ENSEMBLE]

    def score(images: list[np.ndarray]) -> np.ndarray:
        return probabilities(pred, batched_logits(pred, images, 16))[ENSEMBLE]
    out = {"plain": row(y, score([upright(g)[0] for g in grays]), cuts)}
    for case in args.cases.split(","):
        name, level = case.split(":")
        lv = next(x for x in get_shift(name).levels if str(x) == level)
        shifted = [upright(apply_shift(g, name, lv, 0, i))[0] for i, g in enumerate(grays)]
        for v in variants:
            out[f"{name}{level}:{v}"] = row(y, score([VARIANTS[v](g) for g in shifted]), cuts)
            log.info("%s %s", f"{name}{level}:{v}", out[f"{name}{level}:{v}"])
    path = reports_dir() / "restore_trial.json"
    kept = {k: v for k, v in (json.loads(path.read_text()) if path.is_file() else {}).items() if k == "conclusion"}
    command = "python scripts/restore_trial.py " + " ".join(sys.argv[1:] if argv is None else argv)
    path.write_text(json.dumps({"command": command, "split": "val", "results": out, **kept}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
