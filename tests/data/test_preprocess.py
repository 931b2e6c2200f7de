"""Preprocessing, augmentation and cache keys: shapes, determinism, domain errors."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.augment import AugmentConfig, augment
from core.data.fracatlas import draw_boxes, read_boxes
from core.data.preprocess import PreprocessConfig, letterbox, model_view, pad_square, preprocess, unletterbox
from core.training.stem_cache import cache_key, view_of


@pytest.mark.parametrize("canny", ["none", "blend", "stack"])
def test_preprocess_shape_and_normalisation(xray_gray, canny):
    cfg = PreprocessConfig(size=128, canny=canny)
    x, box = preprocess(xray_gray, cfg)
    assert x.shape == (3, 128, 128) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0  # mean = std = 0.5
    view, _ = model_view(xray_gray, cfg)
    if canny == "stack":
        assert set(np.unique(view[..., 2])) <= {0, 255} and not np.array_equal(view[..., 0], view[..., 2])
    else:
        assert np.array_equal(view[..., 0], view[..., 2])
    assert box.height == 128 and box.width < 128  # portrait image: padded left and right


def test_canny_changes_the_picture(xray_gray):
    plain, _ = model_view(xray_gray, PreprocessConfig(size=128))
    edged, _ = model_view(xray_gray, PreprocessConfig(size=128, canny="blend"))
    assert np.abs(plain.astype(int) - edged.astype(int)).mean() > 1


def test_letterbox_round_trip(xray_gray):
    resized, box = letterbox(xray_gray, 96)
    square = pad_square(resized, box, 96).astype(np.float32)
    back = unletterbox(square, box, xray_gray.shape)
    assert back.shape == xray_gray.shape
    assert np.abs(back - xray_gray).mean() < 12  # lossy only through the resize


@pytest.mark.parametrize("bad", [{"canny": "sobel"}, {"size": 8}, {"canny_weight": 2.0}])
def test_config_domain_errors_name_the_value(bad):
    with pytest.raises(ValueError, match=str(list(bad.values())[0])):
        PreprocessConfig(**bad)


def test_config_round_trips_through_a_card():
    cfg = PreprocessConfig(size=224, canny="stack", mean=(0.1, 0.2, 0.3))
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg


def test_augment_is_deterministic_and_keeps_the_image(xray_gray):
    a = augment(xray_gray, np.random.default_rng([0, 1, 2]))
    b = augment(xray_gray, np.random.default_rng([0, 1, 2]))
    c = augment(xray_gray, np.random.default_rng([0, 1, 3]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.uint8 and min(a.shape) >= 0.85 * min(xray_gray.shape)
    assert np.array_equal(view_of(xray_gray, "aug3", 0, 5), view_of(xray_gray, "aug3", 0, 5))
    assert np.array_equal(view_of(xray_gray, "flip", 0, 0), xray_gray[:, ::-1])
    with pytest.raises(ValueError, match="unknown view 'rot'"):
        view_of(xray_gray, "rot", 0, 0)


def test_cache_key_changes_with_everything_that_matters():
    cfg = PreprocessConfig()
    base = cache_key("m", "sha", cfg, ["a", "b"], "aug0", 0)
    assert base == cache_key("m", "sha", cfg, ["a", "b"], "aug0", 0)
    others = [cache_key("m", "sha", cfg.with_(canny="blend"), ["a", "b"], "aug0", 0),
              cache_key("m", "sha", cfg, ["a", "c"], "aug0", 0), cache_key("m", "sha", cfg, ["a", "b"], "aug1", 0),
              cache_key("m", "sha2", cfg, ["a", "b"], "aug0", 0), cache_key("m", "sha", cfg, ["a", "b"], "aug0", 1),
              cache_key("m", "sha", cfg, ["a", "b"], "aug0", 0, AugmentConfig(shift_share=0.5)),
              cache_key("m", "sha", cfg, ["a", "b"], "aug0", 0, AugmentConfig(shift_share=0.5, shift_max_level=2)),
              cache_key("m", "sha", cfg, ["a", "b"], "aug0", 0, AugmentConfig(shift_share=0.5, shift_names=("noise",)))]
    assert base not in others and len(set(others)) == len(others)
    assert base == cache_key("m", "sha", cfg, ["a", "b"], "aug0", 0, AugmentConfig(shift_share=0.0))
    assert base == "m-aug0-c77eb1bb573e8c2f"  # the key the code before shift_max_level gave: caches stay valid


def test_shift_augmentation_draws_from_the_catalogue_only_when_asked(xray_gray):
    """shift_share 0 leaves every view as before (no extra draw); 1 shifts every view, reproducibly."""
    plain = augment(xray_gray, np.random.default_rng([0, 1, 2]), AugmentConfig())
    assert np.array_equal(plain, augment(xray_gray, np.random.default_rng([0, 1, 2]), AugmentConfig(shift_share=0.0)))
    shifted = [augment(xray_gray, np.random.default_rng([0, 1, i]), AugmentConfig(shift_share=1.0)) for i in range(8)]
    again = [augment(xray_gray, np.random.default_rng([0, 1, i]), AugmentConfig(shift_share=1.0)) for i in range(8)]
    assert all(np.array_equal(a, b) for a, b in zip(shifted, again))
    mild = [augment(xray_gray, np.random.default_rng([0, 1, i]), AugmentConfig()) for i in range(8)]
    assert sum(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(shifted, mild)) == 8
    with pytest.raises(ValueError, match="shift_share"):
        from core.training.config import TrainConfig

        TrainConfig(model="custom_cnn", shift_share=1.5)


def test_boxes_are_drawn(sample_dir, xray_gray):
    boxes = read_boxes(sample_dir / "fracture_boxes_coco.json")
    assert sum(len(v) for v in boxes.values()) == 29
    rgb = draw_boxes(xray_gray, [(10, 10, 50, 40)])
    assert tuple(rgb[10, 30]) == (255, 64, 64) and tuple(rgb[30, 30]) == (xray_gray[30, 30],) * 3
