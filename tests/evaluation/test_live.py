"""Live evaluation through the app's own path agrees with what training measured."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.evaluation import live as evaluate
from core.models.cards import read_card
from core.serving import predictor as predict
from tests.conftest import ARCHS

ROOT = Path(__file__).resolve().parents[2]


def test_live_path_matches_training_predictions(trained, mini_dataset):
    """The app's scoring path gives the probabilities training recorded (custom_cnn: no cache)."""
    pred = predict.Predictor(trained / "weights")
    df = pd.read_csv(trained / "reports" / "predictions" / "custom_cnn_test.csv")
    member = next(m for m in pred.members if m.name == "custom_cnn")
    from core.data.loading import load_image
    live = [member.probability(load_image(mini_dataset / "images" / n).pixels) for n in df.image]
    np.testing.assert_allclose(live, df.prob, atol=2e-3)


def test_evaluate_cli(trained, mini_dataset, tmp_path):
    out = tmp_path / "eval.json"
    rc = evaluate.main(["--weights", str(trained / "weights"), "--images", str(mini_dataset / "images"),
                        "--labels", str(mini_dataset / "labels.csv"), "--split", "test",
                        "--out", str(out), "--bootstrap", "50"])
    assert rc == 0
    report = json.loads(out.read_text())
    assert set(report["models"]) == {*ARCHS, "ensemble"}
    ens = report["models"]["ensemble"]
    for key in ("roc_auc", "roc_auc_ci", "average_precision", "operating_points", "ece", "brier",
                "reliability", "roc", "regions", "hardware_free"):
        assert key in ens
    card = read_card(trained / "weights" / "custom_cnn.json").split("test")  # no cache: same path
    for key in ("roc_auc", "ece_raw", "ece", "brier"):
        assert report["models"]["custom_cnn"][key] == pytest.approx(card[key], abs=2e-3), key
    table = pd.read_csv(out.with_suffix(".csv"))
    assert len(table) == report["n"] and {"ensemble", *ARCHS} <= set(table.columns)
