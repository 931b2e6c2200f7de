"""The image-quality check: its two measurements, its card, the shipped thresholds, and the caution a user reads."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.quality import QUALITY_CARD, QualityCard, at_scale, blockiness, noise_sigma
from core.data.shifts import apply_shift

ROOT = Path(__file__).resolve().parents[2]


def _smooth(h: int = 288, w: int = 352) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (60 + 80 * np.sin(x / 40.0) * np.cos(y / 55.0) + 60).astype(np.uint8)


@pytest.mark.parametrize("sigma", [3.0, 10.0])
def test_noise_sigma_reads_added_gaussian_noise(sigma):
    rng = np.random.default_rng(0)
    noisy = np.clip(_smooth().astype(float) + rng.normal(0, sigma, (288, 352)), 0, 255).astype(np.uint8)
    assert noise_sigma(_smooth()) < 0.8
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.15)


def test_noise_is_measured_at_the_models_scale():
    big = cv2.resize(_smooth(), (1408, 1152), interpolation=cv2.INTER_CUBIC)
    assert at_scale(big).shape == (288, 352) and at_scale(_smooth(100, 120)).shape == (100, 120)


def test_blockiness_finds_jpeg_blocks_and_not_a_black_frame():
    clean = _smooth()
    q10 = cv2.imdecode(cv2.imencode(".jpg", clean, [cv2.IMWRITE_JPEG_QUALITY, 10])[1], cv2.IMREAD_GRAYSCALE)
    framed = cv2.copyMakeBorder(clean, 72, 72, 88, 88, cv2.BORDER_CONSTANT, value=0)
    assert blockiness(clean) == pytest.approx(1.0, abs=0.1)
    assert blockiness(framed) == pytest.approx(1.0, abs=0.1)
    assert blockiness(q10) > 1.5
    big = cv2.resize(clean, (2304, 2880), interpolation=cv2.INTER_CUBIC)
    big_q10 = cv2.imdecode(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 10])[1], cv2.IMREAD_GRAYSCALE)
    assert blockiness(big) < 1.2 < 1.5 < blockiness(big_q10)  # a large scan is read at its centre, on the block grid


@pytest.mark.parametrize("fn", [noise_sigma, blockiness])
def test_bad_shapes_raise_naming_the_shape(fn):
    with pytest.raises(ValueError, match=r"\(4, 4, 3\)"):
        fn(np.zeros((4, 4, 3), np.uint8))


def test_a_card_with_an_unknown_measurement_is_refused(tmp_path):
    QualityCard(thresholds={"noise": 1.0}).write(tmp_path / "q.json")
    assert QualityCard.read(tmp_path / "q.json").flags({"noise": 2.0}) == ["noise"]
    (tmp_path / "q.json").write_text(json.dumps({"thresholds": {"glare": 1.0}}))
    with pytest.raises(ValueError, match="glare"):
        QualityCard.read(tmp_path / "q.json")


@pytest.fixture(scope="module")
def card() -> QualityCard:
    return QualityCard.read(ROOT / "weights" / QUALITY_CARD)


def test_shipped_check_passes_the_bundled_samples_and_flags_their_degraded_copies(card, sample_dir):
    from core.data.loading import load_image

    grays = [load_image(p).pixels for p in sorted((sample_dir / "images").glob("*.jpg"))]
    assert sum(bool(card.flags(card.measure(g))) for g in grays) <= 1  # the fit allows about 1 in 200
    for i, g in enumerate(grays[:8]):
        assert "noise" in card.flags(card.measure(apply_shift(g, "noise", 10, 0, i)))
        assert "jpeg" in card.flags(card.measure(apply_shift(g, "jpeg", 20, 0, i)))


def test_shipped_card_quotes_the_current_robustness_report(card):
    path = ROOT / "reports" / "robustness.json"
    assert card.robustness_sha256 == hashlib.sha256(path.read_bytes()).hexdigest(), (
        "reports/robustness.json changed: refit with `make quality`")
    shifts = {(r["shift"], r["level"]): r for r in json.loads(path.read_text())["shifts"] if r["images"] == "all"}
    for name, effect in card.effects.items():
        ops = shifts[(name, effect.level)]["models"]["ensemble"]["operating_points"]
        assert effect.specificity["high_sensitivity"][1] == pytest.approx(ops["high_sensitivity"]["specificity"], abs=1e-4)
    assert set(card.effects) == {"noise", "jpeg"}


def test_fit_writes_a_card_and_report_on_a_small_split(mini_dataset, tmp_path):
    from core.training import quality_fit

    assert quality_fit.main(["--data", str(mini_dataset), "--robustness", str(tmp_path / "none.json"),
                             "--out", str(tmp_path / "w"), "--reports", str(tmp_path / "r"), "--quantile", "0.99"]) == 0
    card = QualityCard.read(tmp_path / "w" / QUALITY_CARD)
    report = json.loads((tmp_path / "r" / "quality.json").read_text())
    assert set(card.thresholds) == {"noise", "jpeg"} and card.effects == {}
    assert card.metrics["val"]["noise:10"]["rate"] == 1.0 and "text:5" in report["by_measurement"]["test"]


def test_a_noisy_upload_gets_a_caution_naming_the_noise_and_its_measured_effect(trained, sample_dir, tmp_path, card):
    import shutil

    from core.serving.predictor import Predictor

    weights = tmp_path / "weights"
    shutil.copytree(trained / "weights", weights)
    shutil.copy(ROOT / "weights" / QUALITY_CARD, weights / QUALITY_CARD)
    pred = Predictor(weights)
    path = sorted((sample_dir / "images").glob("*.jpg"))[0]
    clean = pred.predict_source(path)
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    noisy = pred.predict_source(cv2.imencode(".png", apply_shift(gray, "noise", 10, 0, 0))[1].tobytes(), "noisy.png")
    assert clean.image["quality"]["flagged"] == [] and not any("noisy" in w for w in clean.warnings)
    assert noisy.image["quality"]["flagged"] == ["noise"] and noisy.fractured is not None
    caution = next(w for w in noisy.warnings if "looks noisy" in w)
    plain, shifted = card.effects["noise"].specificity["high_sensitivity"]
    assert f"fell from {plain:.0%} to {shifted:.0%}" in caution
    assert f"which {1 - card.quantile:.1%} of FracAtlas validation radiographs exceed" in caution
    import io

    import pandas as pd

    from core.serving.report import worklist_csv

    table = pd.read_csv(io.BytesIO(worklist_csv([clean, noisy])), keep_default_na=False)
    assert table["quality_flags"].tolist() == ["", "noise"]
