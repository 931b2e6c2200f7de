"""When to say "uncertain — a second read is recommended": a rule fitted on val, measured on test.

A case is uncertain when the ensemble's members disagree at the operating point, or when the
ensemble's log-odds lie within `margin` of the threshold's. The margin is the largest one that
flags no more than `budget` of the val cases by closeness alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np

EPS = 1e-6


def distance(p: np.ndarray, threshold: float) -> np.ndarray:
    """|logit(p) − logit(threshold)|: how far a probability sits from the decision boundary."""
    lp = np.log(np.clip(p, EPS, 1 - EPS) / (1 - np.clip(p, EPS, 1 - EPS)))
    t = float(np.clip(threshold, EPS, 1 - EPS))
    return np.abs(lp - np.log(t / (1 - t)))


def fit_margin(p: np.ndarray, threshold: float, budget: float = 0.15) -> float:
    """The log-odds margin that puts `budget` of the (val) cases inside the uncertain band."""
    if not 0 < budget < 1:
        raise ValueError(f"budget must lie in (0, 1), got {budget}")
    return float(np.quantile(distance(p, threshold), budget))


def flags(p: np.ndarray, threshold: float, margin: float, disagree: np.ndarray) -> np.ndarray:
    """Boolean per case: near the threshold or members disagreeing."""
    return (distance(p, threshold) < margin) | np.asarray(disagree, bool)


def measure(y: np.ndarray, p: np.ndarray, threshold: float, flagged: np.ndarray) -> dict[str, Any]:
    """How many cases the rule flags and the accuracy on flagged vs unflagged cases."""
    correct = (np.asarray(p) >= threshold) == np.asarray(y, bool)
    f = np.asarray(flagged, bool)
    return {"n": int(len(y)), "flagged": int(f.sum()), "flagged_share": float(f.mean()),
            "accuracy_flagged": float(correct[f].mean()) if f.any() else float("nan"),
            "accuracy_unflagged": float(correct[~f].mean()) if (~f).any() else float("nan"),
            "fractures_flagged": int((f & (np.asarray(y) == 1)).sum())}
