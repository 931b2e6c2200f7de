"""End to end on real radiographs: train one epoch, ship, fit the ensemble, evaluate, predict."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.evaluation import live as evaluate
from core.serving import predictor as predict
from core.training import trainer as train
from core.errors import WeightsError
from core.models.weights import load_model, read_card

ROOT = Path(__file__).resolve().parents[2]
from tests.conftest import ARCHS


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


def test_train_minutes_marks_cards_that_timed_only_the_last_leg():
    from core.evaluation.tables import train_minutes
    from core.models.cards import TrainingRecord, migrate

    log = [{"epoch": 1, "seconds": 600.0}, {"epoch": 2, "seconds": 600.0}]

    def record(**t):  # a format-1 card's training section, migrated as read_card does
        d = migrate({"name": "m", "thresholds": {}, "training": {"seed": 0, "epochs_run": 2, "best_epoch": 2,
                                                                 "log": log, "views": 4, **t}})
        return TrainingRecord(**d["training"])
    assert train_minutes(record(wall_time_s=90, command="python -m core.train --resume", legs=2)) == 1.5
    assert train_minutes(record(wall_time_s=90, command="python -m core.train --resume")) == "≥ 20.0"
    assert train_minutes(record(wall_time_s=90, command="python -m core.train")) == 1.5
    assert record(wall_time_s=90, command="x").settings == {"views": 4}


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


def test_predict_cli_json_and_bad_file(trained, sample_dir, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an x-ray")
    good = sorted((sample_dir / "images").glob("*.jpg"))[0]
    proc = subprocess.run([sys.executable, "-m", "core.predict", str(good), str(bad), "--json",
                           "--weights", str(trained / "weights")], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.strip().splitlines()]
    assert lines[0]["error"] is None and 0 <= lines[0]["probability"] <= 1
    assert lines[0]["decided_by"] == "ensemble" and len(lines[0]["members"]) == 2
    assert "not an image" in lines[1]["error"] and "Traceback" not in proc.stderr


def test_tampered_weights_are_refused(trained, tmp_path):
    shutil.copytree(trained / "weights", tmp_path / "w")
    f = tmp_path / "w" / "custom_cnn.safetensors"
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match its model card"):
        load_model(tmp_path / "w" / "custom_cnn.json")


def test_empty_weights_folder(tmp_path):
    pred = predict.Predictor(tmp_path)
    assert pred.members == [] and pred.primary is None
    rc = predict.main([str(ROOT / "README.md"), "--weights", str(tmp_path)])
    assert rc == 2


def test_bench_and_results(trained, tmp_path, monkeypatch, capsys):
    from core.evaluation import bench
    from core.evaluation import results

    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(trained / "reports"))
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(trained / "weights"))
    assert bench.main(["--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "ensemble verdict:" in out and "verdict + one Grad-CAM per member:" in out
    saved = json.loads((trained / "reports" / "bench.json").read_text())
    assert saved["ensemble_verdict_ms"] > 0 and len(saved["models"]) == 2
    assert saved["other_models"] == []  # every card in reports/cards is shipped here
    other = json.loads((trained / "weights" / "custom_cnn.json").read_text()) | {"name": "unshipped_cnn"}
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "unshipped_cnn.json").write_text(json.dumps(other))
    assert bench.main(["--runs", "2", "--cards", str(tmp_path / "cards"), "--out", str(tmp_path / "b.json")]) == 0
    row, = json.loads((tmp_path / "b.json").read_text())["other_models"]
    assert row["model"] == "unshipped_cnn" and row["timed with"].startswith("architecture only")
    assert row["verdict (ms)"] > 0 and row["Grad-CAM (ms)"] > 0
    assert results.main(["--out", str(tmp_path / "R.md")]) == 0
    text = (tmp_path / "R.md").read_text()
    assert "| ensemble | yes |" in text and "CPU speed" in text and "hardware-free AUC" in text


def test_ship_checks_budget_and_card(trained, tmp_path, monkeypatch):
    from core.training import ship

    shipped = ship.ship(["custom_cnn"], trained / "weights", tmp_path / "w")
    assert {p.name for p in shipped} == {"custom_cnn.safetensors", "custom_cnn.json"}
    monkeypatch.setattr(ship, "MAX_WEIGHT_FILE_BYTES", 10)
    with pytest.raises(WeightsError, match="16 MiB"):
        ship.ship(["custom_cnn"], trained / "weights", tmp_path / "w2")


def test_recalibrate_from_saved_logits(trained, mini_dataset):
    from core.training.calibrate import recalibrate

    card = recalibrate(trained / "weights" / "custom_cnn.json", trained / "reports" / "predictions",
                       mini_dataset / "labels.csv")
    assert card.to_dict()["calibration"]["method"].startswith("platt") and "temperature" not in card.to_dict()
    assert card.weights == read_card(trained / "weights" / "custom_cnn.json").weights
    df = pd.read_csv(trained / "reports" / "predictions" / "custom_cnn_val.csv")
    np.testing.assert_allclose(df.prob, card.calibration(df.logit), atol=1e-5)
