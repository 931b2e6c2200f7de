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
