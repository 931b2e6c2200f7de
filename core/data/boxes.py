"""Fracture boxes between the image as loaded and the square model input, and as dense centre
targets for a localiser head (CenterNet-style: a Gaussian peak at each box centre on a grid of
`stride`-pixel cells, plus the box size and the centre's offset within its cell; or TTFNet-style:
every cell inside a box regresses the box's four sides, weighted by a Gaussian around its centre),
and back.

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


@dataclass(frozen=True)
class SideTargets:
    """Dense side-regression targets on a (G, G) grid: each cell's box (x0, y0, x1, y1) and its weight."""

    box: np.ndarray  # (4, G, G) float32, pixels of the model input
    weight: np.ndarray  # (G, G) float32 in [0, 1]: 0 where a cell regresses nothing


def side_targets(boxes: Sequence[Box], grid: int, stride: float) -> SideTargets:
    """Every cell whose centre lies in a box regresses it (Gaussian weight, σ = side / 6); its centre cell always."""
    if grid < 1 or stride <= 0:
        raise ValueError(f"grid must be ≥ 1 and stride > 0, got grid={grid}, stride={stride}")
    box, weight = np.zeros((4, grid, grid), np.float32), np.zeros((grid, grid), np.float32)
    centres = (np.arange(grid, dtype=np.float32) + 0.5) * stride
    for x, y, w, h in sorted(boxes, key=lambda b: -b[2] * b[3]):  # larger first: a smaller box wins its cells
        if w <= 0 or h <= 0:
            raise ValueError(f"box {(x, y, w, h)} has no area")
        cx, cy = x + w / 2, y + h / 2
        wx = np.exp(-((centres - cx) ** 2) / (2 * (w / 6) ** 2)) * ((centres >= x) & (centres <= x + w))
        wy = np.exp(-((centres - cy) ** 2) / (2 * (h / 6) ** 2)) * ((centres >= y) & (centres <= y + h))
        wgt = np.outer(wy, wx)
        i, j = min(grid - 1, max(0, int(cy // stride))), min(grid - 1, max(0, int(cx // stride)))
        wgt[i, j] = 1.0
        take = wgt > 0
        weight[take], box[:, take] = wgt[take], np.array([x, y, x + w, y + h], np.float32)[:, None]
    return SideTargets(box, weight)


def peaks(heat: np.ndarray, top_k: int = 10, min_score: float = 0.0) -> list[tuple[int, int, float]]:
    """The heat map's local maxima (3×3) above `min_score` as (row, column, score), highest first."""
    g = heat.shape[0]
    padded = np.pad(heat, 1, constant_values=-np.inf)
    neighbours = np.stack([padded[1 + dy:1 + dy + g, 1 + dx:1 + dx + g] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    found = (heat >= neighbours.max(0)) & (heat > min_score)
    ii, jj = np.nonzero(found)
    order = np.argsort(-heat[found])[:top_k]
    return [(int(ii[k]), int(jj[k]), float(heat[ii[k], jj[k]])) for k in order]


def decode(heat: np.ndarray, size: np.ndarray, offset: np.ndarray, stride: float, top_k: int = 10,
           min_score: float = 0.0) -> list[tuple[Box, float]]:
    """Boxes (model-input pixels) and scores at the heat map's peaks, from centre offset and size."""
    out = []
    for i, j, s in peaks(heat, top_k, min_score):
        cx, cy = (j + offset[0, i, j]) * stride, (i + offset[1, i, j]) * stride
        w, h = size[0, i, j], size[1, i, j]
        out.append(((float(cx - w / 2), float(cy - h / 2), float(w), float(h)), s))
    return out


def decode_sides(heat: np.ndarray, sides: np.ndarray, stride: float, top_k: int = 10,
                 min_score: float = 0.0, vote: int = 0) -> list[tuple[Box, float]]:
    """Boxes (model-input pixels) and scores at the heat map's peaks, from the distances (l, t, r, b) to the
    sides; with `vote` r > 0, each box is the heat-weighted mean of the boxes of the (2r+1)² cells around its peak."""
    if vote < 0:
        raise ValueError(f"vote must be a radius ≥ 0, got {vote}")
    return [(_side_box(heat, sides, stride, i, j, vote), s) for i, j, s in peaks(heat, top_k, min_score)]


def _side_box(heat: np.ndarray, sides: np.ndarray, stride: float, i: int, j: int, r: int) -> Box:
    """The box read at cell (i, j), or voted over the cells within `r` of it (weights: heat)."""
    rows = np.arange(max(0, i - r), min(heat.shape[0], i + r + 1))
    cols = np.arange(max(0, j - r), min(heat.shape[1], j + r + 1))
    cy, cx = np.meshgrid((rows + 0.5) * stride, (cols + 0.5) * stride, indexing="ij")
    left, top, right, bottom = (sides[k][np.ix_(rows, cols)] for k in range(4))
    w = heat[np.ix_(rows, cols)].astype(float)
    x0, y0, x1, y1 = (float(np.average(v, weights=w)) for v in (cx - left, cy - top, cx + right, cy + bottom))
    return (x0, y0, x1 - x0, y1 - y0)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes (0 when either has no area)."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - ix * iy
    return ix * iy / union if union > 0 else 0.0


def fuse_boxes(readings: Sequence[Sequence[tuple[Box, float]]], min_iou: float = 0.55) -> list[tuple[Box, float]]:
    """Weighted box fusion of several readings of one image (e.g. at several input sizes): boxes that overlap
    a cluster's first (highest-scoring) box by IoU ≥ `min_iou` join it; a cluster's box is the score-weighted
    mean of its corners and its score the sum of its scores over the number of readings. Highest score first."""
    if not 0 < min_iou <= 1:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
    clusters: list[list[tuple[Box, float]]] = []
    for box, score in sorted((f for r in readings for f in r), key=lambda f: -f[1]):
        home = next((c for c in clusters if box_iou(c[0][0], box) >= min_iou), None)
        if home is None:
            clusters.append([(box, score)])
        else:
            home.append((box, score))
    fused = []
    for c in clusters:
        w = np.array([s for _, s in c], float)
        corners = np.array([[x, y, x + bw, y + bh] for (x, y, bw, bh), _ in c], float)
        x0, y0, x1, y1 = (w[:, None] * corners).sum(0) / max(w.sum(), 1e-12)
        fused.append(((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), float(w.sum() / len(readings))))
    return sorted(fused, key=lambda f: -f[1])
