"""Operating points: the rules, their stability on val resamples, and Wilson intervals."""
from __future__ import annotations

import numpy as np
import pytest

from core.training.operating_points import (
    choose_thresholds,
    rates,
    rule_stability,
    single_thresholds,
    threshold_uncertainty,
    wilson,
)


@pytest.fixture(scope="module")
def val():
    rng = np.random.default_rng(4)
    y = (rng.random(600) < 0.18).astype(int)
    z = rng.normal(0, 1, 600) + 2.2 * y
    return y, 1 / (1 + np.exp(-(z - 1.5)))


def test_rules_agree_roughly_on_a_large_sample(val):
    y, p = val
    single, smooth = single_thresholds(y, p), choose_thresholds(y, p)
    for op in single:
        assert rates(y, p, smooth[op])["sensitivity"] == pytest.approx(rates(y, p, single[op])["sensitivity"], abs=0.06)
    assert rates(y, p, smooth["high_sensitivity"])["sensitivity"] >= 0.9


def test_smoothed_rule_moves_less_between_resamples(val):
    y, p = val
    single = rule_stability(y, p, "single", outer=30)
    smooth = rule_stability(y, p, "smoothed", outer=30)
    assert smooth["balanced"]["threshold_sd"] < single["balanced"]["threshold_sd"]  # averaging Youden's picks
    # the high-sensitivity point is bounded by how few fractures lie in the tail on either rule
    assert smooth["high_sensitivity"]["sensitivity_5_95"][0] >= 0.85


def test_wilson_interval_known_value():
    lo, hi = wilson(97, 103)  # the shipped high-sensitivity point's fractures found on test
    assert lo == pytest.approx(0.8788, abs=1e-3) and hi == pytest.approx(0.9730, abs=1e-3)
    assert np.isnan(wilson(0, 0)[0])


def test_threshold_uncertainty_reports_both_points(val):
    y, p = val
    out = threshold_uncertainty(y, p, y, p, single_thresholds(y, p), n=50)
    hs = out["high_sensitivity"]
    assert hs["test"]["sensitivity_ci"][0] < hs["test"]["sensitivity"] < hs["test"]["sensitivity_ci"][1]
    lo, mid, hi = hs["val_resample_threshold_5_50_95"]
    assert lo <= mid <= hi and lo < hi


def test_unknown_rule_is_named(val):
    with pytest.raises(ValueError, match="magic"):
        choose_thresholds(*val, rule="magic")
