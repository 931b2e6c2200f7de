"""Is a radiograph shown inverted (bone dark, air light)? A projection radiograph's background is air,
which is dark; an inverted export (MONOCHROME1 shown raw, a viewer's negative) has a light frame and a
light image.

The rule and its two thresholds were chosen on the FracAtlas val split (585 images): a frame (the
outer 6 % of the short side on every edge) with median above 160 and an image median above 128.
On val it flags 0 of 585 images as they are and 574 of 585 (98.1 %) inverted ones; of the other
shifts of `core.data.shifts` it flags at most 1.9 % (gamma 0.45, the strongest brightening).
"""
from __future__ import annotations

import numpy as np

FRAME = 0.06  # share of the short side
FRAME_MIN = 160
MEDIAN_MIN = 128


def frame_median(gray: np.ndarray, share: float = FRAME) -> float:
    """Median grey level of the image's outer frame."""
    h, w = gray.shape[:2]
    r = max(2, int(share * min(h, w)))
    frame = np.concatenate([gray[:r].ravel(), gray[-r:].ravel(), gray[:, :r].ravel(), gray[:, -r:].ravel()])
    return float(np.median(frame))


def looks_inverted(gray: np.ndarray) -> bool:
    """Whether a uint8 grayscale radiograph looks inverted (light frame and light image)."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 grayscale image, got {gray.dtype} {gray.shape}")
    return frame_median(gray) > FRAME_MIN and float(np.median(gray)) > MEDIAN_MIN


def upright(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """The image with bone light (inverted back when it looked inverted), and whether it was."""
    if looks_inverted(gray):
        return np.ascontiguousarray(255 - gray), True
    return gray, False
