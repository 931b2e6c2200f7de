"""After training: calibrate on val, choose thresholds on val, measure val and test, write everything."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.models.calibration import Calibration, choose_thresholds
from core.evaluation.summary import summarize
from core.models.networks import FractureNet
from core.data.preprocess import PreprocessConfig
from core.models.registry import get_spec
from core.models.weights import read_card, save_model, write_card

log = logging.getLogger(__name__)


def write_predictions(path: Path, names: list[str], y: np.ndarray, logits: np.ndarray,
                      calibration: Calibration) -> None:
    """Per-image predictions CSV: image, fractured, uncalibrated logit, calibrated probability."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image": names, "fractured": y, "logit": np.round(logits, 5),
                  "prob": np.round(calibration(logits), 5)}).to_csv(path, index=False)


def calibrate_and_measure(y: dict[str, np.ndarray], logits: dict[str, np.ndarray],
                          meta: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Calibration and thresholds fitted on val; metrics of val and test with them."""
    calibration = Calibration.fit(y["val"], logits["val"])
    thresholds = choose_thresholds(y["val"], calibration(logits["val"]))
    return {"calibration": calibration.to_dict(), "thresholds": thresholds, "thresholds_chosen_on": "val",
            "metrics": {s: summarize(y[s], logits[s], calibration, thresholds, meta[s]) for s in ("val", "test")}}


def finalize(net: FractureNet, args: argparse.Namespace, cfg: PreprocessConfig, start: dict,
             splits: dict, scores: dict[str, np.ndarray], history: dict, seconds: float,
             command: str) -> dict[str, Any]:
    """Fit calibration and thresholds on val, summarise val and test, save weights, card, CSVs."""
    labels = pd.read_csv(args.data / "labels.csv").set_index("image")
    fitted = calibrate_and_measure({s: splits[s].y for s in ("val", "test")}, scores,
                                   {s: labels.loc[splits[s].names].reset_index() for s in ("val", "test")})
    card = {
        "name": args.name, "architecture": args.model, "created": dt.date.today().isoformat(),
        "description": get_spec(args.model).description, "init": start,
        "data": {"set": "FracAtlas (CC BY 4.0, Abedeen et al. 2023)", "split": "labels.csv 'split' column",
                 "counts": {s: {"n": int(len(v.y)), "fractured": int(v.y.sum())} for s, v in splits.items()}},
        "preprocess": cfg.to_dict(), "tta_hflip": True,
        "training": {"command": command, "seed": args.seed, "epochs_run": history["epoch"],
                     "best_epoch": history["best_epoch"], "wall_time_s": round(seconds, 1),
                     "legs": history.get("legs", 1),
                     "budget_min": args.budget_min, "stopped_by": history.get("stopped_by"),
                     "views": args.views, "lr": args.lr, "wd": args.wd, "batch": args.batch,
                     "balance": args.balance, "label_smoothing": args.label_smoothing,
                     "log": history["log"]},
        **fitted,
        "params": int(sum(p.numel() for p in net.parameters())),
    }
    card_path = save_model(net, card, args.out)
    card = read_card(card_path)
    write_card(card, args.reports / "cards" / f"{args.name}.json")
    for s in ("val", "test"):
        write_predictions(args.reports / "predictions" / f"{args.name}_{s}.csv", splits[s].names,
                          splits[s].y, scores[s], Calibration.from_card(card))
    return card


def recalibrate(card_path: Path, pred_dir: Path, labels: Path) -> dict[str, Any]:
    """Refit a trained model's calibration and thresholds from its saved val/test logits."""
    card = read_card(card_path)
    frames = {s: pd.read_csv(pred_dir / f"{card['name']}_{s}.csv") for s in ("val", "test")}
    meta = pd.read_csv(labels).set_index("image")
    fitted = calibrate_and_measure({s: f["fractured"].to_numpy() for s, f in frames.items()},
                                   {s: f["logit"].to_numpy() for s, f in frames.items()},
                                   {s: meta.loc[f["image"]].reset_index() for s, f in frames.items()})
    card = {k: v for k, v in card.items() if k != "temperature"} | fitted
    for s, f in frames.items():
        write_predictions(pred_dir / f"{card['name']}_{s}.csv", f["image"].tolist(), f["fractured"].to_numpy(),
                          f["logit"].to_numpy(), Calibration.from_card(card))
    return card


def main(argv: list[str] | None = None) -> int:
    """`python -m core.training.calibrate NAME... [--dir runs/models]`: refit calibration from saved logits."""
    import argparse

    from core.settings import cards_dir, data_dir, predictions_dir

    p = argparse.ArgumentParser(description=recalibrate.__doc__)
    p.add_argument("names", nargs="+")
    p.add_argument("--dir", type=Path, default=Path("runs/models"), help="folder with the model cards")
    args = p.parse_args(argv)
    for name in args.names:
        card = recalibrate(args.dir / f"{name}.json", predictions_dir(), data_dir() / "labels.csv")
        for target in (args.dir / f"{name}.json", cards_dir() / f"{name}.json"):
            write_card(card, target)
        m = card["metrics"]["val"]
        log.info("%s: %s; val ECE %.3f -> %.3f", name, card["calibration"], m["ece_raw"], m["ece"])
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(main())
