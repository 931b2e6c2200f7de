"""The ensemble: every model in weights/, combined by its card (weights/ensemble.json).

`python -m core.ensemble.fit [--members a b ...] [--weighting mean|fit] [--box-fusion auto|no|yes]` fits the
ensemble's member weights, calibration and thresholds on `val` from the members' per-image prediction files,
reports `val` and `test`, and writes weights/ensemble.json plus its predictions. With `--box-fusion auto` (the
default) the shipped localiser's top box score joins the verdict when val says it pays (`core.ensemble.fusion`), and
the decision goes to reports/localizer_fusion.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.ensemble import fusion
from core.ensemble.combine import ENSEMBLE_CARD, EPS, combine, to_logit
from core.ensemble.uncertainty import fit_margin, flags, measure
from core.models.calibration import BoxFusion, nll
from core.models.cards import ModelCard, read_card, write_card
from core.models.localizer import LOCALIZER_CARD
from core.models.weights import find_cards
from core.settings import cards_dir, data_dir, predictions_dir, reports_dir, weights_dir
from core.training.calibrate import calibrate_and_measure, write_predictions

log = logging.getLogger(__name__)
FUSION_MODES = ("no", "auto", "yes")
UNFUSED_KEYS = ("n", "positives", "roc_auc", "roc_auc_ci", "average_precision", "operating_points", "ece", "brier")
COMBINATION = "weighted mean of members' calibrated probabilities"
FUSED = " as log-odds, plus weight · logit(the localiser's top box score)"


def fit_weights(y: np.ndarray, probs: np.ndarray, step: float = 0.1) -> np.ndarray:
    """Member weights on the simplex (grid of `step`) that minimise val log-loss."""
    k = len(probs)
    grid = [w for w in itertools.product(np.arange(0, 1 + EPS, step), repeat=k) if abs(sum(w) - 1) < EPS]
    return np.asarray(min(grid, key=lambda w: nll(y, to_logit(combine(probs, np.array(w))), 1.0)))


@dataclass(frozen=True)
class MemberScores:
    """A member's calibrated probabilities on val and test, read from its prediction files."""

    name: str
    val: pd.DataFrame
    test: pd.DataFrame


def read_member(name: str, pred_dir: Path | None = None) -> MemberScores:
    """Load NAME_val.csv and NAME_test.csv."""
    pred_dir = pred_dir or predictions_dir()
    frames = [pd.read_csv(pred_dir / f"{name}_{s}.csv").set_index("image") for s in ("val", "test")]
    return MemberScores(name, *frames)


def fit_ensemble(members: list[str], weighting: str = "mean", pred_dir: Path | None = None,
                 labels: Path | None = None, box_fusion: str = "no",
                 weights: Path | None = None) -> tuple[ModelCard, dict[str, pd.DataFrame]]:
    """Fit weights, (box fusion,) calibration, thresholds and the uncertainty rule on val; report val and test.

    box_fusion: "no"; "auto" adds the localiser in `weights` when val's decision says it pays; "yes" always.
    """
    if box_fusion not in FUSION_MODES:
        raise ValueError(f"box_fusion must be one of {FUSION_MODES}, got {box_fusion!r}")
    pred_dir, labels = pred_dir or predictions_dir(), labels or data_dir() / "labels.csv"
    scores = [read_member(m, pred_dir) for m in members]
    member_thresholds = [read_card(pred_dir.parent / "cards" / f"{m}.json").thresholds for m in members]
    idx = {s: getattr(scores[0], s).index for s in ("val", "test")}
    probs = {s: np.stack([getattr(m, s).loc[idx[s], "prob"].to_numpy() for m in scores]) for s in idx}
    y = {s: getattr(scores[0], s).loc[idx[s], "fractured"].to_numpy() for s in idx}
    w = fit_weights(y["val"], probs["val"]) if weighting == "fit" else np.ones(len(members)) / len(members)
    logits = {s: to_logit(combine(probs[s], w)) for s in idx}
    meta = pd.read_csv(labels).set_index("image")
    metas = {s: meta.loc[idx[s]].reset_index() for s in idx}
    box, fusion_extra = None, {}
    if box_fusion != "no":
        box, fusion_extra, logits = _fuse(box_fusion, y, logits, metas, idx, weights or weights_dir(),
                                          labels.parent / "images", pred_dir)
    fitted = calibrate_and_measure(y, logits, metas)
    calibration, thresholds = fitted.calibration, fitted.thresholds
    rule = uncertainty_rule(y, probs, {s: calibration(logits[s]) for s in idx}, thresholds, member_thresholds)
    card = ModelCard(name="ensemble", kind="ensemble", members=tuple(members),
                     member_weights=tuple(float(v) for v in w), uncertainty=rule, box_fusion=box,
                     **fitted.card_fields(),
                     extra={"weighting": weighting, "thresholds_chosen_on": "val",
                            "combination": COMBINATION + (FUSED if box else "") + ", then temperature + bias",
                            "pairwise_agreement": pairwise_agreement(members, probs["test"])} | fusion_extra)
    frames = {s: pd.DataFrame({"image": idx[s], "fractured": y[s], "logit": logits[s]}) for s in idx}
    return card, frames


