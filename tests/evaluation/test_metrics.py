"""Metrics against scikit-learn; temperature scaling and thresholds on synthetic data with known answers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit as sigmoid

from core.evaluation import metrics as M
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


def test_auc_is_the_mann_whitney_statistic(scored):
    from scipy.stats import mannwhitneyu

    y, s = scored
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic  # an independent count of pairwise wins (ties 1/2)
    assert M.roc_auc(y, s) == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-12)


def test_average_precision_by_hand():
    # ranks: pos (P=1, R=1/2), neg, pos (P=2/3, R=1) -> AP = 1/2 * 1 + 1/2 * 2/3
    assert M.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(5 / 6)
    precision, recall = M.precision_recall_curve([1, 0, 1], [0.9, 0.8, 0.7])
    assert recall.max() == 1.0 and precision[np.argmax(recall == 1.0)] == pytest.approx(2 / 3)


def test_roc_curve_starts_at_origin_and_ends_at_one(scored):
    y, s = scored
    fpr, tpr, thr = M.roc_curve(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0) and np.all(np.diff(thr) <= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(M.roc_auc(y, s), abs=1e-9)


def test_threshold_metrics_by_hand():
    r = M.at_threshold([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.7, 0.9], 0.5)
    assert (r["tn"], r["fp"], r["fn"], r["tp"]) == (1, 1, 1, 2)
    assert r["sensitivity"] == pytest.approx(2 / 3) and r["specificity"] == 0.5
    assert r["precision"] == pytest.approx(2 / 3) and r["f1"] == pytest.approx(2 / 3) and r["accuracy"] == 0.6
    assert np.isnan(M.at_threshold([0, 0], [0.1, 0.2], 0.5)["sensitivity"])  # no fractures: undefined, not 0


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
    assert (lo, hi) == M.bootstrap_ci(y, s, M.roc_auc, n=200)  # seeded: the same every time


def test_bootstrap_ci_survives_resamples_with_one_class():
    y, s = np.array([0] * 12 + [1, 1]), np.r_[np.linspace(0, 0.5, 12), [0.6, 0.9]]
    lo, hi = M.bootstrap_ci(y, s, M.roc_auc, n=300)  # many resamples hold no fracture at all
    assert np.isfinite(lo) and np.isfinite(hi) and lo <= hi <= 1.0
    assert np.isnan(M.bootstrap_ci(np.zeros(5), np.arange(5.0), M.roc_auc)[0])


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
    from core.evaluation.summary import summarize
    from core.models.calibration import T_MAX

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    z = rng.normal(0, 0.01, 400)  # logits that carry no information
    cal = Calibration.fit(y, z)
    assert cal.temperature <= T_MAX
    summary = summarize(y, z, cal, {"balanced": 0.5})
    assert summary["roc_auc"] == pytest.approx(M.roc_auc(y, z), abs=1e-9)  # ranking survives calibration
