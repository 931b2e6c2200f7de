"""Is the picture degraded in a way the models are known to misread? An image-quality check.

The robustness suite (`make robustness`) shows two ordinary degradations that move the verdict most:
added noise (a low-dose or phone-photographed film) and heavy JPEG compression (a lossy PACS or
e-mail export); on both the models raise many more false alarms. Two cheap measurements find them:

- `noise_sigma`: Immerkær's fast noise estimate (the mean absolute response to a Laplacian-difference
  kernel that cancels smooth structure, away from strong edges), in grey levels;
- `blockiness`: how much larger the grey-level steps are across the 8-pixel JPEG block boundaries
  than inside the blocks (1 for an image without block artefacts).

Thresholds are fitted on FracAtlas `val` (`python -m core.training.quality_fit`, `make quality`) so
that almost no plain radiograph is flagged; the card (weights/quality.json) also carries what the
robustness suite measured for each degradation, so the warning a clinician reads says what the
degradation did to the models in testing. A flag never blocks the verdict: it is a caution beside it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

QUALITY_CARD = "quality.json"
_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
BLOCK = 8
EDGE_QUANTILE = 0.8  # noise is read where the image is smooth: the strongest 20 % of gradients (bone edges,
# burned-in text) are left out, as in Immerkær's edge-masked variant
BLOCK_CROP = 1024  # blockiness reads at most the central 1024 × 1024 pixels
EDGE_STEP = 24  # grey-level steps above this are edges, not JPEG block artefacts


SCALE = 288  # noise is measured at FracAtlas's short side (about what the models see), never enlarged


def at_scale(gray: np.ndarray, short_side: int = SCALE) -> np.ndarray:
    """The image shrunk (area average) so its short side is `short_side`; smaller images are kept."""
    h, w = gray.shape[:2]
    f = short_side / min(h, w)
    if f >= 1:
        return gray
    return cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær's estimate of additive noise, in grey levels, of a 2-D uint8 image at short side SCALE
    (downscaling averages noise away, so a large scan is measured as the models see it)."""
    if gray.ndim != 2 or min(gray.shape) < 3:
        raise ValueError(f"need a 2-D image of at least 3 × 3 pixels, got shape {gray.shape}")
    f = at_scale(gray).astype(np.float64)
    r = np.abs(cv2.filter2D(f, -1, _KERNEL, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    edges = np.hypot(cv2.Sobel(f, cv2.CV_64F, 1, 0), cv2.Sobel(f, cv2.CV_64F, 0, 1))[1:-1, 1:-1]
    smooth = edges <= np.quantile(edges, EDGE_QUANTILE)
    return float(np.sqrt(np.pi / 2) * r[smooth].mean() / 6)


def _step_sums(diffs: np.ndarray) -> np.ndarray:
    """Sums and counts of the small steps across block boundaries and inside blocks, along the last axis."""
    at = np.broadcast_to((np.arange(diffs.shape[-1]) % BLOCK) == BLOCK - 1, diffs.shape)
    small = diffs <= EDGE_STEP
    return np.array([diffs[at & small].sum(), (at & small).sum(), diffs[~at & small].sum(), (~at & small).sum()],
                    np.float64)


def _centre_blocks(gray: np.ndarray, side: int = BLOCK_CROP) -> np.ndarray:
    """The central `side` × `side` pixels at most, cut on the 8-pixel block grid (a large scan costs no more)."""
    h, w = gray.shape
    top, left = max(0, (h - side) // 2) // BLOCK * BLOCK, max(0, (w - side) // 2) // BLOCK * BLOCK
    return gray[top:top + side, left:left + side]


def blockiness(gray: np.ndarray) -> float:
    """Mean small grey-level step across 8-pixel block boundaries over the mean inside the blocks (≈ 1 without
    JPEG blocks), at the image's own resolution (where a JPEG's blocks are); steps above EDGE_STEP are edges
    (bone, a black frame), not block artefacts, and are left out."""
    if gray.ndim != 2 or min(gray.shape) < 2 * BLOCK:
        raise ValueError(f"need a 2-D image of at least {2 * BLOCK} × {2 * BLOCK} pixels, got shape {gray.shape}")
    f = _centre_blocks(gray).astype(np.int16)
    s = _step_sums(np.abs(np.diff(f, axis=1))) + _step_sums(np.abs(np.diff(f, axis=0)).T)
    return float((s[0] / max(s[1], 1)) / max(s[2] / max(s[3], 1), 1e-6))


MEASURES = {"noise": noise_sigma, "jpeg": blockiness}


@dataclass(frozen=True)
class Effect:
    """What the robustness suite measured for one degradation (ensemble, test split, middle level)."""

    level: float
    specificity: dict[str, list[float]]  # operating point -> [plain, shifted]


@dataclass(frozen=True)
class QualityCard:
    """Thresholds of the quality check and the measurements behind them."""

    thresholds: dict[str, float]
    quantile: float = 0.995  # of plain val radiographs: 1 - quantile of them exceed each threshold
    effects: dict[str, Effect] = field(default_factory=dict)
    robustness_sha256: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    created: str = ""

    def measure(self, gray: np.ndarray) -> dict[str, float]:
        """Every measurement of one image, rounded for display."""
        return {name: round(MEASURES[name](gray), 3) for name in self.thresholds}

    def flags(self, values: dict[str, float]) -> list[str]:
        """The degradations whose measurement passes its threshold."""
        return [n for n, t in self.thresholds.items() if values[n] > t]

    def write(self, path: Path) -> None:
        """Save as JSON."""
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> QualityCard:
        """Load a card written by `write`; ValueError names a bad field."""
        d = json.loads(Path(path).read_text())
        unknown = set(d.get("thresholds", {})) - set(MEASURES)
        if unknown:
            raise ValueError(f"quality card {path} has unknown measurements {sorted(unknown)}; known: {sorted(MEASURES)}")
        effects = {k: Effect(**v) for k, v in d.pop("effects", {}).items()}
        return cls(effects=effects, **d)
