"""Box metrics against hand-computed cases: AP50 (pycocotools), FROC, IoU and top-box pointing."""
from __future__ import annotations

import pytest

from core.evaluation.detection import Scored, ap50, froc, iou, pointing_hits

TRUTH = {"frac.jpg": [(10, 10, 20, 20), (100, 100, 10, 10)], "normal.jpg": []}


def test_iou_by_hand():
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_perfect_boxes_give_ap_one_and_full_froc():
    preds = {"frac.jpg": [Scored(b, 0.9) for b in TRUTH["frac.jpg"]]}
    assert ap50(TRUTH, preds) == pytest.approx(1.0)
    assert froc(TRUTH, preds) == {0.5: 1.0, 1.0: 1.0, 2.0: 1.0}


def test_a_false_box_ranked_first_halves_precision():
    """Ranked: a false box in the normal film (0.95), a hit (0.9), a miss-placed box (0.8); one box never found."""
    preds = {"normal.jpg": [Scored((0, 0, 30, 30), 0.95)],
             "frac.jpg": [Scored((11, 10, 20, 20), 0.9), Scored((200, 200, 10, 10), 0.8)]}
    # precision 1/2 at recall 1/2, recall 1 never reached: 101-point AP = 0.5 × 51/101
    assert ap50(TRUTH, preds) == pytest.approx(0.5 * 51 / 101)
    assert froc(TRUTH, preds) == {0.5: 0.5, 1.0: 0.5, 2.0: 0.5}
    assert ap50(TRUTH, {}) == 0.0


def test_pointing_uses_the_top_box_centre_and_the_grown_box():
    shapes = {"frac.jpg": (300, 400), "normal.jpg": (300, 400)}
    near = {"frac.jpg": [Scored((28, 28, 8, 8), 0.9), Scored((10, 10, 20, 20), 0.1)]}  # centre (32, 32)
    assert pointing_hits(TRUTH, near, 0.0, shapes) == {"frac.jpg": False}
    assert pointing_hits(TRUTH, near, 0.01, shapes) == {"frac.jpg": True}  # grown by 4 px
    assert pointing_hits(TRUTH, {}, 0.05, shapes) == {"frac.jpg": False}


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="without a truth entry: \\['other.jpg'\\]"):
        froc(TRUTH, {"other.jpg": []})
    with pytest.raises(ValueError, match="positive size"):
        ap50(TRUTH, {"frac.jpg": [Scored((0, 0, 0, 5), 0.5)]})
    with pytest.raises(ValueError, match="at least one ground-truth box"):
        ap50({"normal.jpg": []}, {})
