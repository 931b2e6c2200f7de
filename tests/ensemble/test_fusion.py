"""The localiser's evidence in the verdict: fitted on val, stored on the ensemble card, used the same way by the
app, the batch evaluations and the rebuild check."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from core.ensemble.fusion import box_logit, fit_weight, localizer_scores
from core.errors import WeightsError
from core.models.calibration import BoxFusion
from core.models.cards import card_from_dict, read_card
from core.serving.predictor import TOP_BOX, Predictor


def test_box_fusion_adds_the_weighted_logit_of_the_top_score():
    f = BoxFusion(0.5, "abc")
    z = f(np.array([0.0, 1.0]), np.array([0.5, 0.9]))
    assert z == pytest.approx([0.0, 1.0 + 0.5 * np.log(9)])
    assert np.isfinite(f(np.zeros(2), np.array([0.0, 1.0]))).all()  # no box / a certain box: clipped
    with pytest.raises(ValueError, match="floor"):
        BoxFusion(1.0, "abc", floor=0.7)
    assert box_logit(np.array([0.5])) == pytest.approx([0.0])


def test_the_weight_follows_how_much_the_box_score_adds():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(int)
    signal = 2 * y + rng.normal(0, 1, 600)
    ens = signal + rng.normal(0, 1, 600)
    useful = 1 / (1 + np.exp(-(signal + rng.normal(0, 1, 600))))
    assert fit_weight(y, ens, useful) > 0.3
    assert abs(fit_weight(y, ens, rng.random(600))) < 0.2


def test_the_fused_card_round_trips_and_names_its_localizer(fused):
    card = read_card(fused / "weights" / "ensemble.json")
    localizer = json.loads((fused / "weights" / "localizer.json").read_text())
    assert card.box_fusion is not None and card.box_fusion.localizer_sha256 == localizer["weights"]["sha256"]
    assert card_from_dict(card.to_dict()).box_fusion == card.box_fusion
    assert card.extra["box_fusion_decision"]["mode"] == "yes" and "unfused" in card.extra
    bad = card.to_dict() | {"box_fusion": {"localizer_sha256": "x"}}
    with pytest.raises(WeightsError, match="weight"):
        card_from_dict(bad)


def test_the_app_verdict_is_the_fused_one(fused, sample_dir, sample_labels):
    pred = Predictor(fused / "weights")
    assert pred.fuses_boxes
    name = sample_labels.image.iloc[0]
    result, image = pred.analyse(sample_dir / "images" / name, override_scope=True)
    probs = {m.name: np.array([m.probability(image.pixels)]) for m in pred.members}
    top = pred.localizer.find(image.pixels)[0]
    card = pred.ensemble
    unfused = card.calibration(pred.headline_logits(probs, np.array([0.5])))  # logit(0.5) = 0: no box evidence
    expected = card.calibration(card.box_fusion(pred.headline_logits(probs, np.array([0.5])), np.array([top])))
    assert result.probability == pytest.approx(float(expected[0]), abs=1e-6)
    assert result.probability != pytest.approx(float(unfused[0]), abs=1e-6) or top == pytest.approx(0.5)
    with pytest.raises(ValueError, match="top_scores"):
        pred.headline_probabilities(probs)
    assert result.uses_boxes and result.to_dict()["uses_boxes"] is True


def test_reports_say_the_verdict_uses_the_boxes(fused, localized, sample_dir, sample_labels):
    from pypdf import PdfReader

    from core.serving.report import model_versions, pdf_report, worklist_csv

    path = sample_dir / "images" / sample_labels.image.iloc[0]
    for root, fused_verdict in ((fused, True), (localized, False)):
        pred = Predictor(root / "weights")
        result, image = pred.analyse(path, override_scope=True)
        assert result.uses_boxes is fused_verdict
        table = pd.read_csv(io.BytesIO(worklist_csv([result])))
        assert bool(table["verdict_uses_boxes"].iloc[0]) is fused_verdict
        pdf = pdf_report(result, image.pixels, {}, pred.operating_summary(result.operating_point),
                         model_versions(pred), "0" * 64)
        text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
        assert ("localiser's evidence" in text) is fused_verdict


def test_a_fused_card_without_its_localizer_is_refused(fused, tmp_path):
    shutil.copytree(fused / "weights", tmp_path / "w")
    (tmp_path / "w" / "localizer.json").unlink()
    with pytest.raises(WeightsError, match="localiser"):
        Predictor(tmp_path / "w")


def test_a_fused_card_with_another_localizer_is_refused(fused, tmp_path):
    shutil.copytree(fused / "weights", tmp_path / "w")
    path = tmp_path / "w" / "ensemble.json"
    card = json.loads(path.read_text())
    card["box_fusion"]["localizer_sha256"] = "0" * 64
    path.write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="another fracture localiser"):
        Predictor(tmp_path / "w")


def test_batch_scoring_gives_the_app_scores(fused, sample_dir, sample_labels):
    from core.data.fracatlas import load_gray_images
    from core.evaluation.robustness import batched_logits, probabilities

    pred = Predictor(fused / "weights")
    names = sample_labels.image.tolist()[:5]
    grays = load_gray_images(sample_dir / "images", names)
    out = batched_logits(pred, grays, batch=2)
    assert TOP_BOX in out
    assert out[TOP_BOX] == pytest.approx([pred.localizer.find(g)[0] for g in grays], abs=1e-5)
    batch = probabilities(pred, out)["ensemble"]
    assert batch == pytest.approx([pred.predict_image(pred.upright(pred_image(g))).probability for g in grays],
                                  abs=1e-5)


def pred_image(gray: np.ndarray):
    from core.data.loading import LoadedImage

    return LoadedImage(gray, {"name": "x"})


def test_scores_are_reused_only_for_the_same_localizer_and_images(fused, mini_dataset, tmp_path):
    weights = fused / "weights"
    names = {"val": sorted(pd.read_csv(mini_dataset / "labels.csv").query("split == 'val'").image)[:3]}
    first, sha = localizer_scores(weights, mini_dataset / "images", names, tmp_path)
    path = tmp_path / "localizer_top_val.csv"
    table = pd.read_csv(path)
    assert set(table.localizer_sha256) == {sha}
    table["top_box_score"] = 0.123  # a reused file is read back as it is...
    table.to_csv(path, index=False)
    assert localizer_scores(weights, mini_dataset / "images", names, tmp_path)[0]["val"] == pytest.approx([0.123] * 3)
    table["localizer_sha256"] = "other"  # ...but another localiser's scores are recomputed
    table.to_csv(path, index=False)
    assert localizer_scores(weights, mini_dataset / "images", names, tmp_path)[0]["val"] == pytest.approx(first["val"])


def test_a_models_only_rebuild_is_compared_before_fusion(fused, trained):
    from core.evaluation.rebuild import check

    out = check(fused / "weights", trained / "weights")
    ens = out["models"]["ensemble"]
    assert ens["compared_before_box_fusion"] is True
    assert ens["difference"]["roc_auc"] == pytest.approx(0.0, abs=1e-9)  # the same unfused ensemble
