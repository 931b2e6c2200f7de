"""Trial (val only): does averaging the verdict over more mirrored views pay?

`python scripts/tta_trial.py [--split val] [--limit N]` scores every image of the split with each shipped
member under the four mirror views (as is, left-right, top-bottom, both = turned 180°) and the localiser's top box
score under the same views, then compares view sets on the images as they are and turned upside down. With the
four views the verdict is the same for an image, its mirror images and its 180° turn by construction; the question
is what it costs on upright images. Member calibration and the fusion weight are refitted on the split itself
(in-sample, one or two parameters each: a comparison of view sets, not a shipped figure). Writes
reports/tta_trial.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.special import logit as sp_logit
from sklearn.linear_model import LogisticRegression

from core.data.fracatlas import load_gray_images, read_labels
from core.evaluation.metrics import roc_auc
from core.evaluation.robustness import ShiftSuitePredictor
from core.models.localizer import top_box_scores
from core.models.scoring import score_images
from core.settings import data_dir

log = logging.getLogger("tta_trial")
MAX_LOSS = 0.005  # ROC-AUC on upright images a view set may cost
VIEWS = {"id": lambda g: g, "h": lambda g: g[:, ::-1], "v": lambda g: g[::-1], "hv": lambda g: g[::-1, ::-1]}
# which views each set averages, for the image as it is and for the image turned 180° (view names compose)
SETS = {"as shipped (plain + left-right)": (("id", "h"), ("hv", "v")),
        "four mirror views": (("id", "h", "v", "hv"), ("hv", "v", "h", "id"))}
BOX_SETS = {"as shipped (plain)": (("id",), ("hv",)), "plain + turned 180°": (("id", "hv"), ("hv", "id")),
            "four mirror views": (("id", "h", "v", "hv"), ("hv", "v", "h", "id"))}


def view_scores(pred: ShiftSuitePredictor, grays: list[np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Uncalibrated log-odds of every member, and logit(top box score), under each mirror view."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, f in VIEWS.items():
        views = [np.ascontiguousarray(f(g)) for g in grays]
        out[key] = {m.name: score_images(m.net, views, m.cfg, tta=False, batch=16) for m in pred.members}
        top = top_box_scores(pred.localizer.net, views, pred.localizer.card)
        out[key]["box"] = sp_logit(np.clip(top, 1e-4, 1 - 1e-4))
        log.info("view %s scored", key)
    return out


def platt(y: np.ndarray, x: np.ndarray) -> LogisticRegression:
    """A one- or two-feature logistic fit (calibration, or calibration with the fusion weight)."""
    return LogisticRegression(C=1e6).fit(x.reshape(len(y), -1), y)


def evaluate(y: np.ndarray, s: dict[str, dict[str, np.ndarray]], names: list[str], mset: tuple, bset: tuple) -> dict:
    """AUC of each member and the fused ensemble on upright and 180°-turned images for one view-set pair."""
    res: dict[str, dict[str, float]] = {}
    upright = {n: np.mean([s[v][n] for v in mset[0]], 0) for n in names}
    turned = {n: np.mean([s[v][n] for v in mset[1]], 0) for n in names}
    box_up, box_turn = (np.mean([s[v]["box"] for v in bs], 0) for bs in bset)
    probs_up, probs_turn = {}, {}
    for n in names:
        cal = platt(y, upright[n])
        probs_up[n], probs_turn[n] = (cal.predict_proba(z[:, None])[:, 1] for z in (upright[n], turned[n]))
        res[n] = {"upright": roc_auc(y, upright[n]), "turned_180": roc_auc(y, turned[n])}
    ens_up = sp_logit(np.clip(np.mean([probs_up[n] for n in names], 0), 1e-6, 1 - 1e-6))
    ens_turn = sp_logit(np.clip(np.mean([probs_turn[n] for n in names], 0), 1e-6, 1 - 1e-6))
    fuse = platt(y, np.column_stack([ens_up, box_up]))
    fused = [fuse.decision_function(np.column_stack(p)) for p in ((ens_up, box_up), (ens_turn, box_turn))]
    res["ensemble"] = {"upright": roc_auc(y, ens_up), "turned_180": roc_auc(y, ens_turn)}
    res["ensemble + boxes"] = {"upright": roc_auc(y, fused[0]), "turned_180": roc_auc(y, fused[1]),
                               "box_weight": float(fuse.coef_[0][1] / fuse.coef_[0][0])}
    return res


def conclusion(results: dict[str, dict]) -> str:
    """Whether the four mirror views pay: ship only if the upright verdict loses at most MAX_LOSS ROC-AUC."""
    keys = list(results)
    now, four = results[keys[0]]["ensemble + boxes"], results[keys[-1]]["ensemble + boxes"]
    loss = now["upright"] - four["upright"]
    verdict = "not shipped" if loss > MAX_LOSS else "pays"
    return (f"Four mirror views (members and localiser) make the verdict the same for an image turned by 180° or "
            f"mirrored top-bottom (ROC-AUC {now['turned_180']:.3f} -> {four['turned_180']:.3f} turned), but cost "
            f"{loss:.3f} ROC-AUC on upright images ({now['upright']:.3f} -> {four['upright']:.3f}; the rule allows "
            f"{MAX_LOSS}): {verdict}. The models read a turned image differently; the turn is better undone before them.")


def main(argv: list[str] | None = None) -> int:
    """Score, compare, write the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", type=Path, default=Path("reports/tta_trial.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    df = read_labels(data_dir() / "labels.csv", args.split).head(args.limit)
    grays = load_gray_images(data_dir() / "images", df["image"].tolist())
    y = df["fractured"].to_numpy()
    pred = ShiftSuitePredictor()
    s = view_scores(pred, grays)
    names = [m.name for m in pred.members]
    results = {f"{ms} | boxes: {bs}": evaluate(y, s, names, SETS[ms], BOX_SETS[bs]) for ms in SETS for bs in BOX_SETS}
    report = {"command": "python scripts/tta_trial.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "split": args.split, "n": len(y), "positives": int(y.sum()), "results": results,
              "note": "calibration and fusion weight fitted in-sample on the split: a comparison of view sets",
              "conclusion": conclusion(results)}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for k, v in results.items():
        log.info("%s: %s", k, {m: {a: round(b, 4) for a, b in r.items()} for m, r in v.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
