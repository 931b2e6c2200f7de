"""Metrics against scikit-learn; temperature scaling and thresholds on synthetic data with known answers."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from core.evaluation import metrics as M
from scipy.special import expit as sigmoid

from core.models.calibration import Calibration, fit_temperature
from core.training.operating_points import single_thresholds


@pytest.fixture(params=[0, 1, 2])
def scored(request):
    rng = np.random.default_rng(request.param)
    y = rng.integers(0, 2, 300)
    s = y * rng.normal(1, 1, 300) + rng.normal(0, 1, 300)
    if request.param == 2:
        s = np.round(s, 1)  # many ties
    return y, s


def test_auc_matches_sklearn(scored):
    y, s = scored
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


def test_average_precision_matches_sklearn(scored):
    y, s = scored
    assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


def test_roc_curve_matches_sklearn(scored):
    y, s = scored
    fpr, tpr, _ = M.roc_curve(y, s)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)


def test_threshold_metrics_match_sklearn(scored):
    y, s = scored
    r = M.at_threshold(y, s, 0.5)
    pred = (s >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert (r["tn"], r["fp"], r["fn"], r["tp"]) == (tn, fp, fn, tp)
    assert r["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert r["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert r["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert r["specificity"] == pytest.approx(tn / (tn + fp))


def test_known_small_cases():
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert M.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(M.roc_auc([1, 1], [0.2, 0.3]))
    assert M.brier([0, 1], [0.0, 1.0]) == 0.0
    assert M.ece([0, 1, 1, 0], [0.05, 0.95, 0.95, 0.05]) == pytest.approx(0.05)


def test_bootstrap_ci_brackets_the_estimate(scored):
    y, s = scored
    lo, hi = M.bootstrap_ci(y, s, M.roc_auc, n=200)
    assert lo < M.roc_auc(y, s) < hi and hi - lo < 0.2


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="length"):
        M.roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="0/1"):
        M.roc_auc([0, 2], [0.1, 0.2])


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_temperature_recovers_a_known_temperature(true_t):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 20000)
    y = (rng.random(z.size) < sigmoid(z)).astype(int)  # z are calibrated log-odds
    fitted = fit_temperature(y, z * true_t)  # scores over-confident by true_t
    assert fitted == pytest.approx(true_t, rel=0.05)
    assert M.ece(y, Calibration(fitted)(z * true_t)) < 0.02


def test_thresholds_on_known_scores():
    y = np.array([0] * 10 + [1] * 20)
    p = np.r_[np.linspace(0.0, 0.45, 10), np.linspace(0.3, 1.0, 20)]
    t = single_thresholds(y, p, min_sensitivity=0.95)
    assert M.at_threshold(y, p, t["high_sensitivity"])["sensitivity"] >= 0.95
    # the largest threshold keeping 19 of 20 positives is the 2nd-lowest positive score
    assert t["high_sensitivity"] == pytest.approx(np.sort(p[10:])[1])
    j = M.at_threshold(y, p, t["balanced"])
    best = max(M.at_threshold(y, p, c)["sensitivity"] + M.at_threshold(y, p, c)["specificity"] for c in p)
    assert j["sensitivity"] + j["specificity"] == pytest.approx(best)


def test_calibration_domain_errors():
    with pytest.raises(ValueError, match="temperature must be positive, got 0.0"):
        Calibration(0.0)
    with pytest.raises(ValueError, match="both classes"):
        fit_temperature(np.ones(5), np.zeros(5))


def test_platt_calibration_recovers_temperature_and_bias():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2.5, 30000)
    y = (rng.random(z.size) < sigmoid(z)).astype(int)
    scores = (z + 1.6) * 1.8  # what a class-weighted, over-confident model reports
    fitted = Calibration.fit(y, scores)
    assert fitted.temperature == pytest.approx(1.8, rel=0.05)
    assert fitted.bias == pytest.approx(-1.6, abs=0.08)
    assert M.ece(y, fitted(scores)) < 0.02 < M.ece(y, Calibration(fit_temperature(y, scores))(scores))
    assert Calibration.from_dict(fitted.to_dict()) == fitted
    with pytest.raises(ValueError, match="temperature must be positive, got -1"):
        Calibration(-1.0)


def test_calibration_stays_bounded_for_an_uninformative_model():
    from core.models.calibration import T_MAX
    from core.evaluation.summary import summarize

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    z = rng.normal(0, 0.01, 400)  # logits that carry no information
    cal = Calibration.fit(y, z)
    assert cal.temperature <= T_MAX
    summary = summarize(y, z, cal, {"balanced": 0.5})
    assert summary["roc_auc"] == pytest.approx(M.roc_auc(y, z), abs=1e-9)  # ranking survives calibration
