"""The FracAtlas-style data set: labels table, image reading and fracture-preserving augmentation."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from core.loading import load_image

DATA_DIR = Path(os.environ.get("FRACATLAS_DIR",
                               Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fracatlas"))
REGIONS = ("hand", "leg", "hip", "shoulder", "mixed")
SPLITS = ("train", "val", "test")


def read_labels(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """Read a labels CSV (needs `image` and `fractured`), optionally keeping one split."""
    df = pd.read_csv(path)
    missing = {"image", "fractured"} - set(df.columns)
    if missing:
        raise ValueError(f"labels file {Path(path).name} lacks columns {sorted(missing)}")
    if not set(df["fractured"].unique()) <= {0, 1}:
        raise ValueError(f"'fractured' must be 0/1, got {sorted(df['fractured'].unique())}")
    if split is not None:
        if "split" not in df.columns:
            raise ValueError(f"split {split!r} asked for but {Path(path).name} has no 'split' column")
        df = df[df["split"] == split]
    return df.reset_index(drop=True)


def load_gray_images(image_dir: str | Path, names: list[str]) -> list[np.ndarray]:
    """Read every named image as uint8 grayscale through the one loader the app uses."""
    root = Path(image_dir)
    return [load_image(root / n).pixels for n in names]


def read_boxes(path: str | Path) -> dict[str, list[tuple[float, float, float, float]]]:
    """COCO fracture boxes as {file name: [(x, y, w, h), ...]} in the image's pixel grid."""
    coco = json.loads(Path(path).read_text())
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for ann in coco["annotations"]:
        boxes.setdefault(names[ann["image_id"]], []).append(tuple(ann["bbox"]))
    return boxes


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
    out = (img.astype(np.float32) - mean) * gain + mean + bias
    return np.clip(out, 0, 255).astype(np.uint8)


def _random_crop(img: np.ndarray, rng: np.random.Generator, keep: float) -> np.ndarray:
    h, w = img.shape
    f = rng.uniform(keep, 1.0)
    ch, cw = max(1, int(h * f)), max(1, int(w * f))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return img[top:top + ch, left:left + cw]


def hflip(gray: np.ndarray) -> np.ndarray:
    """The horizontally mirrored image (test-time augmentation view)."""
    return np.ascontiguousarray(gray[:, ::-1])


def draw_boxes(gray: np.ndarray, boxes: list[tuple[float, float, float, float]],
               colour: tuple[int, int, int] = (255, 64, 64)) -> np.ndarray:
    """RGB copy of a radiograph with fracture boxes (x, y, w, h) outlined."""
    rgb = np.repeat(gray[:, :, None], 3, axis=2).copy()
    thickness = max(2, round(max(gray.shape) / 150))
    for x, y, w, h in boxes:
        cv2.rectangle(rgb, (int(x), int(y)), (int(x + w), int(y + h)), colour, thickness)
    return rgb