def _fuse(mode: str, y: dict, logits: dict, metas: dict, idx: dict, weights: Path, images: Path,
          pred_dir: Path) -> tuple[BoxFusion | None, dict[str, Any], dict[str, np.ndarray]]:
    """The val decision on the localiser's top-box scores and, when fused, the fused log-odds and unfused figures."""
    tops, sha = fusion.localizer_scores(weights, images, {s: list(idx[s]) for s in idx}, pred_dir)
    decision = {"mode": mode} | fusion.compare(y["val"], logits["val"], tops["val"])
    if not (mode == "yes" or decision["fuse"]):
        log.info("box fusion does not pay on val (AUC gain %+.4f): the verdict stays the ensemble's",
                 decision["auc_gain_mean"])
        return None, {"box_fusion_decision": decision}, logits
    fused = BoxFusion(fusion.fit_weight(y["val"], logits["val"], tops["val"]), sha)
    unfused = calibrate_and_measure(y, logits, metas)
    log.info("box fusion: weight %.3f on logit(top box score)", fused.weight)
    before = {s: {k: m[k] for k in UNFUSED_KEYS if k in m} for s, m in unfused.metrics.items()}
    extra = {"box_fusion_decision": decision, "unfused": {
        "calibration": unfused.calibration.to_dict(), "thresholds": unfused.thresholds, "metrics": before}}
    return fused, extra, {s: fused(logits[s], tops[s]) for s in logits}


def disagreement(member_probs: np.ndarray, member_thresholds: list[float], verdict: np.ndarray) -> np.ndarray:
    """Per case: does any member's own verdict differ from the ensemble's?"""
    votes = np.asarray(member_probs) >= np.asarray(member_thresholds)[:, None]
    return (votes != np.asarray(verdict, bool)[None, :]).any(axis=0)


def uncertainty_rule(y: dict, member_probs: dict, p: dict, thresholds: dict[str, float],
                     member_thresholds: list[dict[str, float]], budget: float = 0.10) -> dict[str, Any]:
    """Per operating point: the val-fitted margin and the rule's effect on val and test."""
    out = {}
    for op, t in thresholds.items():
        mt = [m[op] for m in member_thresholds]
        margin = fit_margin(p["val"], t, budget)
        out[op] = {"margin_logit": margin, "budget": budget, "rule": "members disagree or |logit p - logit t| < margin"}
        for s in ("val", "test"):
            f = flags(p[s], t, margin, disagreement(member_probs[s], mt, p[s] >= t))
            out[op][s] = measure(y[s], p[s], t, f)
    return out


def pairwise_agreement(names: list[str], probs: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """How often each pair of members gives the same verdict at p ≥ threshold (test split)."""
    votes = probs >= threshold
    return {f"{a}|{b}": float(np.mean(votes[i] == votes[j]))
            for (i, a), (j, b) in itertools.combinations(enumerate(names), 2)}


def main(argv: list[str] | None = None) -> int:
    """Fit the ensemble from the shipped members' prediction files and write its card."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--members", nargs="*", help="default: every model in weights/")
    p.add_argument("--weighting", choices=["mean", "fit"], default="mean")
    p.add_argument("--weights-dir", type=Path, default=None)
    p.add_argument("--box-fusion", choices=FUSION_MODES, default="auto",
                   help="add the localiser's top box score: auto = when there is one and val's decision says it pays")
    args = p.parse_args(argv)
    args.weights_dir = args.weights_dir or weights_dir()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    members = args.members or [read_card(c).name for c in find_cards(args.weights_dir)]
    if not members:
        raise SystemExit("no models in weights/: train and ship some first")
    if args.box_fusion == "auto" and not (args.weights_dir / LOCALIZER_CARD).is_file():
        log.info("no fracture localiser in %s: the ensemble is fitted without its evidence", args.weights_dir)
        args.box_fusion = "no"
    card, frames = fit_ensemble(members, args.weighting, box_fusion=args.box_fusion, weights=args.weights_dir)
    write_card(card, args.weights_dir / ENSEMBLE_CARD)
    write_card(card, cards_dir() / ENSEMBLE_CARD)
    if "box_fusion_decision" in card.extra:
        decision = {"split": "val", "n_images": card.split("val")["n"],
                    "localizer_sha256": card.box_fusion.localizer_sha256 if card.box_fusion else None}
        (reports_dir() / "localizer_fusion.json").write_text(
            json.dumps(decision | card.extra["box_fusion_decision"], indent=2) + "\n")
    for s, f in frames.items():
        write_predictions(predictions_dir() / f"ensemble_{s}.csv", f["image"].tolist(), f["fractured"].to_numpy(),
                          f["logit"].to_numpy(), card.calibration)
    m = card.split("test")
    log.info("ensemble of %s: test AUC %.4f [%.4f, %.4f]", members, m["roc_auc"], *m["roc_auc_ci"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
