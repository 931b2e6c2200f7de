"""Choose the shipped ensemble's members on `val` only: `python -m core.ensemble.selection` (`make select`).

Every trained model with a card and prediction files in reports/ is a candidate. For each subset
of 1 to `--max-size` candidates the mean of their calibrated val probabilities is scored
(ROC-AUC, log-loss); subsets whose float16 files break the weights/ budget are marked unshippable.
The table goes to reports/ensemble_selection.csv; `test` is never read.
"""
from __future__ import annotations

import argparse
import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from core.ensemble.combine import combine, to_logit
from core.evaluation.metrics import roc_auc
from core.models.calibration import nll
from core.models.cards import ModelCard, read_card
from core.settings import MAX_WEIGHT_FILE_BYTES, MAX_WEIGHTS_DIR_BYTES, cards_dir, predictions_dir, reports_dir

log = logging.getLogger(__name__)


def candidates(cards: Path | None = None, pred_dir: Path | None = None) -> dict[str, ModelCard]:
    """Single-model cards that have a val prediction file."""
    cards, pred_dir = cards or cards_dir(), pred_dir or predictions_dir()
    out = {}
    for path in sorted(cards.glob("*.json")):
        card = read_card(path)
        if not card.is_ensemble and card.weights is not None and (pred_dir / f"{card.name}_val.csv").is_file():
            out[card.name] = card
    return out


def val_probs(names: list[str], pred_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels and a (models × images) array of calibrated val probabilities, aligned by image."""
    pred_dir = pred_dir or predictions_dir()
    frames = [pd.read_csv(pred_dir / f"{n}_val.csv").set_index("image").sort_index() for n in names]
    for n, f in zip(names, frames):
        if not f.index.equals(frames[0].index):
            raise ValueError(f"{n}_val.csv covers other images than {names[0]}_val.csv")
    return frames[0]["fractured"].to_numpy(), np.stack([f["prob"].to_numpy() for f in frames])


def shippable(cards: list[ModelCard]) -> bool:
    """Whether these models' float16 files fit weights/ (each ≤ 16 MiB, all ≤ 24 MiB)."""
    sizes = [c.weights.bytes for c in cards]
    return max(sizes) <= MAX_WEIGHT_FILE_BYTES and sum(sizes) <= MAX_WEIGHTS_DIR_BYTES


def rank_subsets(cards: dict[str, ModelCard], max_size: int = 3, pred_dir: Path | None = None) -> pd.DataFrame:
    """Val ROC-AUC and log-loss of the equal-weight mean of every subset, best first."""
    names = list(cards)
    y, probs = val_probs(names, pred_dir)
    rows = []
    for k in range(1, min(max_size, len(names)) + 1):
        for subset in itertools.combinations(range(len(names)), k):
            p = combine(probs[list(subset)], np.ones(k))
            members = [names[i] for i in subset]
            rows.append({"members": " + ".join(members), "size": k, "val_auc": roc_auc(y, p),
                         "val_logloss": nll(y, to_logit(p), 1.0),
                         "MiB": sum(cards[m].weights.bytes for m in members) / 2**20,
                         "shippable": shippable([cards[m] for m in members])})
    return pd.DataFrame(rows).sort_values("val_auc", ascending=False, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Rank candidate ensembles on val and write the table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-size", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    args.out = args.out or reports_dir() / "ensemble_selection.csv"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    table = rank_subsets(candidates(), args.max_size)
    table.round(4).to_csv(args.out, index=False)
    log.info("%s\nwrote %s", table.head(12).round(4).to_string(index=False), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
