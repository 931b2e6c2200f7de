"""The robustness suite in quick mode on the tiny trained models: report structure, zero change for an
unchanged image, batched scores equal to the app's, and the RESULTS section."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.fracatlas import load_gray_images, read_labels
from core.data.shifts import SHIFTS, Shift
from core.evaluation import results
from core.evaluation.robustness import (
    ENSEMBLE,
    ShiftSuitePredictor,
    batched_logits,
    main,
    plan,
    stratified_subset,
    target_misses,
)
from core.evaluation.tables import Reports, load_cards, robustness_deltas, robustness_table
from core.models.cards import OPERATING_POINTS

IDENTITY = Shift("identity", ("unchanged",), lambda gray, level, rng: gray, "left as it was")


@pytest.fixture(scope="module")
def report(trained, mini_dataset, tmp_path_factory) -> dict:
    """Quick mode: an identity shift, turns and JPEG, mild/strong levels on 6 of the test images."""
    out = tmp_path_factory.mktemp("robustness") / "robustness.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(SHIFTS, "identity", IDENTITY)
        rc = main(["--shifts", "identity", "turn", "jpeg", "--other-levels-limit", "6", "--bootstrap", "20",
                   "--batch", "4", "--weights", str(trained / "weights"), "--data", str(mini_dataset),
                   "--out", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_an_interrupted_run_resumes_to_the_same_report(report, trained, mini_dataset, tmp_path):
    cut = report | {"shifts": report["shifts"][:-2], "complete": False}
    out = tmp_path / "robustness.json"
    out.write_text(json.dumps(cut))
    args = ["--shifts", "identity", "turn", "jpeg", "--other-levels-limit", "6", "--batch", "4",
            "--weights", str(trained / "weights"), "--data", str(mini_dataset), "--out", str(out), "--resume"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(SHIFTS, "identity", IDENTITY)
        with pytest.raises(ValueError, match="bootstrap_resamples"):
            main([*args, "--bootstrap", "10"])
        assert main([*args, "--bootstrap", "20"]) == 0
    resumed = json.loads(out.read_text())
    assert resumed["complete"] and resumed["legs"] == 2 and resumed["shifts"] == report["shifts"]


def _entry(report: dict, shift: str, level) -> dict:
    return next(e for e in report["shifts"] if e["shift"] == shift and e["level"] == level)


def test_report_structure(report, mini_dataset):
    n_test = len(read_labels(mini_dataset / "labels.csv", "test"))
    assert report["complete"] and report["wall_time_s"] > 0 and report["seed"] == 0
    assert "core.robustness" in report["command"] and report["n_images"] == n_test
    assert report["models"] == ["custom_cnn", "efficientnet_lite0", ENSEMBLE]
    assert [(e["shift"], e["severity"]) for e in report["shifts"]] == [
        ("identity", "middle"), ("turn", "middle"), ("jpeg", "middle"),  # the target levels first
        ("turn", "mild"), ("turn", "strong"), ("jpeg", "mild"), ("jpeg", "strong")]
    assert report["subsets"]["subset"]["n"] == 6 and len(report["subsets"]["subset"]["images"]) == 6
    for e in report["shifts"]:
        assert e["n"] == (n_test if e["severity"] == "middle" else 6)
        assert ("meets_target" in e) == (e["severity"] == "middle")
        for name, m in e["models"].items():
            assert 0 <= m["roc_auc"] <= 1 and len(m["roc_auc_ci"]) == 2
            for op in OPERATING_POINTS:
                assert set(m["delta"][op]) == {"sensitivity", "specificity"}
                assert m["operating_points"][op]["threshold"] == report["thresholds"][name][op]


def test_unchanged_images_give_zero_change(report):
    e = _entry(report, "identity", "unchanged")
    for m in e["models"].values():
        assert m["delta"]["roc_auc"] == 0
        assert all(v == 0 for op in OPERATING_POINTS for v in m["delta"][op].values())
    assert e["meets_target"] and e["misses"] == []


def test_deltas_are_shifted_minus_unshifted_on_the_same_images(report):
    e = _entry(report, "jpeg", 10)
    base = report["unshifted"]["subset"][ENSEMBLE]
    ens = e["models"][ENSEMBLE]
    assert ens["delta"]["roc_auc"] == pytest.approx(ens["roc_auc"] - base["roc_auc"])


def test_targets_name_what_is_missed():
    d = {"roc_auc": -0.03, "high_sensitivity": {"sensitivity": 0.0, "specificity": -0.06},
         "balanced": {"sensitivity": 0.05, "specificity": 0.0}}
    assert target_misses(d) == ["roc_auc", "high_sensitivity.specificity"]


def test_batched_logits_equal_the_apps(trained, mini_dataset):
    pred = ShiftSuitePredictor(trained / "weights")
    names = list(read_labels(mini_dataset / "labels.csv", "test")["image"][:5])
    grays = load_gray_images(mini_dataset / "images", names)
    batched = batched_logits(pred, grays, batch=4)
    for m in pred.members:
        np.testing.assert_allclose(batched[m.name], [m.logit(g) for g in grays], rtol=0, atol=1e-5)


def test_stratified_subset_is_fixed_and_keeps_the_fracture_rate():
    y = np.array([1] * 20 + [0] * 80)
    a = stratified_subset(y, 50, seed=3)
    assert len(a) == 50 and y[a].sum() == 10 and np.array_equal(a, stratified_subset(y, 50, seed=3))
    assert np.array_equal(stratified_subset(y, None, 0), np.arange(100))


def test_bad_values_are_named(trained):
    with pytest.raises(ValueError, match="sharpen"):
        main(["--shifts", "sharpen", "--weights", str(trained / "weights")])
    with pytest.raises(ValueError, match="sometimes"):
        plan(["turn"], "sometimes", np.arange(3), np.arange(3))


def test_results_and_tables_show_the_section(report, trained):
    data = load_cards(trained / "reports")
    text = results.render(Reports(data.cards, data.predictions, {"robustness": report}), set())
    assert "## Robustness" in text and "shifts meet it" in text and "saved as JPEG" not in text
    assert "turn" in text and "mild and strong levels on a fixed stratified subset of 6 images" in text
    table = robustness_table(report)
    assert list(table["shift"]) == ["identity", "turn", "jpeg"] and table["meets target"].iloc[0] == "yes"
    assert robustness_deltas(report, "custom_cnn", "strong").shape == (2, 5)
