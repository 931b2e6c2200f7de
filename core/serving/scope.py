"""Is this a bone X-ray at all? Refuse colour photos, screenshots, documents and blank frames.

Two plain rules (colour, blank) and a logistic model over 17 brightness/texture features, fitted by
`python -m core.training.scope_fit` on FracAtlas `train` radiographs versus the `fit` family of
core.scope_negatives, its threshold set on `val` radiographs (≤ 0.5 % refused) and measured on
`test` radiographs and the disjoint `eval` family. Stored as weights/scope.json.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.data.loading import LoadedImage, load_image

log = logging.getLogger(__name__)
CHROMA_MAX = 6.0
BLANK_STD = 4.0
NAMES = ["chroma", "mean", "std", "dark", "bright", "p05", "p25", "p50", "p75", "p95", "entropy",
         "edges", "flat", "levels", "log_lap_var", "border_minus_centre", "gradient"]


def features(image: LoadedImage) -> np.ndarray:
    """17 numbers describing colour, brightness distribution and texture."""
    g = image.pixels
    scale = 256 / max(g.shape)
    small = cv2.resize(g, (max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    f = small.astype(np.float32)
    hist = np.bincount(small.ravel(), minlength=256) / small.size
    h32 = hist.reshape(32, 8).sum(1)
    local_sd = np.sqrt(np.maximum(cv2.blur(f * f, (3, 3)) - cv2.blur(f, (3, 3)) ** 2, 0))
    b = max(2, min(small.shape) // 10)
    border = np.concatenate([f[:b].ravel(), f[-b:].ravel(), f[:, :b].ravel(), f[:, -b:].ravel()])
    centre = f[b:-b, b:-b] if min(f.shape) > 2 * b else f
    gx, gy = cv2.Sobel(f, cv2.CV_32F, 1, 0), cv2.Sobel(f, cv2.CV_32F, 0, 1)
    return np.array([
        image.meta.get("chroma", 0.0), f.mean() / 255, f.std() / 255, (small < 25).mean(), (small > 230).mean(),
        *(np.percentile(small, [5, 25, 50, 75, 95]) / 255), -(h32[h32 > 0] * np.log2(h32[h32 > 0])).sum() / 5,
        (cv2.Canny(small, 50, 150) > 0).mean(), (local_sd < 0.5).mean(), (hist > 0).mean(),
        np.log1p(cv2.Laplacian(f, cv2.CV_32F).var()) / 10, (border.mean() - centre.mean()) / 255,
        np.hypot(gx, gy).mean() / 255], dtype=np.float64)


@dataclass(frozen=True)
class ScopeResult:
    """The check's answer: in scope or not, the model's score and the reason shown to the user."""

    in_scope: bool
    score: float
    reason: str | None


@dataclass(frozen=True)
class ScopeModel:
    """Standardised logistic regression over `features`, with its refusal threshold."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    def score(self, image: LoadedImage) -> float:
        """Probability-like score that the image is a radiograph."""
        z = ((features(image) - self.mean) / self.scale) @ self.coef + self.intercept
        return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))

    def check(self, image: LoadedImage) -> ScopeResult:
        """Rules first (colour, blank), then the model."""
        s = self.score(image)
        if image.meta.get("chroma", 0.0) > CHROMA_MAX:
            return ScopeResult(False, s, "it is a colour image; radiographs are grayscale")
        if float(image.pixels.std()) < BLANK_STD:
            return ScopeResult(False, s, "it is almost blank (one shade of grey)")
        if s < self.threshold:
            bright = float((image.pixels > 230).mean())
            why = ("it is mostly white, like a page of text or a screenshot" if bright > 0.4 else
                   "its brightness and texture do not look like a radiograph")
            return ScopeResult(False, s, why)
        return ScopeResult(True, s, None)

    @classmethod
    def load(cls, path: str | Path) -> "ScopeModel":
        """Read weights/scope.json."""
        d = json.loads(Path(path).read_text())
        if d.get("features") != NAMES:
            raise ValueError(f"{Path(path).name} was fitted on other features: {d.get('features')}")
        return cls(np.array(d["mean"]), np.array(d["scale"]), np.array(d["coef"]), float(d["intercept"]),
                   float(d["threshold"]))


def _as_image(arr: np.ndarray) -> LoadedImage:
    """Encode an array as PNG and read it back through the app's loader (same features as uploads)."""
    ok, buf = cv2.imencode(".png", arr[:, :, ::-1] if arr.ndim == 3 else arr)
    if not ok:
        raise ValueError("could not encode a generated image")
    return load_image(buf.tobytes(), "generated.png")
