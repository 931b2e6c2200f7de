"""The shift catalogue: every entry at every level gives a valid, reproducible, actually changed image."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.shifts import SHIFTS, apply_shift, get_shift

CASES = [(s.name, level) for s in SHIFTS.values() for level in s.levels]


@pytest.mark.parametrize(("name", "level"), CASES)
def test_every_shift_is_valid_reproducible_and_changes_the_image(name, level, xray_gray):
    out = apply_shift(xray_gray, name, level, seed=3, index=7)
    assert out.dtype == np.uint8 and out.ndim == 2 and min(out.shape) >= 32
    assert np.array_equal(out, apply_shift(xray_gray, name, level, seed=3, index=7))
    changed = out.shape != xray_gray.shape or np.abs(out.astype(int) - xray_gray).mean() > 0.5
    assert changed, f"{name} at {level} left the image as it was"


def test_random_shifts_differ_between_images_and_seeds(xray_gray):
    a = apply_shift(xray_gray, "noise", 10, seed=0, index=0)
    assert not np.array_equal(a, apply_shift(xray_gray, "noise", 10, seed=0, index=1))
    assert not np.array_equal(a, apply_shift(xray_gray, "noise", 10, seed=1, index=0))


def test_random_shift_draws_only_up_to_the_asked_level(xray_gray, monkeypatch):
    from dataclasses import replace

    from core.data import shifts

    drawn: dict[int, set[tuple[str, object]]] = {1: set(), 2: set(), 3: set()}
    for max_level, seen in drawn.items():
        for s in shifts._CATALOGUE:
            name = s.name
            record = (lambda g, level, rng, name=name, seen=seen: seen.add((name, level)) or g)
            monkeypatch.setitem(shifts.SHIFTS, name, replace(s, fn=record))
        for i in range(2000):
            shifts.random_shift(xray_gray, np.random.default_rng([5, i]), max_level)
    levels = {s.name: s.levels for s in shifts._CATALOGUE}
    for max_level, seen in drawn.items():
        assert seen == {(n, lv) for n, lvs in levels.items() for lv in lvs[:max_level]}, max_level
    with pytest.raises(ValueError, match="max_level must be at least 1, got 0"):
        shifts.random_shift(xray_gray, np.random.default_rng(0), 0)


def test_random_shift_draws_only_from_the_named_shifts(xray_gray, monkeypatch):
    from dataclasses import replace

    from core.data import shifts

    seen: set[str] = set()
    for s in shifts._CATALOGUE:
        monkeypatch.setitem(shifts.SHIFTS, s.name, replace(s, fn=lambda g, lv, rng, n=s.name: seen.add(n) or g))
    for i in range(300):
        shifts.random_shift(xray_gray, np.random.default_rng([2, i]), 2, ("noise", "jpeg", "text"))
    assert seen == {"noise", "jpeg", "text"}


def test_train_config_names_an_unknown_shift():
    from core.training.config import TrainConfig

    tc = TrainConfig(model="efficientnet_lite0", shift_share=0.5, shift_names="noise, jpeg")
    assert tc.augment_config().shift_names == ("noise", "jpeg")
    with pytest.raises(ValueError, match=r"unknown shifts \['nois'\]"):
        TrainConfig(model="efficientnet_lite0", shift_names="nois,jpeg")


def test_turns_and_inversion_are_exact(xray_gray):
    assert np.array_equal(apply_shift(xray_gray, "turn", 180), xray_gray[::-1, ::-1])
    assert np.array_equal(apply_shift(apply_shift(xray_gray, "invert", "inverted"), "invert", "inverted"), xray_gray)


def test_domain_errors_name_the_bad_value(xray_gray):
    with pytest.raises(ValueError, match="sharpen"):
        get_shift("sharpen")
    with pytest.raises(ValueError, match="45"):
        apply_shift(xray_gray, "turn", 45)
    with pytest.raises(ValueError, match="float64"):
        apply_shift(xray_gray.astype(float), "turn", 90)


def test_middle_level_is_the_stated_target_level():
    assert get_shift("jpeg").middle == 20 and get_shift("invert").middle == "inverted"
