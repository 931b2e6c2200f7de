"""After training: calibrate on val, choose the operating points on val, measure val and test, and
write the weights, the model card and the per-image predictions.

`python -m core.training.calibrate NAME... [--dir runs/models]` refits a trained model's calibration
and thresholds from its saved val/test logits (no network is run).
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.evaluation.summary import summarize
from core.models.calibration import Calibration
from core.models.cards import ModelCard, TrainingRecord, read_card, write_card
from core.models.registry import get_spec
from core.models.weights import save_model
from core.training.config import TrainState
from core.training.operating_points import choose_thresholds, threshold_uncertainty

if TYPE_CHECKING:
    from core.training.trainer import Run

log = logging.getLogger(__name__)
DATA_NOTE = {"set": "FracAtlas (CC BY 4.0, Abedeen et al. 2023)", "split": "labels.csv 'split' column"}


@dataclass(frozen=True)
class StartPoint:
    """Where a network's weights started: a local file (name, sha256), a hub, or scratch."""

    file: str | None
    sha256: str | None
    hub: bool
    frozen_stem: bool


@dataclass(frozen=True)
class Fitted:
    """Calibration and operating points fitted on val, and the figures they give on val and test."""

    calibration: Calibration
    thresholds: dict[str, float]
    metrics: dict[str, dict[str, Any]]
    operating_point_uncertainty: dict[str, Any]

    def card_fields(self) -> dict[str, Any]:
        """The ModelCard fields these fill in."""
        return {"calibration": self.calibration, "thresholds": self.thresholds, "metrics": self.metrics,
                "operating_point_uncertainty": self.operating_point_uncertainty}


def write_predictions(path: Path, names: list[str], y: np.ndarray, logits: np.ndarray,
                      calibration: Calibration) -> None:
    """Per-image predictions CSV: image, fractured, uncalibrated logit, calibrated probability."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image": names, "fractured": y, "logit": np.round(logits, 5),
                  "prob": np.round(calibration(logits), 5)}).to_csv(path, index=False)


def calibrate_and_measure(y: dict[str, np.ndarray], logits: dict[str, np.ndarray],
                          meta: dict[str, pd.DataFrame]) -> Fitted:
    """Calibration and thresholds fitted on val; metrics of val and test with them."""
    calibration = Calibration.fit(y["val"], logits["val"])
    p_val = calibration(logits["val"])
    thresholds = choose_thresholds(y["val"], p_val)
    metrics = {s: summarize(y[s], logits[s], calibration, thresholds, meta[s]) for s in ("val", "test")}
    spread = threshold_uncertainty(y["val"], p_val, y["test"], calibration(logits["test"]), thresholds)
    return Fitted(calibration, thresholds, metrics, spread)


def finalize(run: Run, scores: dict[str, np.ndarray], state: TrainState, seconds: float,
             environment: dict[str, Any]) -> ModelCard:
    """Fit calibration and thresholds on val, summarise val and test, save weights, card, CSVs."""
    tc, splits = run.tc, run.splits
    labels = pd.read_csv(tc.data / "labels.csv").set_index("image")
    fitted = calibrate_and_measure({s: splits[s].y for s in ("val", "test")}, scores,
                                   {s: labels.loc[splits[s].names].reset_index() for s in ("val", "test")})
    record = TrainingRecord(command=tc.command, seed=tc.seed, epochs_run=state.epoch, best_epoch=state.best_epoch,
                            wall_time_s=round(seconds, 1), log=state.log, legs=state.legs, budget_min=tc.budget_min,
                            stopped_by=state.stopped_by, settings=tc.settings(), environment=environment)
    counts = {s: {"n": int(len(v.y)), "fractured": int(v.y.sum())} for s, v in splits.items()}
    card = ModelCard(name=tc.name, kind="model", architecture=tc.model, preprocess=run.pcfg, training=record,
                     created=dt.date.today().isoformat(), description=get_spec(tc.model).description,
                     init=asdict(run.start), data=DATA_NOTE | {"counts": counts},
                     params=int(sum(p.numel() for p in run.net.parameters())), **fitted.card_fields())
    card = save_model(run.net, card, tc.out)
    write_card(card, tc.reports / "cards" / f"{tc.name}.json")
    for s in ("val", "test"):
        write_predictions(tc.reports / "predictions" / f"{tc.name}_{s}.csv", splits[s].names,
                          splits[s].y, scores[s], card.calibration)
    return card


def recalibrate(card_path: Path, pred_dir: Path, labels: Path) -> ModelCard:
    """Refit a trained model's calibration and thresholds from its saved val/test logits."""
    card = read_card(card_path)
    frames = {s: pd.read_csv(pred_dir / f"{card.name}_{s}.csv") for s in ("val", "test")}
    meta = pd.read_csv(labels).set_index("image")
    fitted = calibrate_and_measure({s: f["fractured"].to_numpy() for s, f in frames.items()},
                                   {s: f["logit"].to_numpy() for s, f in frames.items()},
                                   {s: meta.loc[f["image"]].reset_index() for s, f in frames.items()})
    card = card.with_(**fitted.card_fields())
    for s, f in frames.items():
        write_predictions(pred_dir / f"{card.name}_{s}.csv", f["image"].tolist(), f["fractured"].to_numpy(),
                          f["logit"].to_numpy(), card.calibration)
    return card


def main(argv: list[str] | None = None) -> int:
    """Refit calibration and thresholds of named models from their saved logits."""
    from core.settings import cards_dir, data_dir, predictions_dir

    p = argparse.ArgumentParser(description=recalibrate.__doc__)
    p.add_argument("names", nargs="+")
    p.add_argument("--dir", type=Path, default=Path("runs/models"), help="folder with the model cards")
    args = p.parse_args(argv)
    for name in args.names:
        card = recalibrate(args.dir / f"{name}.json", predictions_dir(), data_dir() / "labels.csv")
        for target in (args.dir / f"{name}.json", cards_dir() / f"{name}.json"):
            write_card(card, target)
        m = card.split("val")
        log.info("%s: %s; val ECE %.3f -> %.3f", name, card.calibration, m["ece_raw"], m["ece"])
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(main())
