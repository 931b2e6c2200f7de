"""Inverted radiographs are recognised and turned back; radiographs as they are never are."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.loading import load_image
from core.data.polarity import frame_median, looks_inverted, upright


def test_bundled_samples_are_left_alone_and_caught_when_inverted(sample_dir):
    grays = [load_image(p).pixels for p in sorted((sample_dir / "images").glob("*.jpg"))]
    assert not any(looks_inverted(g) for g in grays)
    assert all(upright(g)[0] is g for g in grays)  # untouched, not copied
    caught = [upright(255 - g) for g in grays]
    assert np.mean([flipped for _, flipped in caught]) >= 0.9
    assert all(np.array_equal(back, g) for (back, flipped), g in zip(caught, grays) if flipped)


def test_a_light_frame_alone_is_not_enough():
    gray = np.zeros((200, 200), np.uint8)
    gray[:12], gray[-12:], gray[:, :12], gray[:, -12:] = 255, 255, 255, 255  # a white border, dark image
    assert frame_median(gray) == 255 and not looks_inverted(gray)
    assert looks_inverted(255 - np.zeros((200, 200), np.uint8))


def test_bad_input_names_what_it_got():
    with pytest.raises(ValueError, match="float64"):
        looks_inverted(np.zeros((10, 10)))
