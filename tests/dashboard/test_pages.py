"""Every page through streamlit.testing.v1.AppTest, with tiny trained models."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.badfiles import CASES

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 120


@pytest.fixture
def app(trained, monkeypatch):
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(trained / "weights"))
    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(trained / "reports"))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_diagnose_without_upload_shows_notice_and_prompt(app):
    at = app.run()
    assert not at.exception
    assert "Decision-support aid, not a diagnosis" in at.warning[0].value
    assert any("Nothing uploaded yet" in i.value for i in at.info)


def test_diagnose_upload_gives_verdict_and_overlays(app, sample_dir):
    at = app.run()
    xray = sorted((sample_dir / "images").glob("*.jpg"))[0]
    at.file_uploader(key="uploads").set_value((xray.name, xray.read_bytes(), "image/jpeg")).run()
    assert not at.exception
    text = markdown(at)
    assert "FRACTURE SUSPECTED" in text or "NO FRACTURE FOUND" in text
    assert any("found" in c.value and "false alarm" in c.value for c in at.caption)
    assert len(at.image) == 1 + 2  # the original + one overlay per model
    assert at.dataframe[0].value.shape[0] == 2  # one row per model


def test_diagnose_bad_file_gets_a_clear_message(app):
    at = app.run()
    at.file_uploader(key="uploads").set_value(("scan.png", b"this is not an x-ray", "image/png")).run()
    assert not at.exception
    assert "This file is not an image" in markdown(at)
    assert len(at.image) == 0


def test_diagnose_worklist_for_several_files(app, sample_dir, xray_gray):
    at = app.run()
    files = [(p.name, p.read_bytes(), "image/jpeg") for p in sorted((sample_dir / "images").glob("*.jpg"))[:3]]
    files.append(("empty.dcm", CASES["zero_byte"][0](xray_gray), "application/dicom"))
    at.file_uploader(key="uploads").set_value(files).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 4 and "cannot analyse" in table["Verdict"].iloc[3]


def test_diagnose_with_no_models(tmp_path, monkeypatch):
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "No models are installed" in at.error[0].value


def test_compare_page(app):
    at = app.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"custom_cnn", "efficientnet_lite0", "ensemble"} <= set(table["model"])
    assert len(at.get("plotly_chart")) >= 5
    assert any("make robustness` writes" in i.value for i in at.info)  # not measured in this reports folder


def test_compare_page_filters_models(app):
    at = app.run()
    at.switch_page("views/compare.py").run()
    at.multiselect[0].set_value(["custom_cnn", "ensemble"]).run()
    assert not at.exception
    assert set(at.dataframe[0].value["model"]) == {"custom_cnn", "ensemble"}
    at.multiselect[0].set_value([]).run()
    assert not at.exception
    assert any("Choose at least one model" in i.value for i in at.info)


def test_compare_page_shows_robustness(app, trained, mini_dataset, tmp_path, monkeypatch):
    import shutil

    from core.evaluation.robustness import main as robustness

    reports = tmp_path / "reports"
    shutil.copytree(trained / "reports", reports)
    assert robustness(["--shifts", "jpeg", "--levels", "middle", "--bootstrap", "0", "--batch", "4",
                       "--weights", str(trained / "weights"), "--data", str(mini_dataset),
                       "--out", str(reports / "robustness.json")]) == 0
    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(reports))
    at = app.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    assert any("robustness" in h.value for h in at.subheader)
    assert not any("make robustness` writes" in i.value for i in at.info)
    assert any("Change from the unshifted image" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 7  # the six comparison charts + the robustness chart
    at.radio(key="robustness_severity").set_value("strong").run()
    assert not at.exception
    assert any("No strong levels were measured" in i.value for i in at.info)


def test_explore_page(app):
    at = app.run()
    at.switch_page("views/explore.py").run()
    assert not at.exception
    assert len(at.image) == 12  # one page of the gallery
    assert any("surgical hardware" in w.value for w in at.warning)


@pytest.fixture
def localized_app(localized, monkeypatch):
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(localized / "weights"))
    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(localized / "reports"))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def test_diagnose_shows_the_localizer_boxes_with_a_toggle(localized_app, sample_dir):
    at = localized_app.run()
    xray = sorted((sample_dir / "images").glob("*.jpg"))[0]
    at.file_uploader(key="uploads").set_value((xray.name, xray.read_bytes(), "image/jpeg")).run()
    assert not at.exception
    assert any("Where the fracture may be" in h.value for h in at.subheader)
    assert at.image[0].value is not None and len(at.image) == 1 + 1 + 2  # boxes view, original, two overlays
    assert any("solid red" in c.value for c in at.caption)
    assert any("top box lay on a radiologist's box" in c.value for c in at.caption)
    at.toggle(key="show_boxes").set_value(False).run()
    assert not at.exception


def test_diagnose_without_a_localizer_says_so(app, sample_dir):
    at = app.run()
    xray = sorted((sample_dir / "images").glob("*.jpg"))[0]
    at.file_uploader(key="uploads").set_value((xray.name, xray.read_bytes(), "image/jpeg")).run()
    assert any("No fracture localiser is installed" in c.value for c in at.caption)


def test_compare_page_shows_the_localizer(localized_app):
    at = localized_app.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    assert any("Does the localiser find the fracture" in h.value for h in at.subheader)
    assert any("FROC" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "AP50" in d.value.columns)
    assert list(table["split"]) == ["val", "test"]


@pytest.fixture
def fused_app(fused, monkeypatch):
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(fused / "weights"))
    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(fused / "reports"))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


@pytest.mark.parametrize("which", ["fused", "localized"])
def test_the_verdict_says_whether_it_uses_the_boxes(which, request, monkeypatch, sample_dir):
    root = request.getfixturevalue(which)
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(root / "weights"))
    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(root / "reports"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    xray = sorted((sample_dir / "images").glob("*.jpg"))[0]
    at.file_uploader(key="uploads").set_value((xray.name, xray.read_bytes(), "image/jpeg")).run()
    assert not at.exception
    text = markdown(at) + "\n".join(c.value for c in at.caption)
    fused = which == "fused"
    assert ("(the ensemble with the fracture localiser's evidence)" in text) is fused
    assert ("adds the top box's score" in text) is fused and ("does not depend on the boxes" in text) is not fused


def test_compare_page_shows_the_verdict_before_and_after_fusion(fused_app):
    at = fused_app.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    assert list(table["verdict"]) == ["ensemble alone", "fused"]
    assert any("logit(top box score)" in c.value for c in at.caption)


def test_diagnose_cautions_on_a_noisy_upload(trained, sample_dir, tmp_path, monkeypatch):
    """With the shipped image-quality check, a noisy PNG gets its verdict and a caution that says it is noisy."""
    import shutil

    import cv2

    from core.data.shifts import apply_shift

    shutil.copytree(trained / "weights", tmp_path / "weights")
    shutil.copy(ROOT / "weights" / "quality.json", tmp_path / "weights" / "quality.json")
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(trained / "reports"))
    gray = cv2.imread(str(sorted((sample_dir / "images").glob("*.jpg"))[0]), cv2.IMREAD_GRAYSCALE)
    png = cv2.imencode(".png", apply_shift(gray, "noise", 10, 0, 0))[1].tobytes()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.file_uploader(key="uploads").set_value(("noisy.png", png, "image/png")).run()
    assert not at.exception
    assert "FRACTURE SUSPECTED" in markdown(at) or "NO FRACTURE FOUND" in markdown(at)
    assert any("looks noisy" in w.value and "specificity" in w.value for w in at.warning)
