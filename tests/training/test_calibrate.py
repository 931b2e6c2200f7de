"""Calibration and operating points refitted from saved logits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.models.cards import read_card

ROOT = Path(__file__).resolve().parents[2]


def test_recalibrate_from_saved_logits(trained, mini_dataset):
    from core.training.calibrate import recalibrate

    card = recalibrate(trained / "weights" / "custom_cnn.json", trained / "reports" / "predictions",
                       mini_dataset / "labels.csv")
    assert card.to_dict()["calibration"]["method"].startswith("platt") and "temperature" not in card.to_dict()
    assert card.weights == read_card(trained / "weights" / "custom_cnn.json").weights
    df = pd.read_csv(trained / "reports" / "predictions" / "custom_cnn_val.csv")
    np.testing.assert_allclose(df.prob, card.calibration(df.logit), atol=1e-5)
