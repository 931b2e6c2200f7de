"""Shared by the PACS tests: a real local Orthanc (skipped when not installed, unless REQUIRE_ORTHANC=1),
radiograph datasets made from the bundled samples, and a JPEG lossless (process 14) encoder."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1, generate_uid

from scripts import orthanc_local
from scripts.sample_dicom import SAMPLES, radiograph, sample_table

UNDECODABLE_J2K = b"\xff\x4f\xff\x51" + bytes(200)


def orthanc_server(root: Path, **options) -> Iterator[orthanc_local.LocalOrthanc]:
    """Start Orthanc under `root` (options go to orthanc_local.start) and stop it after; skip when Orthanc
    is not installed, or fail when REQUIRE_ORTHANC=1 (CI)."""
    reason = orthanc_local.missing()
    if reason:
        if os.environ.get("REQUIRE_ORTHANC") == "1":
            pytest.fail(f"REQUIRE_ORTHANC=1 but {reason}")
        pytest.skip(reason)
    server = orthanc_local.start(root, **options)
    try:
        yield server
    finally:
        server.stop(graceful=False)  # its storage is a temporary folder: no need to wait for a clean shutdown


def sample_pixels(index: int = 0) -> tuple[np.ndarray, str, str]:
    """(pixels, body part, view) of the index-th bundled sample."""
    row = sample_table().iloc[index]
    pixels = np.asarray(Image.open(SAMPLES / "images" / row.image).convert("L"))
    return pixels, row.body_part, row.view


def study_of(index: int, patient: str = "TEST0001", modality: str = "DX", body_part: str | None = None) -> Dataset:
    """A one-image study of the index-th sample (a new study UID every call)."""
    pixels, part, view = sample_pixels(index)
    return radiograph(pixels, patient_id=patient, patient_name=f"Test^Patient {patient[-2:]}",
                      study_uid=generate_uid(), body_part=part if body_part is None else body_part, view=view,
                      modality=modality)


def undecodable(ds: Dataset) -> Dataset:
    """`ds` claiming JPEG 2000 with pixel data no decoder can read."""
    ds.PixelData = encapsulate([UNDECODABLE_J2K])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
    return ds


def with_jpeg_lossless(ds: Dataset) -> Dataset:
    """`ds` with its 8-bit pixels encoded as JPEG lossless, first-order prediction (process 14, SV1)."""
    pixels = ds.pixel_array
    ds.PixelData = encapsulate([jpeg_lossless(pixels)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    return ds


def jpeg_lossless(pixels: np.ndarray) -> bytes:
    """An 8-bit grayscale image as a JPEG lossless bit stream (SOF3, predictor 1, one Huffman table)."""
    x = pixels.astype(np.int32)
    h, w = x.shape
    pred = np.empty_like(x)
    pred[0, 0] = 128
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    frame = bytes([8]) + h.to_bytes(2, "big") + w.to_bytes(2, "big") + b"\x01\x01\x11\x00"  # P, Y, X, 1 component
    huffman = b"\x00" + bytes([0, 0, 0, 9] + [0] * 12) + bytes(range(9))  # categories 0-8, all 4-bit codes
    scan = b"\x01\x01\x00\x01\x00\x00"  # 1 component, table 0, predictor 1, point transform 0
    header = b"\xff\xd8" + _segment(0xC3, frame) + _segment(0xC4, huffman) + _segment(0xDA, scan)
    return header + _entropy_coded((x - pred).ravel()) + b"\xff\xd9"


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def _entropy_coded(diffs: np.ndarray) -> bytes:
    """Each difference as its 4-bit category code (categories 0-8) plus its extra bits; 0xFF byte-stuffed."""
    bits = []
    for d in diffs.tolist():
        size = abs(d).bit_length()
        bits.append(format(size, "04b"))
        if size:
            bits.append(format(d if d > 0 else d - 1 + (1 << size), f"0{size}b")[-size:])
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    out = bytearray()
    for i in range(0, len(stream), 8):
        byte = int(stream[i:i + 8], 2)
        out += b"\xff\x00" if byte == 0xFF else bytes([byte])
    return bytes(out)
