"""Ensemble member selection reads val predictions only and respects the weights/ budget."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.ensemble.selection import candidates, rank_subsets, shippable

MIB = 2**20
THRESHOLDS = {"high_sensitivity": 0.1, "balanced": 0.3}


def _card(root, d):
    (root / "cards").mkdir(exist_ok=True)
    (root / "cards" / f"{d['name']}.json").write_text(json.dumps(d))


def _model(root, name, prob, y, mib):
    _card(root, {"name": name, "architecture": name, "preprocess": {}, "thresholds": THRESHOLDS,
                 "calibration": {"temperature": 1.0}, "weights": {"file": f"{name}.safetensors", "sha256": "0",
                                                                 "bytes": int(mib * MIB)}})
    frame = pd.DataFrame({"image": [f"IMG{i:04d}.jpg" for i in range(len(y))], "fractured": y, "prob": prob})
    (root / "predictions").mkdir(exist_ok=True)
    frame.to_csv(root / "predictions" / f"{name}_val.csv", index=False)


@pytest.fixture()
def reports(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    _model(tmp_path, "good", np.clip(0.2 + 0.5 * y + rng.normal(0, 0.15, 300), 0.01, 0.99), y, 6)
    _model(tmp_path, "noise", rng.uniform(0.05, 0.95, 300), y, 4)
    _model(tmp_path, "big", np.clip(0.25 + 0.45 * y + rng.normal(0, 0.15, 300), 0.01, 0.99), y, 20)
    _card(tmp_path, {"name": "ensemble", "kind": "ensemble", "members": ["good"], "member_weights": [1.0],
                     "thresholds": THRESHOLDS, "calibration": {"temperature": 1.0}})
    return tmp_path


def test_candidates_skip_the_ensemble_card(reports):
    assert sorted(candidates(reports / "cards", reports / "predictions")) == ["big", "good", "noise"]


def test_ranking_prefers_informative_members_and_marks_the_budget(reports):
    cards = candidates(reports / "cards", reports / "predictions")
    table = rank_subsets(cards, max_size=2, pred_dir=reports / "predictions")
    assert len(table) == 3 + 3
    assert "noise" not in table.loc[0, "members"]
    assert table["val_auc"].is_monotonic_decreasing
    noise = table.set_index("members").loc["noise"]
    assert 0.35 < noise["val_auc"] < 0.65
    assert not table.set_index("members").loc["big"]["shippable"]
    assert table.set_index("members").loc["good + noise"]["shippable"]


def test_shippable_checks_file_and_folder_limits():
    from types import SimpleNamespace

    card = lambda mib: SimpleNamespace(weights=SimpleNamespace(bytes=int(mib * MIB)))  # noqa: E731
    assert shippable([card(15), card(8)])
    assert not shippable([card(17)])
    assert not shippable([card(12), card(12), card(1)])


def test_misaligned_predictions_raise(reports):
    frame = pd.read_csv(reports / "predictions" / "noise_val.csv").iloc[:-1]
    frame.to_csv(reports / "predictions" / "noise_val.csv", index=False)
    cards = candidates(reports / "cards", reports / "predictions")
    with pytest.raises(ValueError, match="noise_val.csv"):
        rank_subsets(cards, pred_dir=reports / "predictions")
