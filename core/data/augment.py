"""Fracture-preserving augmentation of uint8 grayscale radiographs (seeded per image, so cached
views are reproducible and their cache keys meaningful)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.data.shifts import random_shift


@dataclass(frozen=True)
class AugmentConfig:
    """Mild augmentation that keeps a fracture visible and inside the frame."""

    hflip: float = 0.5
    rotate_deg: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.05
    brightness: float = 0.10
    contrast: tuple[float, float] = (0.85, 1.15)
    crop: float = 0.90
    shift_share: float = 0.0  # share of views that then also get a random shift of the catalogue
    shift_max_level: int = 3  # which of the catalogue's levels it draws from (1 mild, 2 up to middle, 3 all)
    shift_names: tuple[str, ...] = ()  # which shifts it draws from (empty: the whole catalogue)


def augment(gray: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One random view of a uint8 grayscale radiograph."""
    img = gray[:, ::-1] if rng.random() < cfg.hflip else gray
    img = _random_crop(img, rng, cfg.crop)
    h, w = img.shape
    angle = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, rng.uniform(*cfg.scale))
    m[:, 2] += rng.uniform(-cfg.shift, cfg.shift, 2) * (w, h)
    img = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    gain = rng.uniform(*cfg.contrast)
    bias = rng.uniform(-cfg.brightness, cfg.brightness) * 255
    mean = float(img.mean())
    out = np.clip((img.astype(np.float32) - mean) * gain + mean + bias, 0, 255).astype(np.uint8)
    if cfg.shift_share > 0 and rng.random() < cfg.shift_share:  # no draw at 0: older views stay as they were
        out = random_shift(out, rng, cfg.shift_max_level, cfg.shift_names)
    return out


def _random_crop(img: np.ndarray, rng: np.random.Generator, keep: float) -> np.ndarray:
    h, w = img.shape
    f = rng.uniform(keep, 1.0)
    ch, cw = max(1, int(h * f)), max(1, int(w * f))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return img[top:top + ch, left:left + cw]


def hflip(gray: np.ndarray) -> np.ndarray:
    """The horizontally mirrored image (test-time augmentation view)."""
    return np.ascontiguousarray(gray[:, ::-1])


def box_crop(gray: np.ndarray, boxes: list[tuple[float, float, float, float]], rng: np.random.Generator,
             keep: float = 0.7, contrast: tuple[float, float] = (0.85, 1.15),
             brightness: float = 0.10) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """A random mirror, crop (each side keeps `keep`–100 %, every box stays whole) and exposure change of
    a radiograph, with its (x, y, w, h) boxes moved to match: a localiser's training view."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    h, w = gray.shape
    if rng.random() < 0.5:
        gray, boxes = gray[:, ::-1], [(w - x - bw, y, bw, bh) for x, y, bw, bh in boxes]
    left, cw = _span(w, [(b[0], b[0] + b[2]) for b in boxes], rng.uniform(keep, 1.0), rng)
    top, ch = _span(h, [(b[1], b[1] + b[3]) for b in boxes], rng.uniform(keep, 1.0), rng)
    img = gray[top:top + ch, left:left + cw].astype(np.float32)
    mean = float(img.mean())
    img = (img - mean) * rng.uniform(*contrast) + mean + rng.uniform(-brightness, brightness) * 255
    moved = [(x - left, y - top, bw, bh) for x, y, bw, bh in boxes]
    return np.clip(img, 0, 255).astype(np.uint8), moved


def _span(length: int, extents: list[tuple[float, float]], share: float, rng: np.random.Generator) -> tuple[int, int]:
    """Start and length of a random window of about `share` × `length` that holds every extent whole."""
    lo = int(np.floor(min((a for a, _ in extents), default=length)))
    hi = int(np.ceil(max((b for _, b in extents), default=0)))
    size = min(length, max(1, int(length * share), hi - lo))
    first, last = max(0, hi - size), min(lo, length - size)
    start = int(rng.integers(first, last + 1)) if last >= first else max(0, min(lo, length - size))
    return start, size
