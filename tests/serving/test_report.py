"""PDF report, worklist CSV, audit log, uncertainty rule; and that uploads never touch the disk."""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from core.data.loading import load_image
from core.ensemble import uncertainty
from core.models.cards import read_card
from core.serving.predictor import Predictor
from core.serving.report import audit, model_versions, pdf_report, worklist_csv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def predicted(trained, sample_dir):
    pred = Predictor(trained / "weights")
    path = sorted((sample_dir / "images").glob("*.jpg"))[1]
    image = load_image(path)
    return pred, image, pred.predict_image(image), path.read_bytes()


def test_pdf_report_text(predicted):
    pred, image, result, _ = predicted
    overlays = {m.name: pred.overlay(image.pixels, pred.heatmap(image.pixels, m.name), m.name, 0.4)
                for m in pred.members}
    data = pdf_report(result, image.pixels, overlays, pred.operating_summary(result.operating_point),
                      model_versions(pred), "ab" * 32)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for needle in ("FRACTURE", "sensitivity", "specificity", "custom_cnn", "efficientnet_lite0",
                   "not a diagnosis", pred.members[0].card.weights.sha256[:20], "high sensitivity"):
        assert needle in text, needle
    distinct = {o.tobytes() for o in overlays.values()}  # fpdf2 stores identical pictures once
    assert len(reader.pages[0].images) == 1 + len(distinct)


def test_worklist_csv(predicted, trained):
    pred, _, result, _ = predicted
    bad = pred.predict_source(b"%PDF-1.4 nothing", "letter.pdf")
    table = pd.read_csv(io.BytesIO(worklist_csv([result, bad])))
    assert list(table.file) == [result.file, "letter.pdf"]
    assert "PDF" in table.error.iloc[1] and table.probability.iloc[0] == pytest.approx(result.probability)
    assert {"p_custom_cnn", "p_efficientnet_lite0"} <= set(table.columns)


def test_audit_log_is_opt_in_and_holds_no_pixels(predicted, tmp_path, monkeypatch):
    pred, _, result, raw = predicted
    monkeypatch.delenv("FRACTURE_AUDIT_LOG", raising=False)
    assert audit(result, raw, model_versions(pred)) is None
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("FRACTURE_AUDIT_LOG", str(log))
    audit(result, raw, model_versions(pred))
    entry = json.loads(log.read_text().splitlines()[0])
    assert len(entry["image_sha256"]) == 64 and entry["output"]["probability"] == pytest.approx(result.probability)
    assert {m["name"] for m in entry["models"]} == {"custom_cnn", "efficientnet_lite0"}
    assert len(log.read_bytes()) < 4000  # a record, never the image


def test_uncertainty_rule_on_known_values():
    p = np.array([0.05, 0.45, 0.5, 0.55, 0.95])
    margin = uncertainty.fit_margin(p, 0.5, budget=0.7)  # between the 3rd and 4th smallest distance
    assert 0.21 < margin < 2.9
    f = uncertainty.flags(p, 0.5, margin, np.array([False, False, False, False, True]))
    assert f.tolist() == [False, True, True, True, True]
    m = uncertainty.measure(np.array([0, 1, 1, 0, 1]), p, 0.5, f)
    # verdicts at 0.5: [0, 0, 1, 1, 1] vs truth [0, 1, 1, 0, 1]: right, wrong, right, wrong, right
    assert m["flagged"] == 4 and m["accuracy_unflagged"] == 1.0 and m["accuracy_flagged"] == 0.5
    assert m["fractures_flagged"] == 3
    with pytest.raises(ValueError, match="budget"):
        uncertainty.fit_margin(p, 0.5, 1.5)


def test_ensemble_card_has_uncertainty_measured_on_test(trained):
    card = read_card(trained / "weights" / "ensemble.json")
    rule = card.uncertainty["high_sensitivity"]
    assert rule["test"]["n"] == card.split("test")["n"] and rule["budget"] == 0.10
    n_val = rule["val"]["n"]  # closeness alone flags the budget's share of val; disagreement adds more
    assert rule["val"]["flagged"] >= int(rule["budget"] * n_val) - 1


def _snapshot(dirs: list[Path]) -> set[tuple[str, float]]:
    seen = set()
    for d in dirs:
        for root, _, files in os.walk(d):
            if ".venv" in root or "__pycache__" in root or ".pytest_cache" in root:
                continue
            for f in files:
                p = Path(root) / f
                with contextlib.suppress(OSError):  # a file deleted while walking was not written by us
                    seen.add((str(p), p.stat().st_mtime))
    return seen


def test_uploads_are_never_written_to_disk(trained, monkeypatch, sample_dir):
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(trained / "weights"))
    monkeypatch.delenv("FRACTURE_AUDIT_LOG", raising=False)
    marker = sorted((sample_dir / "images").glob("*.jpg"))[2].read_bytes()[:-2] + b"\x13\x37\xff\xd9"
    watched = [ROOT, Path(tempfile.gettempdir()), Path.home() / ".streamlit"]
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    before = _snapshot(watched)
    at.file_uploader(key="uploads").set_value(("private.jpg", marker, "image/jpeg")).run()
    assert not at.exception
    new = {p for p, _ in _snapshot(watched) - before}
    for p in new:
        assert marker not in Path(p).read_bytes(), f"upload written to {p}"
    assert not [p for p in new if "private" in p]
