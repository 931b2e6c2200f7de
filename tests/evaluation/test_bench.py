"""CPU benchmark and RESULTS.md from the cards."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_and_results(trained, tmp_path, monkeypatch, capsys):
    from core.evaluation import bench, results

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
