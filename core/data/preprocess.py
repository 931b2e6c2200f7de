"""The one preprocessing path used by training, evaluation and the app."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import cv2
import numpy as np

CANNY_MODES = ("none", "blend", "stack")


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that turns a grayscale radiograph into a model input; stored in each model card."""

    size: int = 288
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    clahe: bool = True
    clahe_clip: float = 2.0
    clahe_tile: int = 8
    canny: str = "none"
    canny_low: int = 40
    canny_high: int = 120
    canny_weight: float = 0.35

    def __post_init__(self) -> None:
        if self.canny not in CANNY_MODES:
            raise ValueError(f"canny must be one of {CANNY_MODES}, got {self.canny!r}")
        if self.size < 32:
            raise ValueError(f"size must be at least 32 pixels, got {self.size}")
        if not 0.0 <= self.canny_weight <= 1.0:
            raise ValueError(f"canny_weight must lie in [0, 1], got {self.canny_weight}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy for model cards."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        """Rebuild from a model card entry."""
        data = dict(data)
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        return cls(**data)

    def with_(self, **changes: Any) -> PreprocessConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Letterbox:
    """Where the resized image sits inside the square model input."""

    scale: float
    top: int
    left: int
    height: int
    width: int


def letterbox(gray: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize the longer side to `size` (aspect kept); return the resized image and its placement."""
    h, w = gray.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(gray, (nw, nh), interpolation=interp)
    return resized, Letterbox(scale, (size - nh) // 2, (size - nw) // 2, nh, nw)


def pad_square(img: np.ndarray, box: Letterbox, size: int) -> np.ndarray:
    """Place a resized image on a black square canvas."""
    out = np.zeros((size, size) + img.shape[2:], dtype=img.dtype)
    out[box.top:box.top + box.height, box.left:box.left + box.width] = img
    return out


def unletterbox(square: np.ndarray, box: Letterbox, shape: tuple[int, int]) -> np.ndarray:
    """Map a map over the model input (e.g. a CAM) back onto the original image grid."""
    crop = square[box.top:box.top + box.height, box.left:box.left + box.width]
    return cv2.resize(crop.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def enhance(gray: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """CLAHE then the Canny option: returns the (H, W, 3) uint8 picture the model sees."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 grayscale image, got {gray.dtype} {gray.shape}")
    img = gray
    if cfg.clahe:
        tile = (cfg.clahe_tile, cfg.clahe_tile)
        img = cv2.createCLAHE(clipLimit=cfg.clahe_clip, tileGridSize=tile).apply(img)
    if cfg.canny == "none":
        return np.repeat(img[:, :, None], 3, axis=2)
    edges = cv2.Canny(img, cfg.canny_low, cfg.canny_high)
    if cfg.canny == "stack":
        return np.dstack([img, img, edges])
    blended = cv2.addWeighted(img, 1.0 - cfg.canny_weight, edges, cfg.canny_weight, 0.0)
    return np.repeat(blended[:, :, None], 3, axis=2)


def model_view(gray: np.ndarray, cfg: PreprocessConfig) -> tuple[np.ndarray, Letterbox]:
    """The square (S, S, 3) uint8 image the model sees, and where the original sits in it."""
    resized, box = letterbox(gray, cfg.size)
    return pad_square(enhance(resized, cfg), box, cfg.size), box


def normalise(view: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """(S, S, 3) uint8 → (3, S, S) float32 with the model's mean and std."""
    x = view.astype(np.float32) / 255.0
    x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess(gray: np.ndarray, cfg: PreprocessConfig) -> tuple[np.ndarray, Letterbox]:
    """Grayscale uint8 radiograph → normalised (3, S, S) float32 model input and its letterbox."""
    view, box = model_view(gray, cfg)
    return normalise(view, cfg), box
