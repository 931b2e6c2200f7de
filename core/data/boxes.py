"""Fracture boxes between the image as loaded and the square model input, and as dense centre
targets for a localiser head (CenterNet-style: a Gaussian peak at each box centre on a grid of
`stride`-pixel cells, plus the box size and the centre's offset within its cell), and back.

Boxes are (x, y, w, h) with a top-left origin, in pixels of the grid they are stated in.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.data.preprocess import Letterbox

Box = tuple[float, float, float, float]


def to_model(box: Box, lb: Letterbox) -> Box:
    """A box on the loaded image → the same box on the square model input."""
    x, y, w, h = box
    return (x * lb.scale + lb.left, y * lb.scale + lb.top, w * lb.scale, h * lb.scale)


def to_image(box: Box, lb: Letterbox, shape: tuple[int, int]) -> Box:
    """A box on the model input → the loaded image (clipped to it)."""
    x, y, w, h = box
    x0, y0 = max(0.0, (x - lb.left) / lb.scale), max(0.0, (y - lb.top) / lb.scale)
    x1, y1 = min(float(shape[1]), (x + w - lb.left) / lb.scale), min(float(shape[0]), (y + h - lb.top) / lb.scale)
    return (x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


@dataclass(frozen=True)
class CentreTargets:
    """Dense targets on a (G, G) grid: peak heat map, box size (w, h) and centre offset at each centre cell."""

    heat: np.ndarray  # (G, G) float32 in [0, 1]
    size: np.ndarray  # (2, G, G) float32, pixels of the model input
    offset: np.ndarray  # (2, G, G) float32, in cells, within [0, 1)
    mask: np.ndarray  # (G, G) bool: the centre cells


def centre_targets(boxes: Sequence[Box], grid: int, stride: float, sigma_cells: float = 0.75) -> CentreTargets:
    """Targets for the boxes (model-input pixels) on a grid of `grid`×`grid` cells of `stride` pixels."""
    if grid < 1 or stride <= 0:
        raise ValueError(f"grid must be ≥ 1 and stride > 0, got grid={grid}, stride={stride}")
    heat = np.zeros((grid, grid), np.float32)
    size, offset = np.zeros((2, grid, grid), np.float32), np.zeros((2, grid, grid), np.float32)
    mask = np.zeros((grid, grid), bool)
    yy, xx = np.mgrid[0:grid, 0:grid].astype(np.float32)
    for x, y, w, h in boxes:
        if w <= 0 or h <= 0:
            raise ValueError(f"box {(x, y, w, h)} has no area")
        cx, cy = (x + w / 2) / stride, (y + h / 2) / stride
        i, j = min(grid - 1, max(0, int(cy))), min(grid - 1, max(0, int(cx)))
        sig = max(sigma_cells, 0.25 * max(w, h) / stride)
        heat = np.maximum(heat, np.exp(-((xx - j) ** 2 + (yy - i) ** 2) / (2 * sig**2)))
        size[:, i, j], offset[:, i, j], mask[i, j] = (w, h), (cx - j, cy - i), True
    return CentreTargets(heat, size, offset, mask)


def decode(heat: np.ndarray, size: np.ndarray, offset: np.ndarray, stride: float, top_k: int = 10,
           min_score: float = 0.0) -> list[tuple[Box, float]]:
    """Boxes (model-input pixels) and scores at the heat map's local maxima (3×3), highest first."""
    g = heat.shape[0]
    padded = np.pad(heat, 1, constant_values=-np.inf)
    neighbours = np.stack([padded[1 + dy:1 + dy + g, 1 + dx:1 + dx + g] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    peaks = (heat >= neighbours.max(0)) & (heat > min_score)
    order = np.argsort(-heat[peaks])[:top_k]
    ii, jj = np.nonzero(peaks)
    out = []
    for k in order:
        i, j = ii[k], jj[k]
        cx, cy = (j + offset[0, i, j]) * stride, (i + offset[1, i, j]) * stride
        w, h = size[0, i, j], size[1, i, j]
        out.append(((float(cx - w / 2), float(cy - h / 2), float(w), float(h)), float(heat[i, j])))
    return out
