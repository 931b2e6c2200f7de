"""Read the model cards and per-image prediction files kept in reports/ (for the comparison page)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core.models.cards import OPERATING_POINTS, ModelCard, TrainingRecord, read_card
from core.settings import reports_dir

JSON_REPORTS = ("bench", "pointing", "train_all_time", "robustness", "scope", "pacs_throughput",
                "operating_point_stability", "rebuild_check", "augmentation_choice", "augmentation_trial", "localizer",
                "localizer_robustness", "localizer_fusion", "restore_trial", "tta_trial", "orientation", "orientation_val",
                "scope_history", "quality")


@dataclass(frozen=True)
class Reports:
    """What reports/ holds: every card (ensemble last), per-image predictions, measured JSON files."""

    cards: dict[str, ModelCard]
    predictions: dict[str, dict[str, pd.DataFrame]]
    measured: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        """A measured JSON report by name (e.g. 'bench', 'pointing'), or None if it was not run."""
        if name not in JSON_REPORTS:
            raise ValueError(f"unknown report {name!r}; choose from {JSON_REPORTS}")
        return self.measured.get(name)


def load_cards(root: Path | None = None) -> Reports:
    """Read reports/: cards/*.json, predictions/*.csv and the measured JSON reports."""
    root = Path(root) if root is not None else reports_dir()
    cards = {c.name: c for c in (read_card(p) for p in sorted((root / "cards").glob("*.json")))}
    if "ensemble" in cards:
        cards["ensemble"] = cards.pop("ensemble")
    pred_dir = root / "predictions"
    preds = {name: {s: pd.read_csv(pred_dir / f"{name}_{s}.csv") for s in ("val", "test")
                    if (pred_dir / f"{name}_{s}.csv").is_file()} for name in cards}
    measured = {k: json.loads((root / f"{k}.json").read_text()) for k in JSON_REPORTS if (root / f"{k}.json").is_file()}
    return Reports(cards, preds, measured)


def pointing_table(pointing: dict) -> pd.DataFrame:
    """Hit rate per model (rows) and CAM method (columns), plus the random-point baseline column."""
    df = pd.DataFrame(pointing["hit_rate"]).T.round(3)
    df["random point"] = round(pointing["baseline_random_point"], 3)
    return df.reset_index(names="model")


def _fmt_ci(m: dict[str, Any], key: str = "roc_auc") -> str:
    lo, hi = m[f"{key}_ci"]
    return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def metrics_table(cards: dict[str, ModelCard], split: str = "test") -> pd.DataFrame:
    """One row per model: the headline figures of a split, from the cards."""
    rows = []
    for name, card in cards.items():
        m = card.split(split)
        hs, bal = m["operating_points"]["high_sensitivity"], m["operating_points"]["balanced"]
        hw = m.get("hardware_free")
        rows.append({
            "model": name, "architecture": card.architecture or "ensemble",
            "canny": card.preprocess.canny if card.preprocess else "—",
            "input (px)": card.preprocess.size if card.preprocess else None,
            "ROC-AUC [95% CI]": _fmt_ci(m), "AP": round(m["average_precision"], 3),
            "sens@HS": round(hs["sensitivity"], 3), "spec@HS": round(hs["specificity"], 3),
            "sens@bal": round(bal["sensitivity"], 3), "spec@bal": round(bal["specificity"], 3),
            "ECE raw": round(m["ece_raw"], 3), "ECE": round(m["ece"], 3),
            "hardware-free AUC": _fmt_ci(hw) if hw else "—",
            "params (M)": round(card.params / 1e6, 2) if card.params else None,
            "file (MB)": round(card.weights.bytes / 2**20, 1) if card.weights else None,
            "train (min)": train_minutes(card.training) if card.training else None,
        })
    return pd.DataFrame(rows)


def train_minutes(training: TrainingRecord) -> float | str:
    """Training wall time in minutes; '≥ N' where the card could only give a lower bound."""
    if training.wall_time_is_lower_bound:
        return f"≥ {training.minutes:.1f}"
    return round(training.minutes, 1)


def region_table(cards: dict[str, ModelCard], split: str = "test") -> pd.DataFrame:
    """ROC-AUC per body region (rows: models, columns: regions)."""
    return pd.DataFrame({name: {r: v["roc_auc"] for r, v in card.split(split).get("regions", {}).items()}
                         for name, card in cards.items()}).T


def agreement_matrix(preds: dict[str, dict[str, pd.DataFrame]], cards: dict[str, ModelCard],
                     op: str = "balanced", split: str = "test") -> pd.DataFrame:
    """Share of images on which two models give the same verdict, each at its own threshold."""
    votes = {n: (p[split].set_index("image")["prob"] >= cards[n].thresholds[op])
             for n, p in preds.items() if split in p}
    names = list(votes)
    return pd.DataFrame([[float((votes[a] == votes[b].reindex(votes[a].index)).mean()) for b in names]
                         for a in names], index=names, columns=names)


def canny_ablation(cards: dict[str, ModelCard]) -> pd.DataFrame:
    """Pairs of cards of one architecture trained with and without Canny: val and test AUC with CIs."""
    rows = [{"architecture": c.architecture, "canny": c.preprocess.canny, "model": n,
             "val ROC-AUC": _fmt_ci(c.split("val")), "test ROC-AUC": _fmt_ci(c.split("test"))}
            for n, c in cards.items() if not c.is_ensemble]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    both = df.groupby("architecture")["canny"].nunique()
    return df[df["architecture"].isin(both[both > 1].index)].sort_values(["architecture", "canny"])


ROBUSTNESS_RATES = {"high_sensitivity": "HS", "balanced": "bal"}
SEVERITY_ORDER = ("mild", "middle", "strong")


def _fmt_pair(ci: list[float]) -> str:
    lo, hi = ci
    return "—" if lo != lo or hi != hi else f"[{lo:.3f}, {hi:.3f}]"


def robustness_rows(report: dict, model: str = "ensemble", severity: str = "middle") -> list[dict]:
    """The robustness report's entries of one severity, each as (entry, that model's figures)."""
    out = [(e, e["models"][model]) for e in report["shifts"] if e["severity"] == severity and model in e["models"]]
    return [{"entry": e, "figures": m} for e, m in out]


def robustness_table(report: dict, model: str = "ensemble", severity: str = "middle") -> pd.DataFrame:
    """One row per shift at one severity: ROC-AUC, sensitivity and specificity at both points, and Δ."""
    rows = []
    for r in robustness_rows(report, model, severity):
        e, m = r["entry"], r["figures"]
        row = {"shift": e["shift"], "level": str(e["level"]), "images": e["n"],
               "ROC-AUC": round(m["roc_auc"], 3), "95% CI": _fmt_pair(m["roc_auc_ci"]),
               "Δ AUC": round(m["delta"]["roc_auc"], 3)}
        for op, short in ROBUSTNESS_RATES.items():
            for k in ("sensitivity", "specificity"):
                row[f"{k[:4]}@{short}"] = round(m["operating_points"][op][k], 3)
                row[f"Δ {k[:4]}@{short}"] = round(m["delta"][op][k], 3)
        if "meets_target" in e and model == "ensemble":
            row["meets target"] = "yes" if e["meets_target"] else "no: " + ", ".join(e["misses"])
        rows.append(row)
    return pd.DataFrame(rows)


def robustness_deltas(report: dict, model: str = "ensemble", severity: str = "middle") -> pd.DataFrame:
    """Change from unshifted per shift (rows, described in words) and measure (columns), for a chart."""
    rows = {}
    for r in robustness_rows(report, model, severity):
        e, d = r["entry"], r["figures"]["delta"]
        rates = {f"{k} ({short})": d[op][k] for op, short in ROBUSTNESS_RATES.items()
                 for k in ("sensitivity", "specificity")}
        rows[e["label"]] = {"ROC-AUC": d["roc_auc"]} | rates
    return pd.DataFrame(rows).T


def robustness_auc_grid(report: dict) -> pd.DataFrame:
    """ROC-AUC (and Δ) of every model at every shift and level, one row per (shift, level)."""
    order = {name: i for i, name in enumerate(dict.fromkeys(e["shift"] for e in report["shifts"]))}
    entries = sorted(report["shifts"], key=lambda e: (order[e["shift"]], SEVERITY_ORDER.index(e["severity"])))
    rows = []
    for e in entries:
        row = {"shift": e["shift"], "level": str(e["level"]), "severity": e["severity"], "images": e["n"]}
        aucs = {name: f"{m['roc_auc']:.3f} ({m['delta']['roc_auc']:+.3f})" for name, m in e["models"].items()}
        rows.append(row | aucs)
    return pd.DataFrame(rows)


def fusion_table(ens: ModelCard, split: str = "test") -> pd.DataFrame:
    """The ensemble's verdict before and after adding the localiser's top box score (empty when not fused)."""
    if ens.box_fusion is None or "unfused" not in ens.extra:
        return pd.DataFrame()
    rows = []
    for label, m in (("ensemble alone", ens.extra["unfused"]["metrics"][split]), ("fused", ens.split(split))):
        row = {"verdict": label, "ROC-AUC": _fmt_ci(m), "ECE": f"{m['ece']:.3f}"}
        for op in OPERATING_POINTS:
            pt = m["operating_points"][op]
            row[f"sen / spe @{op}"] = f"{pt['sensitivity']:.3f} / {pt['specificity']:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def stale_models(report: dict | None, cards: dict[str, ModelCard], localizer_sha256: str | None = None) -> list[str]:
    """Shipped models whose thresholds or localiser differ from those a robustness report measured (empty: fresh)."""
    if not report:
        return []
    stale = [name for name, ops in report.get("thresholds", {}).items()
             if name in cards and any(abs(cards[name].thresholds.get(op, float("nan")) - t) > 1e-9
                                      for op, t in ops.items())]
    measured = report.get("localizer_sha256") or (report.get("box_fusion") or {}).get("localizer_sha256")
    if measured and localizer_sha256 and measured != localizer_sha256:
        stale.append("localizer")
    return stale


def stale_note(report: dict | None, data: Reports, command: str) -> str:
    """A warning that a report measured other weights than those shipped, naming the command that re-measures."""
    localizer = data.get("localizer") or {}
    stale = stale_models(report, data.cards, localizer.get("weights", {}).get("sha256"))
    if not stale:
        return ""
    return (f"**Measured on earlier weights than those shipped** ({', '.join(stale)} changed since): "
            f"re-run `{command}` for figures of the shipped models.")
