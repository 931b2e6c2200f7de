"""Does the localiser's top-box score add to the ensemble's verdict? Decided on val only:
`python -m core.evaluation.fusion` (writes reports/localizer_fusion.json).

Repeated stratified 5-fold cross-validation on val of two logistic models of the fracture label,
on the ensemble's logit alone and on the ensemble's logit plus the logit of the image's top box
score; the out-of-fold ROC-AUC of each, and at the ensemble's own high-sensitivity rule (the
out-of-fold threshold keeping val sensitivity ≥ 0.95) the specificity. Fusion ships only when it
wins on val by more than the folds' spread; test is not read.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from core.evaluation.localization import top_scores
from core.evaluation.metrics import roc_auc
from core.settings import predictions_dir, reports_dir

log = logging.getLogger(__name__)


def out_of_fold(x: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold log-odds of a logistic model of y on the columns of x."""
    out = np.zeros(len(y))
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        model = LogisticRegression(C=1.0).fit(x[fit], y[fit])
        out[held] = model.decision_function(x[held])
    return out


def spec_at_sensitivity(y: np.ndarray, s: np.ndarray, target: float = 0.95) -> float:
    """Specificity at the highest threshold that keeps sensitivity ≥ target."""
    pos = np.sort(s[y == 1])
    t = pos[int(np.floor((1 - target) * len(pos)))]
    return float(np.mean(s[y == 0] < t))


def compare(y: np.ndarray, ens_logit: np.ndarray, box_score: np.ndarray, repeats: int = 20) -> dict[str, Any]:
    """Out-of-fold ROC-AUC and specificity at 95 % sensitivity, ensemble alone vs with the box score."""
    feats = {"ensemble": ens_logit[:, None],
             "ensemble + top box": np.column_stack([ens_logit, logit(np.clip(box_score, 1e-4, 1 - 1e-4))])}
    runs = {k: [(roc_auc(y, s), spec_at_sensitivity(y, s)) for s in (out_of_fold(x, y, r) for r in range(repeats))]
            for k, x in feats.items()}
    gain = np.array([b[0] - a[0] for a, b in zip(runs["ensemble"], runs["ensemble + top box"])])
    return {k: {"roc_auc": float(np.mean([r[0] for r in v])), "specificity_at_95_sensitivity": float(np.mean([r[1] for r in v]))}
            for k, v in runs.items()} | {"auc_gain_mean": float(gain.mean()), "auc_gain_sd": float(gain.std()),
                                         "repeats": repeats, "folds": 5,
                                         "fuse": bool(gain.mean() > max(2 * gain.std(), 0.005))}


def main(argv: list[str] | None = None) -> int:
    """Compare on val and write the decision."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    reports = args.reports or reports_dir()
    ens = pd.read_csv((predictions_dir() if args.reports is None else reports / "predictions") / "ensemble_val.csv")
    boxes = json.loads((reports / "localizer" / "val_boxes.json").read_text())
    result = {"split": "val", "n_images": len(ens)} | compare(ens["fractured"].to_numpy(), ens["logit"].to_numpy(),
                                                             top_scores(ens["image"].tolist(), boxes))
    (reports / "localizer_fusion.json").write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s", json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
