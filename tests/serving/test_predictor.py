"""The predictor and its CLI: verdicts, clear errors, no models."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.serving import predictor as predict
from core.serving.predictor import Predictor

ROOT = Path(__file__).resolve().parents[2]


def test_predict_cli_json_and_bad_file(trained, sample_dir, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an x-ray")
    good = sorted((sample_dir / "images").glob("*.jpg"))[0]
    proc = subprocess.run([sys.executable, "-m", "core.predict", str(good), str(bad), "--json",
                           "--weights", str(trained / "weights")], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.strip().splitlines()]
    assert lines[0]["error"] is None and lines[0]["decided_by"] == "ensemble" and len(lines[0]["members"]) == 2
    live = Predictor(trained / "weights").predict_source(good)  # the CLI says what the library says
    assert lines[0]["probability"] == pytest.approx(live.probability, abs=1e-6)
    assert lines[0]["fractured"] == live.fractured and lines[0]["threshold"] == live.threshold
    assert "not an image" in lines[1]["error"] and "Traceback" not in proc.stderr


def test_empty_weights_folder(tmp_path):
    pred = predict.Predictor(tmp_path)
    assert pred.members == [] and pred.primary is None
    rc = predict.main([str(ROOT / "README.md"), "--weights", str(tmp_path)])
    assert rc == 2
