"""Loading every supported format, and a clear error for every kind of broken file."""
from __future__ import annotations

import numpy as np
import pytest

from core.data import loading
from core.data.loading import load_image, scale_to_uint8
from core.errors import ImageTooLargeError, InputError
from tests.badfiles import CASES, png

VALID_SAME_PIXELS = {"png_16bit", "exif_rotated", "dicom_monochrome1", "dicom_monochrome2",
                     "rgba_png", "jpeg_named_png"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_case_loads_or_fails_clearly(case, xray_gray):
    build, expected = CASES[case]
    data = build(xray_gray)
    if expected is None:
        img = load_image(data, f"{case}.png")
        assert img.pixels.dtype == np.uint8 and img.pixels.ndim == 2
        assert img.pixels.shape == xray_gray.shape
    else:
        with pytest.raises(expected) as info:
            load_image(data, f"{case}.png")
        message = str(info.value)
        assert message and "Traceback" not in message and len(message) < 300
        assert isinstance(info.value, InputError)


@pytest.mark.parametrize("case", sorted(VALID_SAME_PIXELS))
def test_valid_variants_give_the_clean_pixels(case, xray_gray):
    tolerance = 3 if case in ("jpeg_named_png", "exif_rotated") else 0
    img = load_image(CASES[case][0](xray_gray))
    diff = np.abs(img.pixels.astype(int) - xray_gray.astype(int))
    assert diff.mean() <= tolerance


def test_file_over_size_limit(tmp_path, monkeypatch, xray_gray):
    path = tmp_path / "big.png"
    path.write_bytes(png(xray_gray))
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ImageTooLargeError, match="too large"):
        load_image(path)
    with pytest.raises(ImageTooLargeError):
        load_image(path.read_bytes())


def test_missing_path_is_clear(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_colour_is_detected():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200
    assert load_image(png(rgb)).meta["colour"] is True
    gray_as_rgb = np.repeat(np.arange(64, dtype=np.uint8)[None, :, None], 64, 0).repeat(3, 2)
    assert load_image(png(gray_as_rgb)).meta["colour"] is False


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_scale_to_uint8_by_container_depth(bits):
    top = 2 ** bits - 1
    out = scale_to_uint8(np.array([[0, top // 2, top]]))
    assert out.tolist() == [[0, 127, 255]] or out.tolist() == [[0, 128, 255]]


def test_dicom_window_and_rescale_are_applied(xray_gray):
    import io

    import pydicom

    from tests.badfiles import dicom

    ds = pydicom.dcmread(io.BytesIO(dicom(xray_gray)))
    stored = xray_gray.astype(np.uint16) * 4 + 100  # 12-bit data with an offset
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = stored.tobytes()
    ds.RescaleSlope, ds.RescaleIntercept = 1, -100  # modality LUT removes the offset
    ds.WindowCenter, ds.WindowWidth = 512, 1024  # shows 0…1023, i.e. the original 0…255 × 4
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    img = load_image(buf.getvalue())
    assert np.abs(img.pixels.astype(int) - xray_gray.astype(int)).mean() < 2.0
