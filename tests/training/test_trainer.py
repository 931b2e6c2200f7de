"""Training on real radiographs: one tiny epoch writes weights, card and predictions; resume continues."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.models.cards import read_card
from core.training import trainer as train
from tests.conftest import ARCHS

ROOT = Path(__file__).resolve().parents[2]


def test_training_writes_card_weights_and_predictions(trained):
    for arch in ARCHS:
        card = read_card(trained / "weights" / f"{arch}.json")
        assert card.training.epochs_run == 1 and len(card.training.log) == 1
        assert {"high_sensitivity", "balanced"} == set(card.thresholds)
        assert card.calibration.temperature > 0 and 0 <= card.split("test")["roc_auc"] <= 1
        assert card.preprocess.size == 96 and card.format_version == 2
        assert card.training.environment["threads"] == 2 and card.training.environment["deterministic_algorithms"]
        assert card.training.settings["views"] == 2 and "--budget-min" in card.training.command
        for split in ("val", "test"):
            df = pd.read_csv(trained / "reports" / "predictions" / f"{arch}_{split}.csv")
            assert list(df.columns) == ["image", "fractured", "logit", "prob"] and df.prob.between(0, 1).all()
    assert read_card(trained / "weights" / "efficientnet_lite0.json").init["frozen_stem"] is True
    assert (trained / "runs" / "custom_cnn" / "last.pt").is_file()
    assert list((trained / "cache").glob("efficientnet_lite0-aug1-*.npy"))


def test_resume_continues_from_checkpoint(trained, mini_dataset):
    run = trained / "runs" / "custom_cnn"
    rc = train.main(["--model", "custom_cnn", "--data", str(mini_dataset), "--epochs", "2", "--batch", "8",
                     "--size", "96", "--out", str(trained / "resumed"), "--run-dir", str(run),
                     "--reports", str(trained / "reports_resumed"), "--resume", "--budget-min", "0.0001"])
    assert rc == 0
    card = read_card(trained / "resumed" / "custom_cnn.json")
    first = read_card(trained / "weights" / "custom_cnn.json").training
    assert [r["epoch"] for r in card.training.log] == [1, 2]
    assert card.training.legs == 2  # wall time sums both legs' epochs
    assert card.training.wall_time_s >= sum(r["seconds"] for r in card.training.log) > first.log[0]["seconds"]
    assert first.stopped_by.startswith("wall-clock budget")  # 1 of 2 epochs
    assert card.training.stopped_by == "schedule complete"  # the last epoch ran, however long it took


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_same_command_gives_bit_identical_weights(arch, mini_dataset, tmp_path, trained):
    """Issue 18: seeds, deterministic kernels, thread count and data order are fixed."""
    init = [] if arch == "custom_cnn" else ["--init", str(trained / "effnet_start.safetensors")]
    digests = []
    for leg in ("a", "b"):  # fresh run folder and cache each time: nothing is reused
        argv = ["--model", arch, "--data", str(mini_dataset), "--epochs", "1", "--views", "1", "--batch", "8",
                "--size", "64", "--out", str(tmp_path / leg), "--run-dir", str(tmp_path / leg / "run"),
                "--reports", str(tmp_path / leg / "reports"), "--cache-dir", str(tmp_path / leg / "cache"), *init]
        assert train.main(argv) == 0
        digests.append(read_card(tmp_path / leg / f"{arch}.json").weights.sha256)
    if digests[0] != digests[1]:  # say which tensors moved and by how much before failing
        from safetensors.torch import load_file

        a, b = (load_file(str(tmp_path / leg / f"{arch}.safetensors")) for leg in ("a", "b"))
        moved = {k: float((a[k].float() - b[k].float()).abs().max()) for k in a if not a[k].equal(b[k])}
        pytest.fail(f"weights differ between two identical runs: {moved}")
