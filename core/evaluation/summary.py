"""Summaries of one set of scores: the metrics every card, report and page shows."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.data.fracatlas import REGIONS
from core.evaluation import metrics as M
from core.models.calibration import Calibration


def auc_with_ci(y: np.ndarray, s: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """ROC-AUC with a percentile-bootstrap 95% CI."""
    lo, hi = M.bootstrap_ci(y, s, M.roc_auc, n=n_boot, seed=seed)
    return {"roc_auc": M.roc_auc(y, s), "roc_auc_ci": [lo, hi]}


def summarize(y: np.ndarray, logits: np.ndarray, calibration: Calibration, thresholds: dict[str, float],
              meta: pd.DataFrame | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """Discrimination, operating points, calibration and subgroup figures for one model."""
    y = np.asarray(y, int)
    p = calibration(logits)
    raw = Calibration()(logits)
    fpr, tpr, _ = M.roc_curve(y, p)
    prec, rec = M.precision_recall_curve(y, p)
    out: dict[str, Any] = {"n": int(len(y)), "positives": int(y.sum())}
    out |= auc_with_ci(y, p, n_boot)
    out |= {"average_precision": M.average_precision(y, p),
            "operating_points": {k: M.at_threshold(y, p, t) for k, t in thresholds.items()},
            "ece_raw": M.ece(y, raw), "ece": M.ece(y, p), "brier": M.brier(y, p),
            "reliability": M.reliability(y, p),
            "roc": {"fpr": _thin(fpr), "tpr": _thin(tpr)},
            "pr": {"precision": _thin(prec), "recall": _thin(rec)}}
    if meta is not None:
        out |= subgroups(y, p, meta, n_boot)
    return out


def subgroups(y: np.ndarray, p: np.ndarray, meta: pd.DataFrame, n_boot: int) -> dict[str, Any]:
    """Per-region ROC-AUC and the hardware-free ROC-AUC (implants are a shortcut)."""
    out: dict[str, Any] = {"regions": {}}
    for region in REGIONS:
        if region in meta.columns:
            m = meta[region].to_numpy() == 1
            if m.sum() and 0 < y[m].sum() < m.sum():
                out["regions"][region] = {"n": int(m.sum()), "positives": int(y[m].sum()),
                                          "roc_auc": M.roc_auc(y[m], p[m])}
    if "hardware" in meta.columns:
        m = meta["hardware"].to_numpy() == 0
        out["hardware_free"] = {"n": int(m.sum()), "positives": int(y[m].sum())}
        out["hardware_free"] |= auc_with_ci(y[m], p[m], n_boot)
    return out


def _thin(values: np.ndarray, most: int = 200) -> list[float]:
    """At most `most` points of a curve, always keeping the ends, rounded for JSON."""
    v = np.asarray(values, float)
    if len(v) > most:
        v = v[np.unique(np.linspace(0, len(v) - 1, most).round().astype(int))]
    return [round(float(x), 5) for x in v]
