"""Broken, hostile and awkward files built in memory from a clean radiograph."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

from core import errors


def png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


def png16(gray: np.ndarray) -> bytes:
    """The same image as 16-bit grayscale (x·257 keeps it exactly)."""
    buf = io.BytesIO()
    Image.fromarray(gray.astype(np.uint16) * 257).save(buf, format="PNG")
    return buf.getvalue()


def exif_rotated(gray: np.ndarray) -> bytes:
    """A JPEG whose pixels are stored rotated 90°, with EXIF orientation 6 telling viewers to turn it back."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(gray, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(stored, exif=exif.tobytes())


def dicom(gray: np.ndarray, monochrome1: bool = False, pixels: bool = True,
          syntax: str = "1.2.840.10008.1.2.1") -> bytes:
    """A minimal secondary-capture DICOM of the image (optionally MONOCHROME1 or without pixels)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName = "DX", "Test^Anonymous"
    if pixels:
        data = (255 - gray) if monochrome1 else gray
        ds.Rows, ds.Columns = gray.shape
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 8, 8, 7
        ds.PixelRepresentation = 0
        ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
        ds.PixelData = data.astype(np.uint8).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def compressed_dicom(gray: np.ndarray) -> bytes:
    """A DICOM that claims JPEG 2000 with encapsulated garbage: no installed decoder reads it."""
    import pydicom
    from pydicom.encaps import encapsulate
    ds = pydicom.dcmread(io.BytesIO(dicom(gray)))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(200)])
    ds["PixelData"].VR = "OB"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def bomb_png() -> bytes:
    """A valid PNG header declaring 100 000 × 100 000 pixels with almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def animated_gif(gray: np.ndarray) -> bytes:
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def multipage_tiff(gray: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="TIFF", save_all=True, append_images=[Image.fromarray(gray)])
    return buf.getvalue()


def zip_file() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("xray.png", b"not really")
    return buf.getvalue()


def pdf_file() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def large_image() -> bytes:
    """A 50-megapixel grayscale PNG (compresses to a few hundred kB)."""
    return png(np.zeros((7100, 7100), np.uint8))


# name → (builder from a clean uint8 image, expected error class or None when it must load)
CASES: dict[str, tuple[Callable[[np.ndarray], bytes], type | None]] = {
    "zero_byte": (lambda g: b"", errors.NotAnImageError),
    "text_renamed_png": (lambda g: b"patient notes: left wrist pain\n" * 20, errors.NotAnImageError),
    "truncated_jpeg": (lambda g: jpeg(Image.fromarray(g))[:2000], errors.CorruptImageError),
    "truncated_png": (lambda g: png(g)[: len(png(g)) // 2], errors.CorruptImageError),
    "decompression_bomb": (lambda g: bomb_png(), errors.ImageTooLargeError),
    "fifty_megapixels": (lambda g: large_image(), errors.ImageTooLargeError),
    "one_by_one": (lambda g: png(np.zeros((1, 1), np.uint8)), errors.ImageTooSmallError),
    "animated_gif": (animated_gif, errors.UnsupportedImageError),
    "multipage_tiff": (multipage_tiff, errors.UnsupportedImageError),
    "dicom_no_pixels": (lambda g: dicom(g, pixels=False), errors.DicomError),
    "dicom_undecodable": (compressed_dicom, errors.DicomError),
    "pdf": (lambda g: pdf_file(), errors.NotAnImageError),
    "zip": (lambda g: zip_file(), errors.NotAnImageError),
    "elf_binary": (lambda g: b"\x7fELF" + bytes(600), errors.NotAnImageError),
    "png_16bit": (png16, None),
    "exif_rotated": (exif_rotated, None),
    "dicom_monochrome1": (lambda g: dicom(g, monochrome1=True), None),
    "dicom_monochrome2": (lambda g: dicom(g), None),
    "cmyk_jpeg": (lambda g: jpeg(Image.fromarray(g).convert("CMYK")), None),
    "rgba_png": (lambda g: png(np.dstack([g, g, g, np.full_like(g, 255)]), "RGBA"), None),
    "palette_png": (lambda g: _palette(g), None),
    "jpeg_named_png": (lambda g: jpeg(Image.fromarray(g)), None),
}


def _palette(g: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(g).convert("P").save(buf, format="PNG")
    return buf.getvalue()
