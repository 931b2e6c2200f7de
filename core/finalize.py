"""After training: calibrate on val, choose thresholds on val, measure val and test, write everything."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.calibration import calibrated, choose_thresholds, fit_temperature
from core.evaluation import summarize
from core.models import FractureNet
from core.preprocess import PreprocessConfig
from core.weights import read_card, save_model, write_card

log = logging.getLogger(__name__)


def write_predictions(path: Path, names: list[str], y: np.ndarray, logits: np.ndarray,
                      temperature: float) -> None:
    """Per-image predictions CSV: image, fractured, logit, calibrated probability."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image": names, "fractured": y, "logit": np.round(logits, 5),
                  "prob": np.round(calibrated(logits, temperature), 5)}).to_csv(path, index=False)


def finalize(net: FractureNet, args: argparse.Namespace, cfg: PreprocessConfig, start: dict,
             splits: dict, scores: dict[str, np.ndarray], history: dict, seconds: float,
             command: str) -> dict[str, Any]:
    """Fit temperature and thresholds on val, summarise val and test, save weights, card, CSVs."""
    yv = splits["val"].y
    temperature = fit_temperature(yv, scores["val"])
    thresholds = choose_thresholds(yv, calibrated(scores["val"], temperature))
    labels = pd.read_csv(args.data / "labels.csv").set_index("image")
    metrics = {s: summarize(splits[s].y, scores[s], temperature, thresholds,
                            labels.loc[splits[s].names].reset_index()) for s in ("val", "test")}
    card = {
        "name": args.name, "architecture": args.model, "created": dt.date.today().isoformat(),
        "init": start,
        "data": {"set": "FracAtlas (CC BY 4.0, Abedeen et al. 2023)", "split": "labels.csv 'split' column",
                 "counts": {s: {"n": int(len(v.y)), "fractured": int(v.y.sum())} for s, v in splits.items()}},
        "preprocess": cfg.to_dict(), "tta_hflip": True,
        "training": {"command": command, "seed": args.seed, "epochs_run": history["epoch"],
                     "best_epoch": history["best_epoch"], "wall_time_s": round(seconds, 1),
                     "views": args.views, "lr": args.lr, "wd": args.wd, "batch": args.batch,
                     "balance": args.balance, "label_smoothing": args.label_smoothing,
                     "log": history["log"]},
        "temperature": temperature, "thresholds": thresholds,
        "thresholds_chosen_on": "val", "metrics": metrics,
        "params": int(sum(p.numel() for p in net.parameters())),
    }
    card_path = save_model(net, card, args.out)
    card = read_card(card_path)
    write_card(card, args.reports / "cards" / f"{args.name}.json")
    for s in ("val", "test"):
        write_predictions(args.reports / "predictions" / f"{args.name}_{s}.csv", splits[s].names,
                          splits[s].y, scores[s], temperature)
    return card
