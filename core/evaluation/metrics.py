"""Binary classification metrics: scikit-learn and SciPy behind domain checks that name bad input."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np
from scipy.stats import bootstrap
from sklearn import metrics as skm


def _check(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, s = np.asarray(y).astype(int).ravel(), np.asarray(s, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"labels must be 0/1, got {sorted(set(np.unique(y)))}")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < len(y)


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN with one class."""
    y, s = _check(y, s)
    return float(skm.roc_auc_score(y, s)) if _both_classes(y) else float("nan")


def roc_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds (descending), starting at (0, 0)."""
    y, s = _check(y, s)
    return skm.roc_curve(y, s, drop_intermediate=False)


def precision_recall_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at each distinct threshold."""
    y, s = _check(y, s)
    precision, recall, _ = skm.precision_recall_curve(y, s)
    return precision, recall


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision: Σ (R_n − R_{n−1}) P_n."""
    y, s = _check(y, s)
    return float(skm.average_precision_score(y, s))


def at_threshold(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | int]:
    """Confusion matrix and the usual rates when p ≥ threshold means 'fractured'."""
    y, p = _check(y, p)
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1]).ravel())
    return {"threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "accuracy": _ratio(tp + tn, len(y)), "precision": _ratio(tp, tp + fp),
            "sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def _ratio(a: int, b: int) -> float:
    return float(a / b) if b else float("nan")


def stratified_resamples(y: np.ndarray, n: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Row indices of `n` bootstrap resamples that each keep both classes' counts."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(n):
        yield np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]


def bootstrap_ci(y: np.ndarray, s: np.ndarray, stat: Callable[[np.ndarray, np.ndarray], float],
                 n: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of stat(y, s), resampling cases (scipy.stats.bootstrap).

    A resample holding one class only has no AUC; it is left out of the percentiles (nan-aware)."""
    y, s = _check(y, s)
    if not _both_classes(y):
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = bootstrap((y, s), stat, paired=True, vectorized=False, n_resamples=n, method="percentile",
                        confidence_level=1 - alpha, rng=np.random.default_rng(seed))
    dist = res.bootstrap_distribution
    if np.isnan(res.confidence_interval.low) and np.isfinite(dist).any():
        return tuple(float(v) for v in np.nanquantile(dist, [alpha / 2, 1 - alpha / 2]))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width reliability bins: count, mean predicted probability, observed frequency.

    Hand-written because sklearn's calibration_curve drops empty bins and gives no counts, which the
    ECE and the reliability chart need."""
    y, p = _check(y, p)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": int(m.sum()),
                    "mean_p": float(p[m].mean()) if m.any() else float("nan"),
                    "frac_pos": float(y[m].mean()) if m.any() else float("nan")})
    return out


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width bins."""
    rows = reliability(y, p, bins)
    n = sum(r["count"] for r in rows)
    return float(sum(r["count"] * abs(r["mean_p"] - r["frac_pos"]) for r in rows if r["count"]) / n)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities."""
    y, p = _check(y, p)
    return float(skm.brier_score_loss(y, p))
