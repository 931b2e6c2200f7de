"""Calibration (temperature and bias), fitted on validation data only.

Models trained with a class-weighted loss over-predict the minority class by about
log(n_negative / n_positive) in log-odds; temperature scaling alone cannot remove that shift, so the
calibration map is sigmoid(logit / T + b) (Platt scaling), fitted by maximum likelihood on val.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

T_MIN, T_MAX, B_MAX = 0.05, 20.0, 10.0


def nll(y: np.ndarray, logits: np.ndarray, temperature: float) -> float:
    """Mean binary cross-entropy of sigmoid(logits / T)."""
    z = np.asarray(logits, float) / temperature
    return float(np.mean(np.logaddexp(0, z) - np.asarray(y) * z))


def fit_temperature(y: np.ndarray, logits: np.ndarray) -> float:
    """The temperature T in [T_MIN, T_MAX] minimising the NLL of sigmoid(logit / T)."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, int)
    if y.min() == y.max():
        raise ValueError("temperature scaling needs both classes in the labels")
    res = minimize_scalar(lambda v: nll(y, logits, float(np.exp(v))), method="bounded",
                          bounds=(np.log(T_MIN), np.log(T_MAX)), options={"xatol": 1e-8})
    return float(np.exp(res.x))


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
        return expit(np.asarray(logits, float) / self.temperature + self.bias)

    def to_dict(self) -> dict[str, Any]:
        """For model cards."""
        return {"temperature": self.temperature, "bias": self.bias, "method": "platt (temperature + bias)"}

    @classmethod
    def from_dict(cls, c: dict[str, Any]) -> Calibration:
        """Read the `calibration` entry of a model card."""
        return cls(float(c["temperature"]), float(c.get("bias", 0.0)))

    @classmethod
    def fit(cls, y: np.ndarray, logits: np.ndarray) -> Calibration:
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


@dataclass(frozen=True)
class BoxFusion:
    """The localiser's evidence added to a verdict's log-odds: z + weight · logit(top box score), fitted on val.

    `localizer_sha256` names the localiser whose scores it was fitted on: another localiser's scores are not
    on the same scale, so a verdict with a different one would not be the measured one.
    """

    weight: float
    localizer_sha256: str
    floor: float = 1e-4

    def __post_init__(self) -> None:
        if not 0 < self.floor < 0.5:
            raise ValueError(f"box-score floor must be in (0, 0.5), got {self.floor}")
        if not np.isfinite(self.weight):
            raise ValueError(f"box-fusion weight must be finite, got {self.weight}")

    def __call__(self, logits: np.ndarray, top_scores: np.ndarray) -> np.ndarray:
        """Fused log-odds of 'fractured' from log-odds and each image's top box score (0 when none)."""
        s = np.clip(np.asarray(top_scores, float), self.floor, 1 - self.floor)
        return np.asarray(logits, float) + self.weight * np.log(s / (1 - s))

    def to_dict(self) -> dict[str, Any]:
        """For model cards."""
        return {"weight": self.weight, "localizer_sha256": self.localizer_sha256, "floor": self.floor,
                "method": "log-odds + weight · logit(top box score), then the card's calibration"}

    @classmethod
    def from_dict(cls, c: dict[str, Any]) -> BoxFusion:
        """Read the `box_fusion` entry of an ensemble card."""
        return cls(float(c["weight"]), str(c["localizer_sha256"]), float(c.get("floor", 1e-4)))
