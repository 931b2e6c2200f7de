"""Calibration (temperature and bias) and operating points, fitted on validation data only.

Models trained with a class-weighted loss over-predict the minority class by about
log(n_negative / n_positive) in log-odds; temperature scaling alone cannot remove that shift, so the
calibration map is sigmoid(logit / T + b) (Platt scaling), fitted by maximum likelihood on val.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.evaluation.metrics import at_threshold

HIGH_SENSITIVITY = "high_sensitivity"
BALANCED = "balanced"
OPERATING_POINTS = (HIGH_SENSITIVITY, BALANCED)
T_MIN, T_MAX, B_MAX = 0.05, 20.0, 10.0


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def nll(y: np.ndarray, logits: np.ndarray, temperature: float) -> float:
    """Mean binary cross-entropy of sigmoid(logits / T)."""
    z = np.asarray(logits, float) / temperature
    return float(np.mean(np.logaddexp(0, z) - np.asarray(y) * z))


def fit_temperature(y: np.ndarray, logits: np.ndarray) -> float:
    """The temperature T > 0 minimising the NLL of sigmoid(logit / T) (golden-section on log T)."""
    y = np.asarray(y, int)
    if y.min() == y.max():
        raise ValueError("temperature scaling needs both classes in the labels")
    lo, hi = np.log(T_MIN), np.log(T_MAX)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(80):
        if nll(y, logits, np.exp(a)) < nll(y, logits, np.exp(b)):
            hi, b = b, a
            a = hi - g * (hi - lo)
        else:
            lo, a = a, b
            b = lo + g * (hi - lo)
    return float(np.exp((lo + hi) / 2))


@dataclass(frozen=True)
class Calibration:
    """p = sigmoid(logit / temperature + bias)."""

    temperature: float = 1.0
    bias: float = 0.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probability of 'fractured'."""
        return sigmoid(np.asarray(logits, float) / self.temperature + self.bias)

    def to_dict(self) -> dict[str, Any]:
        """For model cards."""
        return {"temperature": self.temperature, "bias": self.bias, "method": "platt (temperature + bias)"}

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> "Calibration":
        """Read a card's calibration (older cards held a temperature alone)."""
        c = card.get("calibration", {"temperature": card.get("temperature", 1.0)})
        return cls(float(c["temperature"]), float(c.get("bias", 0.0)))

    @classmethod
    def fit(cls, y: np.ndarray, logits: np.ndarray) -> "Calibration":
        """Maximum-likelihood temperature and bias on (val) labels and logits."""
        from scipy.optimize import minimize

        y, z = np.asarray(y, int), np.asarray(logits, float)
        if y.min() == y.max():
            raise ValueError("calibration needs both classes in the labels")

        def loss(v: np.ndarray) -> float:
            a = z * np.exp(-v[0]) + v[1]
            return float(np.mean(np.logaddexp(0, a) - y * a))

        start = np.array([np.log(fit_temperature(y, z)), 0.0])
        bounds = [(np.log(T_MIN), np.log(T_MAX)), (-B_MAX, B_MAX)]  # an uninformative model must not send T to ∞
        v = minimize(loss, start, method="L-BFGS-B", bounds=bounds).x
        return cls(float(np.exp(v[0])), float(v[1]))


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probability of 'fractured'."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return sigmoid(np.asarray(logits, float) / temperature)


def choose_thresholds(y: np.ndarray, p: np.ndarray, min_sensitivity: float = 0.95) -> dict[str, float]:
    """High-sensitivity (largest t with sensitivity ≥ target) and balanced (Youden's J) thresholds."""
    y, p = np.asarray(y, int), np.asarray(p, float)
    if y.min() == y.max():
        raise ValueError("choosing thresholds needs both classes in the labels")
    cands = np.unique(p)[::-1]
    rows = [at_threshold(y, p, t) for t in cands]
    high = next(t for t, r in zip(cands, rows) if r["sensitivity"] >= min_sensitivity)
    youden = [r["sensitivity"] + r["specificity"] - 1 for r in rows]
    return {HIGH_SENSITIVITY: float(high), BALANCED: float(cands[int(np.argmax(youden))])}
