"""Images that are not bone X-rays, built from what installed packages ship or can draw.

Two disjoint families of sources: `fit` (used to fit the out-of-scope check) and `eval` (only to
measure it). Photos come from scikit-image's bundled samples (a development requirement).
"""
from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np
from PIL import Image, ImageDraw

FIT_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "page", "grass",
              "brick", "clock", "cell", "hubble_deep_field"]
EVAL_PHOTOS = ["text", "horse", "immunohistochemistry", "retina", "cat", "colorwheel", "gravel",
               "checkerboard", "logo", "binary_blobs", "microaneurysms", "shepp_logan_phantom"]
WORDS = "patient report clinic left wrist pain radius ulna follow up imaging normal findings date".split()


def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
        img = (255 * (img - img.min()) / max(float(np.ptp(img)), 1e-9)).astype(np.uint8)
    return img[..., :3] if img.ndim == 3 else img


def _variant(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop, scale and (half the time) grayscale version of a picture."""
    h, w = img.shape[:2]
    f = rng.uniform(0.6, 1.0)
    ch, cw = int(h * f), int(w * f)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = img[y:y + ch, x:x + cw]
    size = int(rng.uniform(200, 700))
    crop = cv2.resize(crop, (size, int(size * ch / max(cw, 1))), interpolation=cv2.INTER_AREA)
    if crop.ndim == 3 and rng.random() < 0.5:
        crop = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    return crop


def document(rng: np.random.Generator, dark: bool = False) -> np.ndarray:
    """A rendered page of text (a scanned letter or a dark-mode note)."""
    w, h = int(rng.uniform(400, 900)), int(rng.uniform(500, 1100))
    bg, fg = ((30, 225) if dark else (int(rng.uniform(225, 255)), int(rng.uniform(0, 60))))
    im = Image.new("L", (w, h), bg)
    draw = ImageDraw.Draw(im)
    y = int(rng.uniform(20, 60))
    while y < h - 30:
        words = " ".join(rng.choice(WORDS, int(rng.integers(3, 12))))
        draw.text((int(rng.uniform(20, 60)), y), words, fill=fg)
        y += int(rng.uniform(14, 30))
    return np.asarray(im)


def screenshot(rng: np.random.Generator) -> np.ndarray:
    """A synthetic application window: flat panels, buttons and labels, in colour."""
    w, h = int(rng.uniform(600, 1400)), int(rng.uniform(400, 900))
    im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(4, 14))):
        x0, y0 = int(rng.uniform(0, w - 60)), int(rng.uniform(0, h - 30))
        x1, y1 = x0 + int(rng.uniform(40, w / 2)), y0 + int(rng.uniform(20, h / 3))
        draw.rectangle([x0, y0, x1, y1], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw.text((x0 + 5, y0 + 5), " ".join(rng.choice(WORDS, 2)), fill=(0, 0, 0))
    return np.asarray(im)


def pattern(rng: np.random.Generator) -> np.ndarray:
    """Gradients, stripes, checkerboards, noise and shapes."""
    h, w = int(rng.uniform(200, 700)), int(rng.uniform(200, 700))
    yy, xx = np.mgrid[0:h, 0:w]
    kind = rng.integers(0, 5)
    if kind == 0:
        img = (xx / w * 255)
    elif kind == 1:
        img = ((np.sin(xx / rng.uniform(3, 30)) > 0) * 255.0)
    elif kind == 2:
        s = int(rng.uniform(8, 60))
        img = (((xx // s) + (yy // s)) % 2) * 255.0
    elif kind == 3:
        img = rng.normal(128, rng.uniform(10, 80), (h, w))
    else:
        img = np.zeros((h, w))
        for _ in range(int(rng.integers(3, 15))):
            cv2.circle(img, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(5, 80)),
                       float(rng.uniform(50, 255)), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def blank(rng: np.random.Generator) -> np.ndarray:
    """An empty frame: one grey level with a little noise."""
    h, w = int(rng.uniform(200, 800)), int(rng.uniform(200, 800))
    return np.clip(rng.normal(rng.uniform(0, 255), rng.uniform(0, 1.5), (h, w)), 0, 255).astype(np.uint8)


def colourised(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour version of a radiograph (false-colour map or tint), as a screenshot might carry."""
    if rng.random() < 0.5:
        maps = [cv2.COLORMAP_JET, cv2.COLORMAP_HOT, cv2.COLORMAP_BONE, cv2.COLORMAP_VIRIDIS]
        return cv2.applyColorMap(gray, maps[int(rng.integers(0, len(maps)))])[:, :, ::-1]
    tint = rng.uniform(0.4, 1.0, 3)
    return (np.repeat(gray[:, :, None], 3, 2) * tint).astype(np.uint8)


def negatives(family: str, xrays: list[np.ndarray], seed: int) -> Iterator[tuple[str, np.ndarray]]:
    """(kind, image) pairs of one family ('fit' or 'eval'); `xrays` are radiographs to colourise."""
    if family not in ("fit", "eval"):
        raise ValueError(f"family must be 'fit' or 'eval', got {family!r}")
    rng = np.random.default_rng([seed, 0 if family == "fit" else 1])
    for name in FIT_PHOTOS if family == "fit" else EVAL_PHOTOS:
        img = _photo(name)
        for _ in range(4):
            yield f"photo:{name}", _variant(img, rng)
    for i in range(10):
        yield "document", document(rng, dark=i % 4 == 3)
    for _ in range(10):
        yield "screenshot", screenshot(rng)
    for _ in range(10):
        yield "pattern", pattern(rng)
    for _ in range(5):
        yield "blank", blank(rng)
    for gray in xrays:
        yield "colour x-ray", colourised(gray, rng)
