"""The localiser in the product: boxes in every result, the --json contract, drawn boxes, PDF and SR."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from core.data.loading import load_image
from core.serving.findings import DASHED, SOLID, draw_findings
from core.serving.pacs_study import result_boxes
from core.serving.predictor import Predictor
from core.serving.report import model_versions, pdf_report
from core.serving.verdict import FoundBox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pred(localized):
    return Predictor(localized / "weights")


def _first(sample_dir):
    return sorted((sample_dir / "images").glob("*.jpg"))[0]


def test_every_result_carries_boxes_that_pass_the_high_sensitivity_point(pred, sample_dir):
    result = pred.predict_source(_first(sample_dir))
    t = pred.localizer.card.thresholds
    assert result.localized and result.error is None
    scores = [b.score for b in result.boxes]
    assert scores == sorted(scores, reverse=True) and all(s >= t["high_sensitivity"] for s in scores)
    for b in result.boxes:
        assert b.level == ("balanced" if b.score >= t["balanced"] else "high_sensitivity")
        x0, y0, x1, y1 = b.xyxy
        assert 0 <= x0 < x1 and 0 <= y0 < y1


def test_no_box_below_the_threshold(pred, sample_dir):
    saved = pred.localizer.card
    pred.localizer.card = saved.with_(thresholds={"high_sensitivity": 1.0, "balanced": 1.0})
    try:
        assert pred.predict_source(_first(sample_dir)).boxes == []
    finally:
        pred.localizer.card = saved


def test_cli_json_gives_boxes_in_pixels(localized, sample_dir):
    good = _first(sample_dir)
    proc = subprocess.run([sys.executable, "-m", "core.predict", str(good), "--json", "--weights",
                           str(localized / "weights")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    live = Predictor(localized / "weights").predict_source(good)
    assert [b["xyxy"] for b in out["boxes"]] == [b.xyxy for b in live.boxes]
    assert all(set(b) == {"xyxy", "score", "level"} and len(b["xyxy"]) == 4 for b in out["boxes"])


def test_without_a_localizer_results_say_so(trained, sample_dir):
    result = Predictor(trained / "weights").predict_source(_first(sample_dir))
    assert result.boxes == [] and not result.localized


def test_boxes_are_drawn_solid_or_dashed():
    gray = np.full((200, 300), 40, np.uint8)
    img = draw_findings(gray, [FoundBox([20, 30, 120, 90], 0.8, "balanced"), FoundBox([150, 100, 280, 190], 0.3,
                                                                                       "high_sensitivity")])
    assert img.shape == (200, 300, 3)
    assert (img[40:90, 20] == SOLID).all()  # left edge of the solid box, unbroken
    column = (img[110:190, 150] == DASHED).all(axis=1)  # left edge of the dashed box: dashes and gaps
    assert column.any() and not column.all()
    assert (gray == 40).all()  # the input is not drawn on


def test_pdf_lists_the_boxes(pred, sample_dir):
    image = load_image(_first(sample_dir))
    result = pred.predict_image(image)
    result.boxes = result.boxes or [FoundBox([10, 10, 60, 60], 0.5, "balanced")]
    summary = pred.operating_summary("high_sensitivity")
    pdf = pdf_report(result, image.pixels, {}, summary, model_versions(pred), "0" * 64)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Fracture localiser" in text and f"score {result.boxes[0].score:.2f}" in text
    assert "localizer" in text  # its weights' sha256 is listed with the models'


def test_the_balanced_setting_shows_only_solid_boxes():
    from core.serving.verdict import Result

    boxes = [FoundBox([0, 0, 5, 5], 0.9, "balanced"), FoundBox([9, 9, 20, 20], 0.1, "high_sensitivity")]
    assert Result("x", operating_point="balanced", boxes=boxes).shown_boxes() == boxes[:1]
    assert Result("x", operating_point="high_sensitivity", boxes=boxes).shown_boxes() == boxes


def test_sr_regions_come_from_the_result(pred, sample_dir):
    result = pred.predict_source(_first(sample_dir))
    result.boxes = [FoundBox([10, 20, 50, 80], 0.7, "balanced")]
    (box,) = result_boxes(result)
    assert (box.x, box.y, box.width, box.height) == (10, 20, 40, 60)


def test_worklist_csv_counts_the_shown_boxes(pred, sample_dir):
    import pandas as pd

    from core.serving.report import worklist_csv
    from core.serving.verdict import Result

    result = pred.predict_source(_first(sample_dir))
    result.boxes = [FoundBox([0, 0, 5, 5], 0.9, "balanced"), FoundBox([9, 9, 20, 20], 0.1, "high_sensitivity")]
    df = pd.read_csv(io.BytesIO(worklist_csv([result, Result("bad.png", error="not an image")])))
    assert df.loc[0, "boxes"] == (2 if result.operating_point == "high_sensitivity" else 1)
    assert df.loc[0, "top_box_score"] == 0.9 and pd.isna(df.loc[1, "boxes"])


def test_an_inverted_upload_is_turned_back_with_a_warning(pred, sample_dir):
    import cv2

    from core.serving import wording

    gray = load_image(_first(sample_dir)).pixels
    ok, png = cv2.imencode(".png", 255 - gray)
    result, image = pred.analyse(png.tobytes(), "negative.png")
    assert result.error is None and image.meta["auto_inverted"]
    assert np.array_equal(image.pixels, gray) and wording.AUTO_INVERTED in result.warnings
    plain = pred.predict_source(_first(sample_dir))
    assert result.probability == pytest.approx(plain.probability, abs=1e-6)
    assert wording.AUTO_INVERTED not in plain.warnings


def test_a_probability_near_its_threshold_never_reads_the_same_as_it():
    from core.serving.wording import probability_and_threshold

    assert probability_and_threshold(0.83, 0.05) == ("83%", "5%")
    assert probability_and_threshold(0.0312, 0.0347) == ("3.1%", "3.5%")
    assert probability_and_threshold(0.03121, 0.03124) == ("3.12%", "3.12%")  # 2 decimals at most
    assert probability_and_threshold(0.5, 0.5) == ("50.00%", "50.00%")
