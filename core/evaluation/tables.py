"""Read the model cards and per-image prediction files kept in reports/ (for the comparison page)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from core.models.weights import read_card
from core.settings import reports_dir


def load_cards(root: Path | None = None) -> dict[str, Any]:
    """{'cards': {name: card}, 'predictions': {name: {split: DataFrame}}, 'bench': …}; ensemble last."""
    root = Path(root) if root is not None else reports_dir()
    cards_dir, pred_dir = root / "cards", root / "predictions"
    cards = {}
    for path in sorted(cards_dir.glob("*.json")):
        card = read_card(path)
        cards[card["name"]] = card
    if "ensemble" in cards:
        cards["ensemble"] = cards.pop("ensemble")
    preds = {name: {s: pd.read_csv(pred_dir / f"{name}_{s}.csv") for s in ("val", "test")
                    if (pred_dir / f"{name}_{s}.csv").is_file()} for name in cards}
    extra = {k: json.loads((root / f"{k}.json").read_text()) if (root / f"{k}.json").is_file() else None
             for k in ("bench", "pointing", "train_all_time")}
    return {"cards": cards, "predictions": preds, **extra}


def pointing_table(pointing: dict) -> pd.DataFrame:
    """Hit rate per model (rows) and CAM method (columns), plus the random-point baseline column."""
    df = pd.DataFrame(pointing["hit_rate"]).T.round(3)
    df["random point"] = round(pointing["baseline_random_point"], 3)
    return df.reset_index(names="model")


def _fmt_ci(m: dict[str, Any], key: str = "roc_auc") -> str:
    lo, hi = m[f"{key}_ci"]
    return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def metrics_table(cards: dict[str, dict], split: str = "test") -> pd.DataFrame:
    """One row per model: the headline figures of a split, from the cards."""
    rows = []
    for name, card in cards.items():
        m = card["metrics"][split]
        hs, bal = m["operating_points"]["high_sensitivity"], m["operating_points"]["balanced"]
        hw = m.get("hardware_free")
        rows.append({
            "model": name, "architecture": card.get("architecture", "ensemble"),
            "canny": card.get("preprocess", {}).get("canny", "—"),
            "input (px)": card.get("preprocess", {}).get("size"),
            "ROC-AUC [95% CI]": _fmt_ci(m), "AP": round(m["average_precision"], 3),
            "sens@HS": round(hs["sensitivity"], 3), "spec@HS": round(hs["specificity"], 3),
            "sens@bal": round(bal["sensitivity"], 3), "spec@bal": round(bal["specificity"], 3),
            "ECE raw": round(m["ece_raw"], 3), "ECE": round(m["ece"], 3),
            "hardware-free AUC": _fmt_ci(hw) if hw else "—",
            "params (M)": round(card["params"] / 1e6, 2) if "params" in card else None,
            "file (MB)": round(card["weights"]["bytes"] / 2**20, 1) if "weights" in card else None,
            "train (min)": train_minutes(card["training"]) if "training" in card else None,
        })
    return pd.DataFrame(rows)


def train_minutes(training: dict) -> float | str:
    """Training wall time in minutes; '≥ N' for a resumed run whose card timed only its last leg.

    Such older cards still list every epoch's seconds, whose sum is a lower bound (caching excluded).
    """
    minutes = training["wall_time_s"] / 60
    if "--resume" in training.get("command", "") and "legs" not in training:
        return f"≥ {max(minutes, sum(r['seconds'] for r in training.get('log', [])) / 60):.1f}"
    return round(minutes, 1)


def region_table(cards: dict[str, dict], split: str = "test") -> pd.DataFrame:
    """ROC-AUC per body region (rows: models, columns: regions)."""
    return pd.DataFrame({name: {r: v["roc_auc"] for r, v in card["metrics"][split].get("regions", {}).items()}
                         for name, card in cards.items()}).T


def agreement_matrix(preds: dict[str, dict[str, pd.DataFrame]], cards: dict[str, dict],
                     op: str = "balanced", split: str = "test") -> pd.DataFrame:
    """Share of images on which two models give the same verdict, each at its own threshold."""
    votes = {n: (p[split].set_index("image")["prob"] >= cards[n]["thresholds"][op])
             for n, p in preds.items() if split in p}
    names = list(votes)
    return pd.DataFrame([[float((votes[a] == votes[b].reindex(votes[a].index)).mean()) for b in names]
                         for a in names], index=names, columns=names)


def canny_ablation(cards: dict[str, dict]) -> pd.DataFrame:
    """Pairs of cards of one architecture trained with and without Canny: val and test AUC with CIs."""
    rows = [{"architecture": c["architecture"], "canny": c["preprocess"]["canny"], "model": n,
             "val ROC-AUC": _fmt_ci(c["metrics"]["val"]), "test ROC-AUC": _fmt_ci(c["metrics"]["test"])}
            for n, c in cards.items() if c.get("kind") != "ensemble"]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    both = df.groupby("architecture")["canny"].nunique()
    return df[df["architecture"].isin(both[both > 1].index)].sort_values(["architecture", "canny"])
