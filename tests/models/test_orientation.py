"""The orientation check: box geometry, the head's rule, its fit on a tiny model, and the predictor reading a
turned image the way it reads the upright one."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import WeightsError
from core.models.cards import WeightsFile
from core.models.orientation import Orientation, OrientationCard, load_orientation, turn, turn_box
from core.training import orientation_fit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
def test_turn_box_follows_the_pixels(k):
    img = np.zeros((30, 50), np.uint8)
    img[4:10, 20:44] = 1  # rows 4..9, columns 20..43: box (20, 4, 44, 10)
    turned = turn(img, k)
    ys, xs = np.nonzero(turned)
    assert turn_box([20, 4, 44, 10], img.shape, k) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _card(threshold=0.5, **kw):
    return OrientationCard("m", "sha", threshold, WeightsFile("orientation.safetensors", "x", 1), **kw)


def test_card_rejects_a_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        _card(1.5)


def test_turns_only_when_as_stored_is_unlikely():
    w, b = np.zeros((4, 3), np.float32), np.zeros(4)
    check = Orientation(_card(0.2), w, b)
    assert check.quarter_turns(np.zeros((2, 3), np.float32)).tolist() == [0, 0]  # 0.25 each: p(stored) ≥ 0.2
    check = Orientation(_card(0.2), w, np.array([0.0, 0.0, 3.0, 0.0]))
    assert check.quarter_turns(np.zeros((1, 3), np.float32)).tolist() == [2]
    check = Orientation(_card(0.01), w, np.array([0.0, 0.0, 3.0, 0.0]))
    assert check.quarter_turns(np.zeros((1, 3), np.float32)).tolist() == [0]


def test_threshold_turns_at_most_the_allowed_share():
    p = np.linspace(0.01, 1, 200)
    t = orientation_fit.choose_threshold(p, 0.02)
    assert (p < t).sum() == 4


def test_turned_views_are_labelled_by_their_turn():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    views, ks = orientation_fit.turned_views([g], seed=0)
    assert ks.tolist() == [0, 1, 2, 3]
    assert [v.shape for v in views] == [(3, 4), (4, 3), (3, 4), (4, 3)]


def test_fewer_turns_per_image_keep_the_mirror_draws_of_the_full_set():
    grays = [np.full((3, 4), i, np.uint8) + np.arange(12, dtype=np.uint8).reshape(3, 4) for i in range(5)]
    full, k_full = orientation_fit.turned_views(grays, seed=0)
    one, k_one = orientation_fit.turned_views(grays, seed=0, per_image=1)
    assert len(one) == 5 and set(k_one.tolist()) <= {0, 1, 2, 3}
    pairs = {(int(k), v.tobytes()) for k, v in zip(k_full, full)}
    assert all((int(k), v.tobytes()) in pairs for k, v in zip(k_one, one))  # each view is one of the full set's
    with pytest.raises(ValueError, match="per_image"):
        orientation_fit.turned_views(grays, seed=0, per_image=0)


@pytest.fixture(scope="module")
def oriented(tmp_path_factory, fused, mini_dataset):
    """The tiny fused weights plus an orientation check fitted on the mini split."""
    root = tmp_path_factory.mktemp("oriented")
    shutil.copytree(fused / "weights", root / "weights")
    (root / "reports").mkdir()
    rc = orientation_fit.main(["--member", "efficientnet_lite0", "--data", str(mini_dataset),
                               "--weights", str(root / "weights"), "--out", str(root / "weights"),
                               "--reports", str(root / "reports"), "--cache-dir", str(root / "cache")])
    assert rc == 0
    return root


def test_fit_writes_a_card_the_predictor_loads(oriented):
    from core.serving.predictor import Predictor

    card = load_orientation(oriented / "weights" / "orientation.json").card
    assert card.member == "efficientnet_lite0" and 0 <= card.threshold <= 1
    assert set(card.metrics["val"]) == {"turned_0", "turned_90", "turned_180", "turned_270"}
    assert json.loads((oriented / "reports" / "orientation.json").read_text())["selection"]
    pred = Predictor(oriented / "weights")
    assert pred.orientation is not None and "orientation" not in [m.name for m in pred.members]


def test_a_check_for_another_member_is_refused(oriented, tmp_path):
    from core.serving.predictor import Predictor

    shutil.copytree(oriented / "weights", tmp_path / "w")
    path = tmp_path / "w" / "orientation.json"
    path.write_text(path.read_text().replace('"member_sha256": "', '"member_sha256": "0'))
    with pytest.raises(WeightsError, match="orientation"):
        Predictor(tmp_path / "w")


def test_predictor_reads_a_turned_image_upright_and_answers_on_it_as_it_came(oriented, tmp_path, xray_gray):
    """A check that always says 'upside down': the verdict on the image equals the plain verdict on the image
    turned 180°, and the boxes land on the image as it came."""
    from core.data.loading import LoadedImage
    from core.serving import wording
    from core.serving.predictor import Predictor

    shutil.copytree(oriented / "weights", tmp_path / "w")
    plain = Predictor(oriented / "weights")
    plain.orientation = None
    always = Predictor(tmp_path / "w")
    always.orientation = Orientation(always.orientation.card, np.zeros_like(always.orientation.weight),
                                     np.array([-9.0, 0.0, 9.0, 0.0]))
    image = LoadedImage(xray_gray, {"name": "x.png"})
    got = always.predict_image(image)
    want = plain.predict_image(LoadedImage(turn(xray_gray, 2), {"name": "x.png"}))
    assert got.probability == pytest.approx(want.probability, abs=1e-6)
    assert wording.auto_turned(2) in got.warnings and got.image["auto_turned_degrees"] == 180
    h, w = xray_gray.shape
    for a, b in zip(got.boxes, want.boxes):
        x0, y0, x1, y1 = b.xyxy
        assert a.xyxy == pytest.approx([w - x1, h - y1, w - x0, h - y0], abs=0.11)
    heat = always.heatmap(xray_gray, "efficientnet_lite0")
    assert heat.shape == xray_gray.shape
    assert np.allclose(heat, turn(plain.heatmap(turn(xray_gray, 2), "efficientnet_lite0"), 2), atol=1e-5)


@pytest.fixture(scope="module")
def shipped():
    from core.serving.predictor import Predictor

    return Predictor(ROOT / "weights")


def test_shipped_check_leaves_every_bundled_sample_as_it_is(shipped, sample_dir):
    from core.data.loading import load_image

    grays = [load_image(p).pixels for p in sorted((sample_dir / "images").glob("*.jpg"))]
    assert shipped.orientation is not None and not shipped.quarter_turns(grays).any()


def test_an_upside_down_upload_gets_the_upright_verdict_and_its_boxes_on_the_upload(shipped, sample_dir):
    """IMG0000483, turned 180° and uploaded as a PNG: the check turns it back (it does on the shipped weights), so the
    verdict equals the upright one, with the warning, and every box is the upright box turned with the image."""
    import cv2

    from core.data.loading import load_image
    from core.serving import wording

    path = sample_dir / "images" / "IMG0000483.jpg"
    gray = load_image(path).pixels
    ok, png = cv2.imencode(".png", turn(gray, 2))
    result, image = shipped.analyse(png.tobytes(), "upside-down.png")
    plain = shipped.predict_source(path)
    assert result.error is None and image.meta.get("auto_turned_degrees") is None  # the upload is shown as it came
    assert result.probability == pytest.approx(plain.probability, abs=1e-6)
    assert result.image["auto_turned_degrees"] == 180 and wording.auto_turned(2) in result.warnings
    h, w = gray.shape
    assert [b.xyxy for b in result.boxes] == [pytest.approx([w - x1, h - y1, w - x0, h - y0], abs=0.11)
                                              for x0, y0, x1, y1 in (b.xyxy for b in plain.boxes)]


def test_the_robustness_suite_reads_images_as_the_predictor_does(oriented, tmp_path, xray_gray):
    from core.evaluation.robustness import batched_logits
    from core.serving.predictor import Predictor

    plain, always = Predictor(oriented / "weights"), Predictor(oriented / "weights")
    plain.orientation = None
    always.orientation = Orientation(always.orientation.card, np.zeros_like(always.orientation.weight),
                                     np.array([-9.0, 0.0, 9.0, 0.0]))
    got, want = batched_logits(always, [xray_gray]), batched_logits(plain, [turn(xray_gray, 2)])
    assert set(got) == set(want) and all(np.allclose(got[k], want[k], atol=1e-6) for k in got)
