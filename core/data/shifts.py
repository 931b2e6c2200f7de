"""The catalogue of ordinary ways an X-ray arrives changed: turned, tilted, cropped, bordered,
downscaled, recompressed, re-exposed, inverted, noisy, blurred, stamped with markers or text.

One registry (`SHIFTS`) maps a shift name to its graded levels (mild, middle, strong) and a function
`(gray uint8, level, rng) -> gray uint8`. The robustness suite measures models under every entry,
the out-of-scope gate trains on them as positives, and augmentation may draw from them. Random parts
are seeded per (seed, shift, level, image) by `shift_rng`, so every measurement is reproducible.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Level = float | int | str
ShiftFn = Callable[[np.ndarray, Level, np.random.Generator], np.ndarray]
WORDS = ["L", "R", "AP", "PA", "LAT", "OBL", "WRIST", "HAND", "KNEE", "ANKLE", "HIP", "SHOULDER",
         "2026", "ID", "DOB", "ER", "PORTABLE", "STANDING"]


@dataclass(frozen=True)
class Shift:
    """One kind of change and its graded levels; `levels[len(levels) // 2]` is the middle one."""

    name: str
    levels: tuple[Level, ...]
    fn: ShiftFn
    description: str

    @property
    def middle(self) -> Level:
        """The middle severity (the robustness targets are stated at this level)."""
        return self.levels[len(self.levels) // 2]

    def __call__(self, gray: np.ndarray, level: Level, rng: np.random.Generator) -> np.ndarray:
        if level not in self.levels:
            raise ValueError(f"shift {self.name!r} has levels {self.levels}, got {level!r}")
        out = self.fn(np.ascontiguousarray(gray), level, rng)
        return np.ascontiguousarray(out.astype(np.uint8))


def shift_rng(seed: int, shift: str, level: Level, index: int) -> np.random.Generator:
    """The generator for one (shift, level, image): stable across runs, processes and machines."""
    tag = zlib.crc32(f"{shift}|{level}".encode())
    return np.random.default_rng([seed, tag, index])


def turn(gray: np.ndarray, degrees: Level, rng: np.random.Generator) -> np.ndarray:
    """Quarter turns, counter-clockwise (a landscape film is a 90° turn)."""
    return np.rot90(gray, int(degrees) // 90)


def _tilt(gray: np.ndarray, max_deg: float, rng: np.random.Generator, fill: int) -> np.ndarray:
    h, w = gray.shape
    angle = rng.uniform(-max_deg, max_deg)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[:, 2] += ((nw - w) / 2, (nh - h) / 2)
    return cv2.warpAffine(gray, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=int(fill))


def tilt_black(gray: np.ndarray, max_deg: Level, rng: np.random.Generator) -> np.ndarray:
    """A random tilt within ±level degrees; the canvas grows and the corners are black."""
    return _tilt(gray, float(max_deg), rng, 0)


def tilt_grey(gray: np.ndarray, max_deg: Level, rng: np.random.Generator) -> np.ndarray:
    """The same tilt with the corners filled with the image's median grey (a scanner's fill)."""
    return _tilt(gray, float(max_deg), rng, int(np.median(gray)))


def flip(gray: np.ndarray, axis: Level, rng: np.random.Generator) -> np.ndarray:
    """Mirror left-right, top-bottom or both."""
    return {"horizontal": gray[:, ::-1], "vertical": gray[::-1], "both": gray[::-1, ::-1]}[str(axis)]


def zoom(gray: np.ndarray, keep: Level, rng: np.random.Generator) -> np.ndarray:
    """A centre crop keeping `keep` of each side (tight collimation, a zoomed export)."""
    h, w = gray.shape
    ch, cw = max(32, round(h * float(keep))), max(32, round(w * float(keep)))
    top, left = (h - ch) // 2, (w - cw) // 2
    return gray[top:top + ch, left:left + cw]


def border(gray: np.ndarray, share: Level, rng: np.random.Generator) -> np.ndarray:
    """A black frame adding `share` of each side around the image (a film on a light box)."""
    h, w = gray.shape
    py, px = round(h * float(share) / 2), round(w * float(share) / 2)
    return cv2.copyMakeBorder(gray, py, py, px, px, cv2.BORDER_CONSTANT, value=0)


def downscale(gray: np.ndarray, short_side: Level, rng: np.random.Generator) -> np.ndarray:
    """Shrink so the short side is `level` pixels (a phone or web-page copy); never enlarges."""
    h, w = gray.shape
    f = min(1.0, int(short_side) / min(h, w))
    return cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def jpeg(gray: np.ndarray, quality: Level, rng: np.random.Generator) -> np.ndarray:
    """Save and reload as JPEG at the given quality (lossy PACS or e-mail export)."""
    ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed at quality {quality}")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def gamma(gray: np.ndarray, g: Level, rng: np.random.Generator) -> np.ndarray:
    """Display gamma: < 1 brightens the mid-tones, > 1 darkens them."""
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** float(g), 0, 255).astype(np.uint8)
    return lut[gray]


def contrast(gray: np.ndarray, factor: Level, rng: np.random.Generator) -> np.ndarray:
    """Flatten the contrast around the mean (an under-exposed or washed-out film)."""
    mean = float(gray.mean())
    return np.clip((gray.astype(np.float32) - mean) * float(factor) + mean, 0, 255)


def window(gray: np.ndarray, pct: Level, rng: np.random.Generator) -> np.ndarray:
    """A narrower display window: the pct–(100 − pct) percentiles stretched to black..white."""
    lo, hi = np.percentile(gray, [float(pct), 100 - float(pct)])
    if hi <= lo:
        return gray
    return np.clip((gray.astype(np.float32) - lo) * 255.0 / (hi - lo), 0, 255)


def invert(gray: np.ndarray, level: Level, rng: np.random.Generator) -> np.ndarray:
    """Bone dark, background light (MONOCHROME1 shown raw, or an inverted viewer export)."""
    return 255 - gray


def noise(gray: np.ndarray, sigma: Level, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of standard deviation `level` grey levels (quantum mottle)."""
    return np.clip(gray.astype(np.float32) + rng.normal(0, float(sigma), gray.shape), 0, 255)


