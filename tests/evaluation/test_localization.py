"""Box-score thresholds and the localiser's figures, on hand-made cases."""
from __future__ import annotations

import pytest

from core.evaluation.localization import choose_thresholds, measure, threshold_at_rate, top_scores

TRUTH = {"a": [(10, 10, 10, 10)], "b": [], "c": [], "d": []}
PREDS = {"a": [[10, 10, 10, 10, 0.9], [50, 50, 10, 10, 0.3]],  # a hit, then a false box
         "b": [[0, 0, 5, 5, 0.6]], "c": [[0, 0, 5, 5, 0.2]], "d": []}


def test_threshold_at_a_false_box_rate():
    # false boxes in score order: 0.6 (b), 0.3 (a), 0.2 (c) over 4 images → 0.25, 0.5, 0.75 per image
    assert threshold_at_rate(TRUTH, PREDS, 0.25) == 0.6
    assert threshold_at_rate(TRUTH, PREDS, 0.5) == 0.3
    assert threshold_at_rate(TRUTH, PREDS, 1.0) == 0.2
    assert threshold_at_rate(TRUTH, PREDS, 0.0) == 0.9  # the true box alone
    ops = choose_thresholds(TRUTH, PREDS)
    assert ops == {"high_sensitivity": 0.2, "balanced": 0.6}


def test_top_scores_are_zero_without_boxes():
    assert list(top_scores(["a", "d"], PREDS)) == [0.9, 0.0]


def test_measure_reports_ap_froc_pointing_and_counts():
    m = measure(TRUTH, PREDS, dict.fromkeys(TRUTH, (100, 100)), {"a": 1, "b": 0, "c": 0, "d": 0},
                {"balanced": 0.6, "high_sensitivity": 0.2})
    assert m["ap50"] == pytest.approx(1.0)  # the only true box is the highest-scored box
    assert m["pointing"] == 1.0 and m["n_fractured_with_boxes"] == 1
    assert m["top_score_auc"] == pytest.approx(1.0)
    bal = m["operating_points"]["balanced"]
    assert bal["box_sensitivity"] == 1.0 and bal["boxes_per_image"] == 0.5
    assert bal["normal_images_with_a_box"] == pytest.approx(1 / 3)


def test_remeasuring_from_the_stored_boxes_reproduces_the_card(localized, mini_dataset, tmp_path):
    import json
    import shutil

    from core.evaluation import localization

    shutil.copytree(localized / "weights", tmp_path / "weights")
    shutil.copytree(localized / "reports", tmp_path / "reports")
    before = json.loads((tmp_path / "weights" / "localizer.json").read_text())
    assert localization.main(["--weights", str(tmp_path / "weights"), "--reports", str(tmp_path / "reports"),
                              "--data", str(mini_dataset)]) == 0
    after = json.loads((tmp_path / "reports" / "localizer.json").read_text())
    assert after["thresholds"] == before["thresholds"]
    for split in ("val", "test"):
        for key in ("ap50", "pointing", "froc", "top_score_auc"):
            assert after["metrics"][split][key] == pytest.approx(before["metrics"][split][key])
        for nested in ("operating_points", "subgroups"):
            for group, values in before["metrics"][split][nested].items():
                assert after["metrics"][split][nested][group] == pytest.approx(values)
    assert after["weights"] == before["weights"]  # the weights are not touched


def test_fusion_prefers_a_score_that_carries_new_information():
    import numpy as np

    from core.ensemble.fusion import compare, spec_at_sensitivity

    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.25).astype(int)
    truth = y + rng.normal(0, 0.6, 400)  # the hidden signal
    ens = truth + rng.normal(0, 1.0, 400)  # the ensemble sees it noisily
    informative = 1 / (1 + np.exp(-(truth + rng.normal(0, 1.0, 400))))  # independent noise: adds information
    useless = rng.random(400)
    assert compare(y, ens, informative, repeats=3)["fuse"]
    assert not compare(y, ens, useless, repeats=3)["fuse"]
    assert spec_at_sensitivity(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.5, 0.9]), 0.95) == 0.5
