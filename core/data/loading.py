"""Load PNG, JPEG, TIFF and DICOM files into one 8-bit grayscale array plus metadata."""
from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.data.dicom_header import body_part_warning, check_modality
from core.errors import (
    CorruptImageError,
    DicomError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    UnsupportedImageError,
)

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 32
DICOM_MAGIC_OFFSET = 128


@dataclass(frozen=True)
class LoadedImage:
    """A grayscale uint8 image (H, W) and what was learnt while reading it."""

    pixels: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def load_image(source: str | Path | bytes, name: str | None = None) -> LoadedImage:
    """Read a file path or raw bytes into a LoadedImage; raise an InputError subclass on failure."""
    data, name = _read_bytes(source, name)
    if _is_dicom(data):
        pixels, meta = _load_dicom(data)
    else:
        pixels, meta = _load_raster(data)
    _check_size(pixels.shape)
    meta.update(name=name, height=int(pixels.shape[0]), width=int(pixels.shape[1]))
    return LoadedImage(np.ascontiguousarray(pixels), meta)


def _read_bytes(source: str | Path | bytes, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "upload"
    else:
        path = Path(source)
        if not path.is_file():
            raise NotAnImageError(f"File not found: {path.name}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageTooLargeError(_too_big_message(size))
        data, name = path.read_bytes(), name or path.name
    if len(data) == 0:
        raise NotAnImageError("This file is empty (0 bytes).")
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(_too_big_message(len(data)))
    return data, name


def _too_big_message(size: int) -> str:
    return (f"This file is too large ({size / 2**20:.1f} MB); "
            f"the limit is {MAX_FILE_BYTES / 2**20:.0f} MB.")


def _check_size(shape: tuple[int, ...]) -> None:
    h, w = shape[:2]
    if h * w > MAX_PIXELS:
        raise ImageTooLargeError(
            f"This image is too large ({h * w / 1e6:.1f} megapixels, {w}×{h}); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels.")
    if min(h, w) < MIN_SIDE:
        raise ImageTooSmallError(
            f"This image is too small ({w}×{h} pixels); a radiograph needs at least "
            f"{MIN_SIDE} pixels on each side.")


def _is_dicom(data: bytes) -> bool:
    return data[DICOM_MAGIC_OFFSET:DICOM_MAGIC_OFFSET + 4] == b"DICM"


def _open_pil(data: bytes) -> Image.Image:
    """Open with Pillow, turning every Pillow failure into a clear InputError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            _check_size((im.height, im.width))
            return im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(
            "This image declares an enormous size (a possible decompression bomb); "
            "it was not opened.") from exc
    except UnidentifiedImageError as exc:
        kind = _sniff_kind(data)
        raise NotAnImageError(f"This file is not an image{kind}.") from exc


def _sniff_kind(data: bytes) -> str:
    """Name common non-image formats so the message can say what the file is."""
    signatures = {b"%PDF": " (it is a PDF document)", b"PK\x03\x04": " (it is a ZIP archive)",
                  b"\x7fELF": " (it is a program)", b"GIF8": " (an unreadable GIF)"}
    for magic, label in signatures.items():
        if data.startswith(magic):
            return label
    head = data[:512]
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return " (it contains plain text)"
    return ""


def _load_raster(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    im = _open_pil(data)
    fmt = im.format or "unknown"
    if getattr(im, "n_frames", 1) > 1:
        raise UnsupportedImageError(
            f"This {fmt} file holds {im.n_frames} frames (an animation or a multi-page file); "
            "please upload a single radiograph.")
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(
            f"This {fmt} file is damaged or incomplete (truncated?) and cannot be read.") from exc
    chroma = _chroma(im)
    meta = {"format": fmt, "mode": im.mode, "colour": chroma > 3.0, "chroma": chroma}
    return _to_gray_uint8(im), meta


def _chroma(im: Image.Image) -> float:
    """Mean distance of a pixel's channels from their grey (0 for gray stored as RGB)."""
    if im.mode not in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LAB", "HSV", "PA"):
        return 0.0
    rgb = np.asarray(im.convert("RGB"), dtype=np.int16)[::4, ::4]
    return float(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean())


def _to_gray_uint8(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to uint8 grayscale, scaling high bit depths."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return scale_to_uint8(np.asarray(im.convert("I") if im.mode != "F" else im))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = _flatten_alpha(im)
    return np.asarray(im.convert("L"), dtype=np.uint8)


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Composite a transparent image over black, as a viewer shows a radiograph."""
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale integer data by its container bit depth (8/10/12/14/16 bits) to uint8."""
    arr = np.asarray(arr, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or not np.isfinite(hi):
        return window_to_uint8(arr, lo, hi)
    bits = next((b for b in (8, 10, 12, 14, 16, 32) if hi < 2 ** b), 32)
    return np.clip(np.rint(arr * 255.0 / (2 ** bits - 1)), 0, 255).astype(np.uint8)


def window_to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly to [0, 255]."""
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    out = (np.asarray(arr, dtype=np.float64) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _load_dicom(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise DicomError("This DICOM file is damaged and cannot be read.") from exc
    if "PixelData" not in ds:
        raise DicomError("This DICOM has no pixel data (it may be a report or a structured document).")
    check_modality(str(ds.get("Modality", "")))
    arr = _dicom_pixels(ds)
    meta = {"format": "DICOM", "mode": str(ds.get("PhotometricInterpretation", "")),
            "colour": False, "chroma": 0.0, "modality": str(ds.get("Modality", "")),
            "body_part": str(ds.get("BodyPartExamined", "")), "view_position": str(ds.get("ViewPosition", ""))}
    meta["warnings"] = [w for w in [body_part_warning(meta["body_part"])] if w]
    return arr, meta


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library logger that prints its own tracebacks; we raise a clear error instead."""
    lg = logging.getLogger(logger)
    old = lg.level
    lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        lg.setLevel(old)


def _dicom_pixels(ds: Any) -> np.ndarray:
    """Decoded, rescaled, VOI-windowed and (for MONOCHROME1) inverted 8-bit pixels."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        with _quiet("pydicom"):
            raw = ds.pixel_array
    except (RuntimeError, NotImplementedError, ValueError, AttributeError, OSError) as exc:
        log.info("DICOM decoding failed: %s", exc)
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        label = getattr(syntax, "name", str(syntax))
        raise DicomError(
            f"This DICOM's pixel data (compressed as '{label}') cannot be decoded: it is damaged, "
            "or no installed decoder reads this compression.") from exc
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise UnsupportedImageError("This DICOM holds several frames; please upload a single radiograph.")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if not photometric.startswith("MONOCHROME"):
        raise DicomError(f"This DICOM is a colour image ({photometric}), not a radiograph.")
    arr = apply_modality_lut(raw, ds).astype(np.float64)
    windowed = "WindowCenter" in ds or "VOILUTSequence" in ds
    if windowed:
        arr = np.asarray(apply_voi_lut(arr, ds, prefer_lut=True), dtype=np.float64)
    lo, hi = _dicom_range(ds, arr, windowed)
    out = window_to_uint8(arr, lo, hi)
    return 255 - out if photometric == "MONOCHROME1" else out


def _dicom_range(ds: Any, arr: np.ndarray, windowed: bool) -> tuple[float, float]:
    """The value range that maps to black..white: the stored bit range (rescaled as pydicom's
    windowing does) unless a VOI LUT table or an unwindowed rescale calls for min–max."""
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    rescaled = slope != 1 or intercept != 0
    if "VOILUTSequence" in ds or (rescaled and not windowed):
        return float(arr.min()), float(arr.max())
    bits = int(ds.get("BitsStored", 8))
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2 ** bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    if rescaled and "ModalityLUTSequence" not in ds:
        lo, hi = lo * slope + intercept, hi * slope + intercept
    return lo, hi
