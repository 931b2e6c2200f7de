"""Operating points: the two thresholds a clinician chooses between, fitted on val only.

High sensitivity: the largest threshold whose val sensitivity is ≥ 0.95. Balanced: Youden's J.
Read off one val sample, the high-sensitivity threshold is set by about the fifth-lowest score of
103 fractured images, so one image can move it a long way, and Youden's optimum is flat, so the
balanced pick jumps between distant scores. The default rule ("smoothed") takes both from 500
bootstrap resamples of val: the median of the high-sensitivity thresholds and the log-odds mean of
the balanced ones;
`python -m core.training.operating_points` measures, on val only, how much each rule's point moves
between bootstrap resamples of val (reports/operating_point_stability.json), which is how it was chosen.
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from core.evaluation.metrics import stratified_resamples
from core.models.cards import BALANCED, HIGH_SENSITIVITY, OPERATING_POINTS

log = logging.getLogger(__name__)
RULES = ("single", "bootstrap-median", "smoothed")


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, int), np.asarray(p, float)
    if y.min() == y.max():
        raise ValueError("choosing thresholds needs both classes in the labels")
    return y, p


def single_thresholds(y: np.ndarray, p: np.ndarray, min_sensitivity: float = 0.95) -> dict[str, float]:
    """The rule read off one sample: highest t with sensitivity ≥ target; t maximising Youden's J."""
    y, p = _check(y, p)
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
    thr, fpr, tpr = thr[1:], fpr[1:], tpr[1:]  # drop sklearn's +inf start
    high = thr[np.argmax(tpr >= min_sensitivity)]
    return {HIGH_SENSITIVITY: float(high), BALANCED: float(thr[int(np.argmax(tpr - fpr))])}


def bootstrap_thresholds(y: np.ndarray, p: np.ndarray, n: int = 500, seed: int = 0,
                         min_sensitivity: float = 0.95) -> dict[str, np.ndarray]:
    """The single-sample rule's thresholds on `n` stratified bootstrap resamples."""
    y, p = _check(y, p)
    rows = [single_thresholds(y[idx], p[idx], min_sensitivity) for idx in stratified_resamples(y, n, seed)]
    return {op: np.array([r[op] for r in rows]) for op in OPERATING_POINTS}


def choose_thresholds(y: np.ndarray, p: np.ndarray, min_sensitivity: float = 0.95,
                      rule: str = "smoothed", n: int = 500, seed: int = 0) -> dict[str, float]:
    """The operating points by `rule`: 'single' (one sample) or 'bootstrap-median' (stable)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "single":
        return single_thresholds(y, p, min_sensitivity)
    if rule == "smoothed":
        return smoothed_thresholds(y, p, min_sensitivity, n, seed)
    boots = bootstrap_thresholds(y, p, n, seed, min_sensitivity)
    return {op: float(np.median(v)) for op, v in boots.items()}


def smoothed_thresholds(y: np.ndarray, p: np.ndarray, min_sensitivity: float = 0.95, n: int = 500,
                        seed: int = 0) -> dict[str, float]:
    """Both points from bootstrap resamples of val: high sensitivity the median of the resamples'
    thresholds (it stays an observed score, so the ≥ 0.95 target keeps its meaning), balanced the
    mean of Youden's thresholds in log-odds (Youden's optimum is flat, so single picks jump)."""
    from scipy.special import expit, logit

    boots = bootstrap_thresholds(y, p, n, seed, min_sensitivity)
    balanced = expit(logit(np.clip(boots[BALANCED], 1e-6, 1 - 1e-6)).mean())
    return {HIGH_SENSITIVITY: float(np.median(boots[HIGH_SENSITIVITY])), BALANCED: float(balanced)}


def wilson(successes: int, total: int) -> tuple[float, float]:
    """Wilson score 95 % interval of a proportion."""
    from scipy.stats import binomtest

    if total == 0:
        return float("nan"), float("nan")
    ci = binomtest(successes, total).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def rates(y: np.ndarray, p: np.ndarray, t: float) -> dict[str, Any]:
    """Sensitivity and specificity at threshold t, each with its Wilson 95 % interval."""
    y, pred = np.asarray(y, int), np.asarray(p) >= t
    tp, pos = int((pred & (y == 1)).sum()), int((y == 1).sum())
    tn, neg = int((~pred & (y == 0)).sum()), int((y == 0).sum())
    return {"sensitivity": tp / pos, "sensitivity_ci": wilson(tp, pos),
            "specificity": tn / neg, "specificity_ci": wilson(tn, neg)}


def threshold_uncertainty(y_val: np.ndarray, p_val: np.ndarray, y_test: np.ndarray, p_test: np.ndarray,
                          thresholds: dict[str, float], n: int = 500, seed: int = 1) -> dict[str, Any]:
    """Per operating point: test rates with Wilson CIs, and how far the val rule's threshold (and the
    test rates it gives) moves across bootstrap resamples of val (5th–95th percentile)."""
    boots = bootstrap_thresholds(y_val, p_val, n, seed)
    out = {}
    for op in OPERATING_POINTS:
        spread = np.quantile(boots[op], [0.05, 0.5, 0.95])
        moved = [rates(y_test, p_test, t) for t in spread]
        out[op] = {"test": rates(y_test, p_test, thresholds[op]),
                   "val_resample_threshold_5_50_95": [float(v) for v in spread],
                   "test_sensitivity_if_threshold_moves": [m["sensitivity"] for m in moved],
                   "test_specificity_if_threshold_moves": [m["specificity"] for m in moved]}
    return out


def rule_stability(y: np.ndarray, p: np.ndarray, rule: str, outer: int = 100, seed: int = 7) -> dict[str, Any]:
    """How much a rule's thresholds move between bootstrap resamples of val: SD and 5–95 % range of
    the threshold, and of the val sensitivity/specificity it gives on the full val set."""
    y, p = _check(y, p)
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(outer):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            picks.append(choose_thresholds(y[idx], p[idx], rule=rule, n=100))
    out = {}
    for op in OPERATING_POINTS:
        t = np.array([q[op] for q in picks])
        sens = np.array([rates(y, p, v)["sensitivity"] for v in t])
        spec = np.array([rates(y, p, v)["specificity"] for v in t])
        out[op] = {"threshold_sd": float(t.std()), "sensitivity_5_95": np.quantile(sens, [0.05, 0.95]).tolist(),
                   "specificity_5_95": np.quantile(spec, [0.05, 0.95]).tolist(),
                   "specificity_sd": float(spec.std()), "sensitivity_sd": float(sens.std())}
    return out


def main(argv: list[str] | None = None) -> int:
    """Compare the rules' stability on a model's saved val predictions (val only; test is not read)."""
    import pandas as pd

    from core.settings import predictions_dir, reports_dir

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("names", nargs="*", default=["ensemble"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = {}
    for name in args.names:
        df = pd.read_csv(predictions_dir() / f"{name}_val.csv")
        result[name] = {rule: rule_stability(df.fractured.to_numpy(), df.prob.to_numpy(), rule) for rule in RULES}
    out = reports_dir() / "operating_point_stability.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s\nwrote %s", json.dumps(result, indent=1), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
