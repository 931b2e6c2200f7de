"""Does the localiser's top-box score add to the ensemble's verdict, and by how much? Decided on val only.

`python -m core.ensemble.fusion` scores val and test with the shipped localiser (each image's top box score,
the way the app finds it; reports/predictions/localizer_top_SPLIT.csv) and writes the val decision to
reports/localizer_fusion.json; `python -m core.ensemble.fit --box-fusion auto` fuses when it says so.

The decision: repeated stratified 5-fold cross-validation on val of two logistic models of the fracture
label, on the ensemble's log-odds alone and on those plus the logit of the top box score; the out-of-fold
ROC-AUC of each, and the specificity at the threshold keeping val sensitivity ≥ 0.95. Fusion pays when it
wins by more than max(2 SD of the folds' gain, 0.005); test is not read. A weight sweep (bootstrap means on val of
ROC-AUC and of the mean specificity over sensitivities 0.85–1, where both operating points sit) shows whether the
fitted weight also serves the high-sensitivity end.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from core.data.fracatlas import load_gray_images
from core.ensemble.combine import ENSEMBLE_CARD, combine, to_logit
from core.evaluation.metrics import roc_auc, stratified_resamples
from core.models.calibration import BoxFusion
from core.models.cards import read_card
from core.models.localizer import LOCALIZER_CARD, load_localizer, read_localizer_card, top_box_scores
from core.settings import data_dir, predictions_dir, reports_dir, weights_dir

log = logging.getLogger(__name__)
SPLITS = ("val", "test")


def box_logit(top: np.ndarray) -> np.ndarray:
    """logit of the top box score, clipped the way the shipped `BoxFusion` clips it."""
    return BoxFusion(1.0, "")(np.zeros(len(top)), top)


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
    feats = {"ensemble": ens_logit[:, None], "ensemble + top box": np.column_stack([ens_logit, box_logit(box_score)])}
    runs = {k: [(roc_auc(y, s), spec_at_sensitivity(y, s)) for s in (out_of_fold(x, y, r) for r in range(repeats))]
            for k, x in feats.items()}
    gain = np.array([b[0] - a[0] for a, b in zip(runs["ensemble"], runs["ensemble + top box"])])
    return {k: {"roc_auc": float(np.mean([r[0] for r in v])), "specificity_at_95_sensitivity": float(np.mean([r[1] for r in v]))}
            for k, v in runs.items()} | {"auc_gain_mean": float(gain.mean()), "auc_gain_sd": float(gain.std()),
                                         "repeats": repeats, "folds": 5,
                                         "fuse": bool(gain.mean() > max(2 * gain.std(), 0.005)),
                                         "weight_sweep": weight_sweep(y, ens_logit, box_score)}


def high_sensitivity_specificity(y: np.ndarray, s: np.ndarray, lowest: float = 0.85) -> float:
    """Mean specificity over sensitivity targets from `lowest` to 1 (a partial AUC where both operating points sit)."""
    return float(np.mean([spec_at_sensitivity(y, s, t) for t in np.linspace(lowest, 1.0, 16)]))


def weight_sweep(y: np.ndarray, ens_logit: np.ndarray, top: np.ndarray, resamples: int = 300, seed: int = 0,
                 grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)) -> list[dict[str, float]]:
    """Bootstrap means on val of ROC-AUC and high-sensitivity specificity for fixed box-score weights."""
    rows = list(stratified_resamples(y, resamples, seed))  # every resample keeps both classes
    out = []
    for w in grid:
        s = ens_logit + w * box_logit(top)
        m = np.mean([(roc_auc(y[r], s[r]), high_sensitivity_specificity(y[r], s[r]), spec_at_sensitivity(y[r], s[r]),
                      spec_at_sensitivity(y[r], s[r], 0.90)) for r in rows], axis=0)
        out.append({"weight": w, "roc_auc": float(m[0]), "mean_specificity_sensitivity_85_to_100": float(m[1]),
                    "specificity_at_95_sensitivity": float(m[2]), "specificity_at_90_sensitivity": float(m[3])})
    return out


def fit_weight(y: np.ndarray, ens_logit: np.ndarray, top: np.ndarray) -> float:
    """The box score's weight relative to the ensemble's log-odds, from one logistic model on all of val."""
    model = LogisticRegression(C=1.0).fit(np.column_stack([ens_logit, box_logit(top)]), y)
    a, b = model.coef_[0]
    if a <= 0:
        raise ValueError(f"the ensemble's log-odds get a non-positive weight ({a:.3g}) beside the box score")
    return float(b / a)


def localizer_scores(weights: Path, images: Path, names: dict[str, list[str]],
                     pred_dir: Path) -> tuple[dict[str, np.ndarray], str]:
    """Top box scores of each split and the localiser's sha256, kept in PRED_DIR/localizer_top_SPLIT.csv
    (reused while the localiser and the images are the same; the localiser is loaded once, when needed)."""
    sha = read_localizer_card(weights / LOCALIZER_CARD).weights.sha256
    scores, loaded = {}, None
    for s, n in names.items():
        path = pred_dir / f"localizer_top_{s}.csv"
        old = pd.read_csv(path) if path.is_file() else None
        if old is not None and old["image"].tolist() == n and set(old.get("localizer_sha256", [])) == {sha}:
            scores[s] = old["top_box_score"].to_numpy(float)
            continue
        loaded = loaded or load_localizer(weights / LOCALIZER_CARD)
        log.info("scoring %d %s images with the localiser", len(n), s)
        scores[s] = top_box_scores(loaded[0], load_gray_images(images, n), loaded[1])
        pd.DataFrame({"image": n, "top_box_score": scores[s], "localizer_sha256": sha}).to_csv(path, index=False)
    return scores, sha


def unfused_logits(members: tuple[str, ...], weights: tuple[float, ...], pred_dir: Path) -> dict[str, pd.DataFrame]:
    """Per split: image, label and the members' combined log-odds before any fusion (from their prediction files)."""
    out = {}
    for s in SPLITS:
        frames = [pd.read_csv(pred_dir / f"{m}_{s}.csv").set_index("image") for m in members]
        idx = frames[0].index
        probs = np.stack([f.loc[idx, "prob"].to_numpy() for f in frames])
        out[s] = pd.DataFrame({"image": idx, "fractured": frames[0].loc[idx, "fractured"].to_numpy(),
                               "logit": to_logit(combine(probs, np.array(weights)))})
    return out


def main(argv: list[str] | None = None) -> int:
    """Score val and test with the shipped localiser and write the val decision."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights-dir", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    weights = args.weights_dir or weights_dir()
    card = read_card(weights / ENSEMBLE_CARD)
    frames = unfused_logits(card.members, card.member_weights, predictions_dir())
    tops, sha = localizer_scores(weights, data_dir() / "images", {s: f["image"].tolist() for s, f in frames.items()},
                                 predictions_dir())
    v = frames["val"]
    result = {"split": "val", "n_images": len(v), "localizer_sha256": sha} | compare(
        v["fractured"].to_numpy(), v["logit"].to_numpy(), tops["val"])
    (reports_dir() / "localizer_fusion.json").write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s", json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