def blur(gray: np.ndarray, sigma: Level, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of `level` pixels per 300 pixels of short side (motion, a soft copy)."""
    s = float(sigma) * min(gray.shape) / 300
    return cv2.GaussianBlur(gray, (0, 0), sigmaX=s)


def _stamp(gray: np.ndarray, n: int, rng: np.random.Generator, lines: bool) -> np.ndarray:
    out = gray.copy()
    h, w = out.shape
    scale = max(0.4, min(h, w) / 400)
    for _ in range(n):
        text = " ".join(rng.choice(WORDS, int(rng.integers(3, 7)))) if lines else str(rng.choice(WORDS[:4]))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale * (1 if lines else 1.6), 2)
        x = int(rng.uniform(0, max(1, w - tw)))
        y = int(rng.uniform(th + 2, max(th + 3, h - 2)))
        if not lines:
            cv2.rectangle(out, (x - 3, y - th - 3), (x + tw + 3, y + 3), 0, -1)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale * (1 if lines else 1.6), 255, 2,
                    cv2.LINE_AA)
    return out


def markers(gray: np.ndarray, n: Level, rng: np.random.Generator) -> np.ndarray:
    """Burned-in side markers (L, R, AP, PA in white on a black box), `level` of them."""
    return _stamp(gray, int(n), rng, lines=False)


def text(gray: np.ndarray, n: Level, rng: np.random.Generator) -> np.ndarray:
    """Burned-in annotation lines (ID, date, view, site), `level` of them."""
    return _stamp(gray, int(n), rng, lines=True)


_CATALOGUE = [
    Shift("turn", (90, 180, 270), turn, "turned by 90°, 180° or 270°"),
    Shift("tilt_black", (5, 15, 25), tilt_black, "tilted at random within ±N°, black corners"),
    Shift("tilt_grey", (5, 15, 25), tilt_grey, "tilted at random within ±N°, grey corners"),
    Shift("flip", ("horizontal", "vertical", "both"), flip, "mirrored"),
    Shift("zoom", (0.85, 0.7, 0.55), zoom, "centre crop keeping N of each side"),
    Shift("border", (0.1, 0.25, 0.5), border, "black border adding N of each side"),
    Shift("downscale", (224, 160, 112), downscale, "downscaled to an N-px short side"),
    Shift("jpeg", (50, 20, 10), jpeg, "saved as JPEG at quality N"),
    Shift("gamma_bright", (0.8, 0.6, 0.45), gamma, "gamma N (brighter mid-tones)"),
    Shift("gamma_dark", (1.25, 1.6, 2.2), gamma, "gamma N (darker mid-tones)"),
    Shift("contrast", (0.8, 0.6, 0.4), contrast, "contrast scaled by N"),
    Shift("window", (2, 5, 10), window, "display window at the N–(100−N) percentiles"),
    Shift("invert", ("inverted",), invert, "inverted (bone dark)"),
    Shift("noise", (4, 10, 20), noise, "Gaussian noise of N grey levels"),
    Shift("blur", (1.0, 2.0, 3.5), blur, "Gaussian blur of N px per 300 px"),
    Shift("markers", (1, 3, 6), markers, "N burned-in side markers"),
    Shift("text", (2, 5, 10), text, "N burned-in lines of text"),
]
SHIFTS: dict[str, Shift] = {s.name: s for s in _CATALOGUE}


def get_shift(name: str) -> Shift:
    """Look a shift up by name; ValueError names the unknown one and the choices."""
    try:
        return SHIFTS[name]
    except KeyError:
        raise ValueError(f"unknown shift {name!r}; choose from {sorted(SHIFTS)}") from None


def apply_shift(gray: np.ndarray, name: str, level: Level, seed: int = 0, index: int = 0) -> np.ndarray:
    """One shifted copy of a uint8 grayscale image, reproducible from (seed, name, level, index)."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 grayscale image, got {gray.dtype} {gray.shape}")
    return get_shift(name)(gray, level, shift_rng(seed, name, level, index))


def random_shift(gray: np.ndarray, rng: np.random.Generator, max_level: int = 3,
                 names: Sequence[str] = ()) -> np.ndarray:
    """A shift of the catalogue (or of `names`) at one of its first `max_level` levels (1 = mild only,
    2 = up to the middle one, 3 = all), both drawn uniformly (training augmentation)."""
    if max_level < 1:
        raise ValueError(f"max_level must be at least 1, got {max_level}")
    names = sorted(names) if names else sorted(SHIFTS)
    shift = SHIFTS[names[int(rng.integers(0, len(names)))]]
    return shift(gray, shift.levels[int(rng.integers(0, min(len(shift.levels), max_level)))], rng)
