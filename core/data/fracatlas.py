"""The FracAtlas-style data set: labels table, image reading, fracture boxes."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from core.data.loading import load_image

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


def draw_boxes(gray: np.ndarray, boxes: list[tuple[float, float, float, float]],
               colour: tuple[int, int, int] = (255, 64, 64)) -> np.ndarray:
    """RGB copy of a radiograph with fracture boxes (x, y, w, h) outlined."""
    rgb = np.repeat(gray[:, :, None], 3, axis=2).copy()
    thickness = max(2, round(max(gray.shape) / 150))
    for x, y, w, h in boxes:
        cv2.rectangle(rgb, (int(x), int(y)), (int(x + w), int(y + h)), colour, thickness)
    return rgb
