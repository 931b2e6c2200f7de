"""Reading the localiser at more input sizes: chosen on val, in the fit and for a shipped localiser."""
from __future__ import annotations

import json
import shutil

import pytest

from core.evaluation.localization import remeasure
from core.models.localizer import read_localizer_card
from core.training.localizer_scales import rescale


def test_the_fit_records_val_ap50_with_and_without_the_extra_size(localized):
    card = read_localizer_card(localized / "weights" / "localizer.json")
    aps = card.training["sizes_val_ap50"]
    assert set(aps) == {"none", "96"} and all(0 <= a <= 1 for a in aps.values())
    assert card.scales == ((96,) if aps["96"] > aps["none"] else ())


def test_rescaling_a_shipped_localizer_keeps_card_and_box_files_in_step(localized, mini_dataset, tmp_path):
    shutil.copytree(localized / "weights", tmp_path / "weights")
    shutil.copytree(localized / "reports", tmp_path / "reports")
    before = (tmp_path / "weights" / "localizer.safetensors").read_bytes()
    card = rescale(tmp_path / "weights", tmp_path / "reports", mini_dataset, "test", candidate=(128,))
    choice = card.training["scales_choice"]
    assert set(choice["val_ap50"]) == {"none", "128"} and choice["chosen"] == list(card.scales)
    assert (tmp_path / "weights" / "localizer.safetensors").read_bytes() == before  # weights untouched
    assert read_localizer_card(tmp_path / "weights" / "localizer.json") == card
    again = remeasure(tmp_path / "reports" / "localizer", mini_dataset)  # what `make evaluate-localizer` finds
    assert again["thresholds"] == pytest.approx(card.thresholds)
    assert again["metrics"]["test"]["ap50"] == pytest.approx(card.metrics["test"]["ap50"])
    stored = json.loads((tmp_path / "reports" / "localizer" / "val_boxes.json").read_text())
    assert set(stored) == set(json.loads((localized / "reports" / "localizer" / "val_boxes.json").read_text()))
