"""Localiser training: mirrored boxes, dense targets, the loss, epoch sampling, and a tiny real run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.data.preprocess import PreprocessConfig
from core.training.localizer_fit import VOTES, SplitData, box_loss, epoch_order, flip_box, focal_loss, parse, sides_loss, targets


def test_flip_box_mirrors_about_the_image_width():
    assert flip_box((10, 5, 20, 8), 100) == (70, 5, 20, 8)
    assert flip_box(flip_box((3, 4, 5, 6), 50), 50) == (3, 4, 5, 6)


def _split(view_box=(32, 32, 16, 16)):
    gray = np.zeros((128, 128), np.uint8)
    return SplitData(["a", "b"], [gray, gray], np.array([1, 0]), {"a": [view_box]})


def test_targets_put_one_peak_at_the_box_centre_and_nothing_on_normals():
    t = targets(_split(), "plain", PreprocessConfig(size=128), stride=8)
    assert t["heat"][1].max() == 0 and t["mask"][1].sum() == 0
    i, j = np.unravel_index(t["heat"][0].argmax(), t["heat"][0].shape)
    assert (i, j) == (5, 5)  # centre (40, 40) px / 8 px cells
    assert t["mask"][0, 5, 5] == 1 and t["mask"][0].sum() == 1
    assert t["size"][0, :, 5, 5] == pytest.approx(np.log([2.0, 2.0]))  # 16 px = 2 cells
    flipped = targets(_split(), "flip", PreprocessConfig(size=128), stride=8)
    assert np.unravel_index(flipped["heat"][0].argmax(), (16, 16)) == (5, 11)  # x centre 128 - 40 = 88 px


def test_focal_loss_rewards_the_right_peak():
    heat = torch.zeros(1, 4, 4)
    heat[0, 1, 2] = 1.0
    right = torch.full((1, 4, 4), -8.0)
    right[0, 1, 2] = 8.0
    wrong = torch.full((1, 4, 4), -8.0)
    wrong[0, 3, 0] = 8.0
    assert focal_loss(right, heat).item() < 1e-3
    assert focal_loss(wrong, heat).item() > 5


def test_box_loss_counts_size_and_offset_only_at_centres():
    t = {"heat": torch.zeros(1, 2, 2), "mask": torch.zeros(1, 2, 2), "size": torch.zeros(1, 2, 2, 2),
         "offset": torch.zeros(1, 2, 2, 2)}
    heads = (torch.full((1, 1, 2, 2), -9.0), torch.full((1, 2, 2, 2), 5.0), torch.zeros(1, 2, 2, 2))
    assert box_loss(heads, t, 1.0).item() < 1e-3  # no centre: a wrong size costs nothing
    t["mask"][0, 0, 0] = 1
    assert box_loss(heads, t, 1.0).item() > 5


def test_each_epoch_sees_every_fracture_and_as_many_normals():
    y = np.array([1] * 5 + [0] * 50)
    order = epoch_order(y, 1.0, np.random.default_rng(0))
    assert len(order) == 10 and set(np.flatnonzero(y)) <= set(order) and len(set(order)) == 10
    other = epoch_order(y, 1.0, np.random.default_rng(1))
    assert set(order) != set(other)  # normals drawn afresh


def test_cli_records_the_command():
    fc = parse(["--epochs", "3", "--size", "256"])
    assert fc.epochs == 3 and fc.size == 256 and fc.command.endswith("--epochs 3 --size 256")


def test_a_tiny_run_writes_weights_card_and_box_files(localized):
    card = json.loads((localized / "weights" / "localizer.json").read_text())
    assert card["training"]["epochs_run"] >= 1 and card["init"]["trunk_card"] == "efficientnet_lite0"
    for split in ("val", "test"):
        m = card["metrics"][split]
        assert 0 <= m["ap50"] <= 1 and set(m["froc"]) == {"0.5", "1.0", "2.0"}
        assert m["n_boxes"] > 0 and 0 <= m["pointing"] <= 1
        boxes = json.loads((localized / "reports" / "localizer" / f"{split}_boxes.json").read_text())
        assert len(boxes) == m["n_images"]
    aps = card["training"]["vote_val_ap50"]  # the box-vote radius is chosen on val, as the card's rule says
    assert set(aps) == {str(v) for v in VOTES} and aps[str(card["vote"])] == max(aps.values())
    t = card["thresholds"]
    assert t["balanced"] >= t["high_sensitivity"]  # fewer false boxes allowed at the balanced point
    assert (localized / "reports" / "localizer.json").is_file()
    assert not (localized / "reports" / "cards" / "localizer.json").exists()  # the page reads cards/ as classifiers


def test_sides_targets_weight_the_cells_inside_the_box_and_nothing_on_normals():
    t = targets(_split(), "plain", PreprocessConfig(size=128), stride=8, regression="sides")
    assert set(t) == {"heat", "box", "weight"}
    assert t["weight"][1].sum() == 0 and t["weight"][0, 5, 5] == pytest.approx(1.0)
    assert t["box"][0, :, 5, 5] == pytest.approx([32, 32, 48, 48])
    assert (t["weight"][0] > 0).sum() >= 4  # the 16-px box holds 2 × 2 cell centres


def test_sides_loss_rewards_the_right_box():
    t = {"heat": torch.zeros(1, 2, 2), "weight": torch.zeros(1, 2, 2), "box": torch.zeros(1, 4, 2, 2)}
    heat = torch.full((1, 1, 2, 2), -9.0)
    exact = torch.full((1, 4, 2, 2), float(np.log(0.5)))  # half a cell to every side: the cell itself
    assert sides_loss((heat, exact), t, 1.0, stride=8).item() < 1e-3  # no box: the sides cost nothing
    t["weight"][0, 0, 0], t["box"][0, :, 0, 0] = 1.0, torch.tensor([0.0, 0.0, 8.0, 8.0])
    assert sides_loss((heat, exact), t, 1.0, stride=8).item() < 1e-3
    assert sides_loss((heat, exact + 2.0), t, 1.0, stride=8).item() > 0.5


def test_one_pass_scores_plain_and_mirrored_like_two():
    """predict_views gives both the plain and the mirror-averaged boxes of predict_split, from one pass."""
    from core.models.localizer import Localizer
    from core.models.registry import create_model
    from core.training.localizer_fit import predict_split, predict_views

    torch.manual_seed(0)
    net = Localizer(create_model("efficientnet_lite0"), regression="sides").eval()
    rng = np.random.default_rng(0)
    grays = [rng.integers(0, 255, (64, 64), dtype=np.uint8) for _ in range(3)]
    split = SplitData(["a", "b", "c"], grays, np.array([1, 0, 0]), {"a": [(8, 8, 16, 16)]})
    x = torch.from_numpy(rng.normal(size=(3, 3, 64, 64)).astype(np.float32))
    with torch.no_grad():
        split.stems = {"plain": net.stem(x).numpy(), "flip": net.stem(x.flip(-1)).numpy()}
        both = predict_views(net, split, PreprocessConfig(size=64), 8, batch=2, mirrors=(False, True))
        for mirror in (False, True):
            assert both[mirror] == predict_split(net, split, PreprocessConfig(size=64), 8, batch=2, mirror=mirror)
    assert both[False] != both[True]


def test_crop_views_are_seeded_and_their_targets_follow_the_moved_boxes():
    from core.training.localizer_fit import FitConfig, train_views, view_images

    gray = np.zeros((128, 128), np.uint8)
    gray[32:48, 32:48] = 255
    split = SplitData(["a"], [gray], np.array([1]), {"a": [(32, 32, 16, 16)]})
    assert train_views(FitConfig(crops=2)) == ("plain", "flip", "crop0", "crop1")
    (img,), boxes = view_images(split, "crop1", seed=3)
    (again,), _ = view_images(split, "crop1", seed=3)
    assert np.array_equal(img, again) and img.shape != gray.shape
    x, y, w, h = map(int, boxes["a"][0])
    bright = img == img.max()
    assert bright[y:y + h, x:x + w].all() and bright.sum() == w * h  # the bright square is where its box says
    t = targets(split, "crop1", PreprocessConfig(size=128), stride=8, regression="sides", seed=3)
    assert t["heat"][0].max() == 1 and t["weight"][0].sum() > 0
    with pytest.raises(ValueError, match="unknown view"):
        view_images(split, "zoom0")
