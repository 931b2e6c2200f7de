"""Radiologist boxes follow the image through every shift; a quick run of the localiser suite."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.shifts import SHIFTS, apply_shift
from core.evaluation import localizer_robustness as lr


def test_a_quarter_turn_moves_the_box():
    (box,) = lr.moved_boxes((100, 200), [(10, 20, 30, 40)], "turn", 90, 0, 0)
    # np.rot90 counter-clockwise: column x → row (W - 1 - x), row y → column y
    assert box == (20.0, 200 - 40.0, 40.0, 30.0)


def test_border_and_downscale_move_the_box_with_the_pixels():
    (b,) = lr.moved_boxes((100, 200), [(10, 20, 30, 40)], "border", 0.25, 0, 0)
    assert b == (10 + 25, 20 + 12, 30, 40)  # 25 / 12 px of frame on the left / top (rounded half share)
    (d,) = lr.moved_boxes((320, 640), [(64, 32, 64, 64)], "downscale", 160, 0, 0)
    assert d == pytest.approx((32, 16, 32, 32), abs=1)


def test_a_crop_can_drop_a_box_and_photometric_shifts_leave_it():
    assert lr.moved_boxes((100, 100), [(0, 0, 5, 5)], "zoom", 0.7, 0, 0) == []
    assert lr.moved_boxes((100, 100), [(0, 0, 5, 5)], "jpeg", 20, 0, 0) == [(0, 0, 5, 5)]


@pytest.mark.parametrize("name", sorted(lr.GEOMETRIC))
def test_the_box_lands_where_the_marked_pixels_went(name):
    """Mark the box's pixels in a picture, shift the picture: the moved box covers the bright pixels."""
    level = SHIFTS[name].middle
    gray = np.zeros((120, 160), np.uint8)
    gray[40:70, 50:90] = 255
    shifted = apply_shift(gray, name, level, 0, 3)
    (x, y, w, h) = lr.moved_boxes(gray.shape, [(50, 40, 40, 30)], name, level, 0, 3)[0]
    ys, xs = np.nonzero(shifted > 127)
    assert (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (x, y, w, h)


def test_quick_suite_writes_every_shift(localized, mini_dataset, tmp_path):
    out = tmp_path / "lr.json"
    assert lr.main(["--weights", str(localized / "weights"), "--data", str(mini_dataset), "--split", "test",
                    "--shifts", "turn", "jpeg", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["shift"] for r in report["shifts"]] == ["turn", "jpeg"]
    r = report["shifts"][0]
    assert r["delta"]["ap50"] == pytest.approx(r["ap50"] - report["unshifted"]["ap50"], abs=1e-4)


def test_update_replaces_only_the_named_shifts():
    old = {"split": "test", "n_images": 4, "limit": None, "seed": 0, "localizer_sha256": "a", "unshifted": {"ap50": 0.2},
           "shifts": [{"shift": "turn", "ap50": 0.1}, {"shift": "invert", "ap50": 0.05}], "minutes": 2.0}
    new = old | {"shifts": [{"shift": "invert", "ap50": 0.19}], "minutes": 0.5}
    out = lr.merged(old, new)
    assert [r["ap50"] for r in out["shifts"]] == [0.1, 0.19] and out["updated"] == ["invert"] and out["minutes"] == 2.5
    with pytest.raises(ValueError, match="differs"):
        lr.merged(old, new | {"localizer_sha256": "b"})
