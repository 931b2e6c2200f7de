"""Fitting the out-of-scope gate end to end on tiny data (random stem), and its building blocks."""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from core.data.shifts import SHIFTS
from core.errors import WeightsError
from core.serving.scope import DEEP_TAPS, FAMILIES, ScopeModel
from core.training import scope_fit
from core.training.scope_data import COMPOUND, PLAIN, negative_items, xray_items
from core.training.scope_negatives import SPLITS, catalogue, negative


def _random_init(path: Path) -> Path:
    """A starting-weights file in the layout of ../shared/pretrained (timm keys, float16), random."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("tf_efficientnet_lite0")
    save_file({k: v.half() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def fitted(mini_dataset, tmp_path_factory):
    """A gate fitted and measured on 4 radiographs per split and a few negatives per family."""
    root = tmp_path_factory.mktemp("scope_fit")
    cfg = scope_fit.FitConfig(mini_dataset, _random_init(root / "init.safetensors"), root / "gate", root / "reports",
                              size=64, n_train=4, n_val=4, n_test=3, n_gallery=3, fit_per_family=5,
                              heldout_per_family=2, heads=({"kind": "logistic", "C": 1.0, "max_iter": 50, "distance": True},),
                              feature_sets={"stem+deep": DEEP_TAPS}, workers=1, latency_runs=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 50 iterations are enough to test the plumbing
        return cfg, scope_fit.run(cfg, "test")


def test_fit_writes_a_loadable_gate_and_a_full_report(fitted):
    cfg, report = fitted
    model = ScopeModel.load(cfg.out / "scope.json")
    assert model.threshold == pytest.approx(report["threshold"]) and 0 < model.threshold <= 1
    assert model.cfg.size == 64 and (cfg.out / scope_fit.GATE_FILE).is_file()
    assert model.turns == 1 == json.loads((cfg.out / "scope.json").read_text())["turns"]
    assert model.reference is not None and model.distance_threshold == pytest.approx(report["distance_threshold"])
    assert report["features"] == "stem+deep" and len(report["selection"]) == 1
    saved = json.loads((cfg.reports / "scope.json").read_text())
    levels = {f"{name}:{level}" for name, s in SHIFTS.items() for level in s.levels}
    assert set(saved["test_radiographs"]["groups"]) == levels | {PLAIN, COMPOUND}
    assert set(saved["heldout_negatives"]) == set(FAMILIES) | {"colour", "blank"}
    for fam, v in saved["heldout_negatives"].items():
        lo, hi = v["refused"]["ci95"]
        assert 0 <= lo <= v["refused"]["rate"] <= hi <= 1, fam
    assert saved["latency_ms"]["median"] > 0 and saved["bundled_samples"]["n"] == 42
    assert saved["val_refused_worst_group"] == 0.0  # 4 val images: a 0.5 % budget allows no refusal


def test_an_existing_gate_is_remeasured_with_the_same_protocol(fitted):
    cfg, report = fitted
    again = scope_fit.remeasure(cfg, cfg.out / "scope.json", "test")
    assert again["heldout_seeds"] == [0, 1] and again["gate_sha256"] == report_sha(cfg)
    assert set(again["heldout_negatives"]) == set(report["heldout_negatives"])
    assert all(v["refused"]["n"] == 2 * 2 for f, v in again["heldout_negatives"].items() if f in FAMILIES)
    assert again["targets"]["gate_adds_at_most_50ms"] is None and "fit_rows" not in again


def report_sha(cfg) -> str:
    return json.loads((cfg.out / "scope.json").read_text())["weights"]["sha256"]


def test_held_out_sources_never_reach_the_fit(fitted):
    _, report = fitted
    for fam, sources in report["heldout_sources"].items():
        assert not set(sources) & set(report["fit_sources"].get(fam, [])), fam


def test_a_tampered_gate_is_refused(fitted, tmp_path):
    cfg, _ = fitted
    for f in ("scope.json", scope_fit.GATE_FILE):
        (tmp_path / f).write_bytes((cfg.out / f).read_bytes())
    data = bytearray((tmp_path / scope_fit.GATE_FILE).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / scope_fit.GATE_FILE).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match scope.json"):
        ScopeModel.load(tmp_path / "scope.json")


def test_threshold_keeps_every_group_within_its_budget():
    p = np.r_[np.linspace(0.1, 1, 200), np.linspace(0.3, 1, 200)]
    group = np.r_[["a"] * 200, ["b"] * 200]
    rule = np.array([""] * 400, dtype=object)
    t = scope_fit.threshold_for(p, rule, group, 0.01)  # two refusals allowed per group of 200
    assert all(np.sum(p[group == g] < t) <= 2 for g in "ab")
    assert t == pytest.approx(np.sort(p[:200])[2])
    rule[:3] = "blank"  # the rules alone break group a's budget: only group b can set the threshold
    assert scope_fit.threshold_for(p, rule, group, 0.01) == pytest.approx(np.sort(p[200:])[2])


def test_distance_cut_spends_its_share_of_the_budget_and_the_rest_goes_to_the_probability():
    rng = np.random.default_rng(0)
    d, p = rng.uniform(0, 10, 400), rng.uniform(0, 1, 400)
    group = np.r_[["a"] * 200, ["b"] * 200]
    rule = np.array([""] * 400, dtype=object)
    cut = scope_fit.distance_threshold(d, rule, group, 0.01)  # two refusals allowed per group
    assert all(np.sum(d[group == g] > cut) <= 2 for g in "ab") and any(np.sum(d[group == g] > cut) == 2 for g in "ab")
    t, cut = scope_fit.thresholds(p, d, rule, group, 0.02)  # 4 per group: 2 for the distance, the rest for p
    refused = (p < t) | (d > cut)
    assert all(np.sum(refused[group == g]) <= 4 for g in "ab")
    assert scope_fit.thresholds(p, None, rule, group, 0.02) == (scope_fit.threshold_for(p, rule, group, 0.02),
                                                                 float("inf"))


def test_reference_distance_grows_away_from_the_radiographs():
    from core.serving.scope import Reference

    x = np.random.default_rng(1).normal(0, 1, (500, 8))
    ref = Reference.fit(x)
    assert ref.distance(np.zeros(8))[0] < 0.1 < 1.0 < ref.distance(np.full(8, 5.0))[0]


def test_wilson_interval_on_known_values():
    assert scope_fit.wilson(0, 10) == pytest.approx([0.0, 0.2775], abs=1e-4)
    assert scope_fit.wilson(50, 100) == pytest.approx([0.4038, 0.5962], abs=1e-4)


def test_folds_keep_each_negative_source_whole():
    from core.serving.scope import Tap
    from core.training.scope_data import Embedded

    units = np.array(["0", "1", "2", "3"] * 3 + ["s1", "s1", "s2", "s2", "s3", "s3", "s4"])
    y = np.r_[np.zeros(12, int), np.ones(7, int)]
    emb = Embedded(np.zeros((19, 4)), y, units, units, np.array([""] * 19), (Tap(4),), (4,))
    fold = scope_fit.folds(emb)
    for s in ("s1", "s2", "s3"):
        assert len(set(fold[units == s])) == 1
    assert set(fold[y == 1]) == {0, 1, 2}


def test_every_family_has_fit_and_held_out_sources_and_splits_are_checked():
    sources = catalogue()
    for fam in FAMILIES:
        assert {s.split for s in sources if s.family == fam} == set(SPLITS), fam
    with pytest.raises(ValueError, match="split must be one of"):
        negative_items("test", 1)


def test_negatives_are_reproducible_and_colour_needs_radiographs():
    src = next(s for s in catalogue() if s.name == "drawn:letter")
    assert np.array_equal(negative(src, 3, seed=1).pixels, negative(src, 3, seed=1).pixels)
    colour = next(s for s in catalogue() if s.family == "colour")
    with pytest.raises(ValueError, match="needs radiographs"):
        negative(colour, 0)


def test_radiograph_items_cover_every_shift_level_or_a_random_share():
    paths = [Path("a.jpg"), Path("b.jpg")]
    n_levels = sum(len(s.levels) for s in SHIFTS.values())
    assert len(xray_items(paths, compound=True)) == 2 * (1 + n_levels + 1)
    some = xray_items(paths, per_image=5, seed=3)
    assert len(some) == 2 * (1 + 5) and some == xray_items(paths, per_image=5, seed=3)
    assert {it.group for it in some if it.ref == "a.jpg"} != {it.group for it in some if it.ref == "b.jpg"}
    with pytest.raises(ValueError, match="per_image"):
        xray_items(paths, per_image=0)


def test_embeddings_are_cached_and_reused(fitted, tmp_path, caplog):
    import logging

    from core.data.preprocess import PreprocessConfig
    from core.training.scope_fit import _embed, load_trunk

    cfg, _ = fitted
    cfg = scope_fit.FitConfig(cfg.data, cfg.init, cfg.out, feature_sets={"stem": scope_fit.FEATURE_SETS["stem"]},
                              workers=1, cache=tmp_path)
    trunk, _ = load_trunk(cfg.init, scope_fit.FEATURE_SETS["stem"])
    items = xray_items(sorted((cfg.data / "images").glob("*.jpg"))[:2], per_image=1)
    first = _embed(items, trunk, PreprocessConfig(size=64), cfg)
    with caplog.at_level(logging.INFO, logger="core.training.scope_fit"):
        again = _embed(items, trunk, PreprocessConfig(size=64), cfg)
    assert "from" in caplog.text and len(list(tmp_path.glob("*.npz"))) == 1
    assert np.array_equal(first.x, again.x) and list(first.group) == list(again.group)
    _embed(items, trunk, PreprocessConfig(size=96), cfg)  # other preprocessing: another entry
    assert len(list(tmp_path.glob("*.npz"))) == 2
    turned = _embed(items, trunk, PreprocessConfig(size=64), dataclasses.replace(cfg, turns=4))  # and other turns
    assert len(list(tmp_path.glob("*.npz"))) == 3 and not np.allclose(turned.x, first.x)


def test_out_and_reports_in_one_folder_are_refused_before_anything_is_fitted(tmp_path):
    with pytest.raises(SystemExit, match="overwrite the gate's card"):
        scope_fit.main(["--out", str(tmp_path), "--reports", str(tmp_path)])


def test_candidate_heads_are_named_one_to_one():
    assert len(scope_fit.HEAD_NAMES) == len(scope_fit.HEADS)
    assert scope_fit.HEAD_NAMES["logistic-C0.1"] == {"kind": "logistic", "C": 0.1}
    assert scope_fit.head_name({"kind": "logistic", "C": 0.3, "distance": True}) == "logistic-C0.3-distance"


def test_viewer_screenshots_and_portraits_are_fit_negatives_that_hold_their_picture():
    from core.training import scope_render
    from core.training.scope_negatives import portraits

    rng = np.random.default_rng(0)
    xray = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (260, 1))
    shot = scope_render.viewer(rng, [xray])
    assert shot.ndim == 3 and shot.shape[0] >= 100 and shot.shape[1] >= 100
    with pytest.raises(ValueError, match="pictures"):
        scope_render.viewer(rng, [])
    face = portraits(np.random.default_rng(1))
    assert face.ndim == 2 and min(face.shape) >= 16
