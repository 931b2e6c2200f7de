"""Boxes between image and model input, and dense centre and side targets that decode back to the boxes."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.boxes import box_iou, centre_targets, decode, decode_sides, fuse_boxes, peaks, side_targets, to_image, to_model
from core.data.preprocess import letterbox
from core.evaluation.detection import iou


def test_boxes_map_to_the_model_input_and_back():
    gray = np.zeros((300, 400), np.uint8)
    _, lb = letterbox(gray, 288)  # scale 0.72, 288 × 216 placed 36 px from the top
    assert (lb.scale, lb.top, lb.left) == (0.72, 36, 0)
    box = (100.0, 50.0, 40.0, 20.0)
    assert to_model(box, lb) == pytest.approx((72.0, 72.0, 28.8, 14.4))
    assert to_image(to_model(box, lb), lb, gray.shape) == pytest.approx(box)
    assert to_image((0.0, 0.0, 288.0, 30.0), lb, gray.shape)[3] == 0.0  # only the padding: nothing left


def test_targets_peak_at_each_centre_and_decode_to_the_boxes():
    boxes = [(40.0, 50.0, 20.0, 12.0), (200.0, 150.0, 30.0, 30.0)]
    t = centre_targets(boxes, grid=18, stride=16)
    assert t.mask.sum() == 2 and t.heat.max() == pytest.approx(1.0)
    assert t.mask[3, 3] and t.heat[3, 3] == pytest.approx(1.0)  # centre (50, 56) lies in cell (3, 3)
    assert np.all((t.offset >= 0) & (t.offset < 1))
    found = decode(t.heat, t.size, t.offset, stride=16, top_k=5, min_score=0.5)
    assert len(found) == 2
    for box in boxes:
        assert max(iou(box, f) for f, _ in found) == pytest.approx(1.0)


def test_bad_targets_are_named():
    with pytest.raises(ValueError, match="no area"):
        centre_targets([(1, 1, 0, 5)], grid=4, stride=8)
    with pytest.raises(ValueError, match="grid must be"):
        centre_targets([], grid=0, stride=8)


def test_side_targets_cover_each_box_and_decode_back_to_it():
    boxes = [(40.0, 50.0, 40.0, 24.0), (200.0, 150.0, 30.0, 30.0)]
    t = side_targets(boxes, grid=18, stride=16)
    for x, y, w, h in boxes:
        i, j = int((y + h / 2) // 16), int((x + w / 2) // 16)
        assert t.weight[i, j] == pytest.approx(1.0)
        assert t.box[:, i, j] == pytest.approx([x, y, x + w, y + h])
    inside = t.weight > 0
    assert inside.sum() > 2  # more than the centre cells regress a box
    assert t.weight[0, 0] == 0 and t.box[:, 0, 0].tolist() == [0, 0, 0, 0]
    heat = centre_targets(boxes, grid=18, stride=16).heat
    centres = (np.arange(18) + 0.5) * 16
    sides = np.stack([centres[None, :] - t.box[0], centres[:, None] - t.box[1],
                      t.box[2] - centres[None, :], t.box[3] - centres[:, None]])
    found = decode_sides(heat, sides, stride=16, top_k=5, min_score=0.5)
    assert len(found) == 2
    for box in boxes:
        assert max(iou(box, f) for f, _ in found) == pytest.approx(1.0)


def test_voted_boxes_average_the_cells_around_the_peak_and_damp_one_cells_error():
    grid, stride, box = 9, 8, (20.0, 24.0, 30.0, 22.0)
    centres = (np.arange(grid) + 0.5) * stride
    x0, y0, x1, y1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    sides = np.stack([centres[None, :] - x0 + 0 * centres[:, None], centres[:, None] - y0 + 0 * centres[None, :],
                      x1 - centres[None, :] + 0 * centres[:, None], y1 - centres[:, None] + 0 * centres[None, :]])
    heat = np.full((grid, grid), 0.1)
    heat[4, 4] = 0.9
    sides[:, 4, 4] += 4.0  # the peak cell alone overshoots every side by 4 px
    (peak, s0), = decode_sides(heat, sides, stride, top_k=1)
    (voted, s1), = decode_sides(heat, sides, stride, top_k=1, vote=1)
    assert s0 == s1 == pytest.approx(0.9)  # the score is the peak's either way
    assert iou(voted, box) > iou(peak, box)
    e = 4.0 * 0.9 / 1.7  # the peak's error, weighted by its share of the 3 × 3 window's heat
    assert voted == pytest.approx((box[0] - e, box[1] - e, box[2] + 2 * e, box[3] + 2 * e))
    with pytest.raises(ValueError, match="vote"):
        decode_sides(heat, sides, stride, vote=-1)


def test_a_smaller_box_keeps_its_cells_inside_a_larger_one():
    big, small = (0.0, 0.0, 160.0, 160.0), (64.0, 64.0, 16.0, 16.0)
    t = side_targets([small, big], grid=10, stride=16)
    assert t.box[:, 4, 4].tolist() == [64, 64, 80, 80]
    assert t.box[:, 1, 1].tolist() == [0, 0, 160, 160]


def test_peaks_are_local_maxima_highest_first():
    heat = np.zeros((6, 6), np.float32)
    heat[1, 1], heat[1, 2], heat[4, 4] = 0.9, 0.5, 0.7
    assert peaks(heat, top_k=5, min_score=0.1) == [(1, 1, pytest.approx(0.9)), (4, 4, pytest.approx(0.7))]
    assert peaks(heat, top_k=1) == [(1, 1, pytest.approx(0.9))]


def _marked(shape=(120, 90), box=(30, 50, 12, 8)):
    """An image that is bright exactly inside one box, and the box."""
    gray = np.zeros(shape, np.uint8)
    x, y, w, h = box
    gray[y:y + h, x:x + w] = 200
    return gray, box


@pytest.mark.parametrize("seed", range(20))
def test_box_crop_keeps_every_box_whole_and_moves_it_with_the_image(seed):
    from core.data.augment import box_crop

    gray, box = _marked()
    img, (moved,) = box_crop(gray, [box], np.random.default_rng(seed), keep=0.5, contrast=(1, 1), brightness=0)
    x, y, w, h = map(int, moved)
    assert img.shape[0] <= 120 and img.shape[1] <= 90 and img.shape[0] >= 59 and img.shape[1] >= 44
    assert (img[y:y + h, x:x + w] == 200).all() and (img == 200).sum() == w * h  # the bright patch is the box


def test_box_crop_refuses_a_bad_keep_and_crops_normals_too():
    from core.data.augment import box_crop

    gray, _ = _marked()
    with pytest.raises(ValueError, match="keep"):
        box_crop(gray, [], np.random.default_rng(0), keep=0)
    img, boxes = box_crop(gray, [], np.random.default_rng(1), keep=0.5)
    assert boxes == [] and img.size < gray.size


def test_box_iou_agrees_with_the_evaluation_iou():
    pairs = [((0, 0, 10, 10), (5, 5, 10, 10)), ((0, 0, 10, 10), (20, 20, 5, 5)), ((2, 3, 4, 5), (2, 3, 4, 5))]
    for a, b in pairs:
        assert box_iou(a, b) == pytest.approx(iou(a, b))
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_fused_readings_average_overlapping_boxes_by_score():
    a = [((10.0, 10.0, 20.0, 20.0), 0.6)]
    b = [((12.0, 10.0, 20.0, 20.0), 0.2), ((100.0, 100.0, 8.0, 8.0), 0.4)]
    fused = fuse_boxes([a, b], min_iou=0.5)
    assert len(fused) == 2
    (box, score), (far, far_score) = fused
    assert box == pytest.approx((10.5, 10.0, 20.0, 20.0)) and score == pytest.approx(0.4)  # (0.6 + 0.2) / 2
    assert far == (100.0, 100.0, 8.0, 8.0) and far_score == pytest.approx(0.2)  # seen in one reading of two
    assert fuse_boxes([a]) == a


def test_fusion_refuses_a_meaningless_overlap():
    with pytest.raises(ValueError, match="min_iou"):
        fuse_boxes([[]], min_iou=0.0)
