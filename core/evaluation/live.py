"""Measure shipped models on labelled images, through the same path the app uses.

python -m core.evaluate --weights weights --images DIR --labels CSV --out FILE.json [--split test]

The labels CSV needs `image` and `fractured`; `split`, region flags and `hardware` are used when
present. Writes FILE.json (per model and the ensemble) and FILE.csv (per-image predictions).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.data.fracatlas import read_labels
from core.data.loading import load_image
from core.evaluation.summary import summarize
from core.serving.predictor import TOP_BOX, Predictor

log = logging.getLogger(__name__)


def member_logits(predictor: Predictor, images: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Uncalibrated log-odds of every member on every image (and the top box score when the ensemble fuses it),
    with a progress bar."""
    logits = {m.name: np.zeros(len(names)) for m in predictor.members}
    top = np.zeros(len(names))
    for i, name in enumerate(tqdm(names, desc="images", unit="img", mininterval=5)):
        gray = predictor.turned_upright([load_image(images / name).pixels])[0]
        for m in predictor.members:
            logits[m.name][i] = m.logit(gray)
        if predictor.fuses_boxes:
            top[i] = predictor.localizer.find(gray)[0]
    return logits | ({TOP_BOX: top} if predictor.fuses_boxes else {})


def evaluate(predictor: Predictor, images: Path, labels: pd.DataFrame, n_boot: int = 1000) -> tuple[dict, pd.DataFrame]:
    """Summaries per member and for the ensemble, and the per-image table."""
    names, y = labels["image"].tolist(), labels["fractured"].to_numpy()
    logits = member_logits(predictor, images, names)
    report, table = {"n": len(names), "models": {}}, pd.DataFrame({"image": names, "fractured": y})
    probs = {}
    for m in predictor.members:
        probs[m.name] = m.calibration(logits[m.name])
        report["models"][m.name] = summarize(y, logits[m.name], m.calibration, m.thresholds, labels, n_boot)
        table[m.name] = np.round(probs[m.name], 5)
    if predictor.ensemble is not None:
        ens = predictor.ensemble
        raw = predictor.headline_logits(probs, logits.get(TOP_BOX))
        report["models"]["ensemble"] = summarize(y, raw, ens.calibration, ens.thresholds, labels, n_boot)
        table["ensemble"] = np.round(ens.calibration(raw), 5)
    return report, table


def main(argv: list[str] | None = None) -> int:
    """Evaluate and write the JSON report and the per-image CSV."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=Path("weights"))
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--split", help="keep only this value of the labels' split column")
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    predictor = Predictor(args.weights)
    if not predictor.members:
        raise SystemExit(f"no models in {args.weights}")
    labels = read_labels(args.labels, args.split)
    report, table = evaluate(predictor, args.images, labels, args.bootstrap)
    report |= {"split": args.split, "labels": args.labels.name, "weights": str(args.weights)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    for name, m in report["models"].items():
        log.info("%-20s ROC-AUC %.4f [%.4f, %.4f]  AP %.4f", name, m["roc_auc"], *m["roc_auc_ci"],
                 m["average_precision"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
