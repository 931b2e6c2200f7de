"""How members become one verdict: the weighted mean of calibrated probabilities, recalibrated."""
from __future__ import annotations

import numpy as np
from scipy.special import logit

from core.models.calibration import Calibration

ENSEMBLE_CARD = "ensemble.json"
EPS = 1e-6


def to_logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)), clipped away from 0 and 1."""
    return logit(np.clip(np.asarray(p, float), EPS, 1 - EPS))


def combine(member_probs: np.ndarray, weights: np.ndarray, calibration: Calibration = Calibration()) -> np.ndarray:
    """Ensemble probability: weighted mean of members' calibrated probabilities, recalibrated."""
    w = np.asarray(weights, float)[:, None]
    mean = (np.asarray(member_probs, float).reshape(len(w), -1) * w).sum(0) / w.sum()
    return calibration(to_logit(mean))


def agreement(member_votes: list[bool], verdict: bool) -> float:
    """Share of members whose own verdict matches the ensemble's."""
    return float(np.mean([v == verdict for v in member_votes])) if member_votes else float("nan")
