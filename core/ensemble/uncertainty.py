"""When to say "uncertain — a second read is recommended": a rule fitted on val, measured on test.

A case is uncertain when the ensemble's members disagree at the operating point, or when the
ensemble's log-odds lie within `margin` of the threshold's. The margin is the largest one that
flags no more than `budget` of the val cases by closeness alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from core.ensemble.combine import to_logit


def distance(p: np.ndarray, threshold: float) -> np.ndarray:
    """|logit(p) − logit(threshold)|: how far a probability sits from the decision boundary."""
    return np.abs(to_logit(p) - to_logit(np.array([threshold]))[0])


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
