"""TrainConfig: built from argv, validated, recorded in the card."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.training.config import TrainConfig, TrainState


def test_from_argv_fills_defaults_and_derived_paths():
    tc = TrainConfig.from_argv(["--model", "vgg16", "--epochs", "3", "--lr", "1e-4", "--no-freeze"])
    assert (tc.model, tc.name, tc.epochs, tc.lr, tc.no_freeze) == ("vgg16", "vgg16", 3, 1e-4, True)
    assert tc.run_dir == Path("runs/vgg16") and tc.command.endswith("--lr 1e-4 --no-freeze")
    assert "data" not in tc.settings() and tc.settings()["epochs"] == 3


@pytest.mark.parametrize(("argv", "needle"), [(["--canny", "sobel"], "sobel"), (["--balance", "x"], "'x'"),
                                              (["--epochs", "0"], "epochs")])
def test_bad_settings_name_the_value(argv, needle):
    with pytest.raises(ValueError, match=needle):
        TrainConfig.from_argv(["--model", "custom_cnn", *argv])


def test_state_round_trips_through_a_checkpoint_dict():
    state = TrainState(epochs=5, epoch=2, best_auc=0.8, best_epoch=2, log=[{"epoch": 1}], legs=2)
    assert TrainState.from_dict(state.to_dict() | {"unknown_old_key": 1}) == state
