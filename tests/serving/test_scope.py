"""Clinical trust: valid variants give the clean verdict, out-of-scope images are refused."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data.loading import LoadedImage, load_image
from core.serving.predictor import Predictor
from core.serving.scope import ScopeModel, _as_image
from core.training.scope_negatives import blank, colourised, document, screenshot
from tests.badfiles import CASES

ROOT = Path(__file__).resolve().parents[2]
SCOPE = ROOT / "weights" / "scope.json"
SAME_VERDICT = ["png_16bit", "exif_rotated", "dicom_monochrome1", "dicom_monochrome2", "rgba_png",
                "palette_png", "cmyk_jpeg"]


@pytest.fixture(scope="module")
def scoped(trained, tmp_path_factory):
    """The tiny models plus the shipped out-of-scope check."""
    d = tmp_path_factory.mktemp("scoped")
    shutil.copytree(trained / "weights", d, dirs_exist_ok=True)
    shutil.copy(SCOPE, d / "scope.json")
    return Predictor(d)


@pytest.mark.parametrize("case", SAME_VERDICT)
def test_valid_variant_gets_the_clean_verdict(case, scoped, xray_gray):
    clean = scoped.predict_image(LoadedImage(xray_gray, {"name": "clean"}))
    result = scoped.predict_source(CASES[case][0](xray_gray), f"{case}.img")
    assert result.error is None, result.error
    assert len(result.members) == len(scoped.members) == 2
    tolerance = 0.02 if case in ("cmyk_jpeg", "exif_rotated") else 1e-6  # JPEG changes a few grey levels
    assert result.probability == pytest.approx(clean.probability, abs=tolerance)
    assert [m.probability for m in result.members] == pytest.approx([m.probability for m in clean.members],
                                                                    abs=tolerance)


def test_sample_xrays_are_in_scope(sample_dir):
    model = ScopeModel.load(SCOPE)
    refused = [p.name for p in sorted((sample_dir / "images").glob("*.jpg")) if not model.check(load_image(p)).in_scope]
    assert len(refused) <= 1, refused


def test_non_xrays_are_refused_with_a_reason(xray_gray):
    model = ScopeModel.load(SCOPE)
    rng = np.random.default_rng(123)
    for kind, arr in [("document", document(rng)), ("screenshot", screenshot(rng)), ("blank", blank(rng)),
                      ("colour", colourised(xray_gray, np.random.default_rng(1)))]:
        verdict = model.check(_as_image(arr))
        assert not verdict.in_scope and verdict.reason, kind
    assert "colour" in model.check(_as_image(colourised(xray_gray, np.random.default_rng(1)))).reason


def test_out_of_scope_is_refused_then_overridable(scoped, xray_gray):
    import cv2

    ok, buf = cv2.imencode(".png", screenshot(np.random.default_rng(5))[:, :, ::-1])
    refused = scoped.predict_source(buf.tobytes(), "screen.png")
    assert refused.out_of_scope and refused.probability is None
    assert refused.error.startswith("This does not look like a bone X-ray")
    forced = scoped.predict_source(buf.tobytes(), "screen.png", override_scope=True)
    assert forced.error is None and forced.scope_overridden and forced.probability is not None


def test_dashboard_refuses_then_accepts_override(trained, tmp_path, monkeypatch):
    import cv2

    shutil.copytree(trained / "weights", tmp_path, dirs_exist_ok=True)
    shutil.copy(SCOPE, tmp_path / "scope.json")
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    ok, buf = cv2.imencode(".png", document(np.random.default_rng(3)))
    at.file_uploader(key="uploads").set_value(("letter.png", buf.tobytes(), "image/png")).run()
    assert "does not look like a bone X-ray" in "\n".join(m.value for m in at.markdown)
    at.button[0].click().run()
    assert not at.exception
    assert any("overridden" in i.value for i in at.info)
    assert "FRACTURE SUSPECTED" in "\n".join(m.value for m in at.markdown) or \
        "NO FRACTURE FOUND" in "\n".join(m.value for m in at.markdown)


def test_every_bad_file_through_the_predict_cli(trained, xray_gray, tmp_path):
    import json
    import subprocess
    import sys

    paths = []
    for case, (build, expected) in sorted(CASES.items()):
        if expected is not None:
            paths.append(tmp_path / f"{case}.png")
            paths[-1].write_bytes(build(xray_gray))
    proc = subprocess.run([sys.executable, "-m", "core.predict", *map(str, paths), "--json",
                           "--weights", str(trained / "weights")], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(paths) >= 14
    for row in rows:
        assert row["error"] and row["probability"] is None, row


def test_every_bad_file_on_the_diagnose_page(trained, xray_gray, monkeypatch):
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(trained / "weights"))
    bad = [(f"{case}.png", build(xray_gray), "image/png") for case, (build, expected) in sorted(CASES.items())
           if expected is not None and case != "fifty_megapixels"]
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    at.file_uploader(key="uploads").set_value(bad).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == len(bad) and table["Verdict"].str.contains("cannot analyse").all()
    assert "Cannot analyse this file" in "\n".join(m.value for m in at.markdown)


def test_damaged_scope_file_is_a_clear_weights_error(trained, tmp_path):
    from core.errors import WeightsError

    shutil.copytree(trained / "weights", tmp_path, dirs_exist_ok=True)
    (tmp_path / "scope.json").write_text("{not json")
    with pytest.raises(WeightsError, match="out-of-scope check scope.json cannot be read"):
        Predictor(tmp_path)
