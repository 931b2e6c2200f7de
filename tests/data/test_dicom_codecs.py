"""Transfer syntaxes common in PACS decode through pydicom's pixel-data plugins (pylibjpeg and friends)."""
from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000, JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, RLELossless

from core.data.loading import load_image
from core.errors import DicomError
from scripts.sample_dicom import SAMPLES, sample_table, to_bytes, with_jpeg_baseline
from tests.pacs_helpers import study_of, undecodable, with_jpeg_lossless

LOSSLESS = {"jpeg2000_lossless": lambda ds: ds.compress(JPEG2000Lossless),
            "rle_lossless": lambda ds: ds.compress(RLELossless),
            "jpegls_lossless": lambda ds: ds.compress(JPEGLSLossless),
            "jpeg_lossless_sv1": with_jpeg_lossless}
EXPECTED = {"jpeg2000_lossless": JPEG2000Lossless, "rle_lossless": RLELossless,
            "jpegls_lossless": JPEGLSLossless, "jpeg_lossless_sv1": JPEGLosslessSV1}


@pytest.mark.parametrize("case", LOSSLESS)
def test_lossless_syntaxes_give_the_exact_pixels(case):
    ds = study_of(0)
    original = ds.pixel_array.copy()
    LOSSLESS[case](ds)
    data = to_bytes(ds)
    assert pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == EXPECTED[case]
    assert np.array_equal(load_image(data).pixels, original)


def test_jpeg_baseline_decodes_like_the_jpeg_file():
    from PIL import Image

    name = sample_table().image.iloc[0]
    jpeg = (SAMPLES / "images" / name).read_bytes()
    data = to_bytes(with_jpeg_baseline(study_of(0), jpeg))
    assert pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    loaded = load_image(data).pixels
    reference = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.int16)
    assert loaded.shape == reference.shape
    assert np.abs(loaded.astype(np.int16) - reference).max() <= 2  # IDCTs may differ by a grey level


def test_jpeg2000_lossy_is_close():
    ds = study_of(2)
    original = ds.pixel_array.astype(np.int16)
    ds.compress(JPEG2000, j2k_psnr=[45])
    loaded = load_image(to_bytes(ds)).pixels.astype(np.int16)
    assert 0 < np.abs(loaded - original).mean() < 2.0


def test_undecodable_pixels_get_a_clear_message():
    with pytest.raises(DicomError, match="cannot be decoded"):
        load_image(to_bytes(undecodable(study_of(0))))

