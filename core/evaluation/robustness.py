"""Robustness suite: every shipped model and the ensemble under the shift catalogue.

python -m core.robustness [--split test] [--shifts turn jpeg ...] [--levels all|middle]
                          [--limit N] [--other-levels-limit M] [--seed 0] [--out reports/robustness.json]
(also `make robustness`)

For each shift of `core.data.shifts.SHIFTS` at each graded level, the images of a split are changed
(seeded per shift, level and image) and scored the way the app scores them, with the out-of-scope
check off: ROC-AUC with a bootstrap CI, sensitivity and specificity at both operating points (each
model at its own card's thresholds, the ensemble at its card's), and the change from the unshifted
images. `--limit` keeps a stratified subset for a quick run; `--other-levels-limit` scores the mild
and strong levels on a smaller stratified subset (the middle level, where the targets are stated,
keeps every image). Each delta compares the same images with and without the shift.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.data.fracatlas import load_gray_images, read_labels
from core.data.polarity import upright
from core.data.shifts import SHIFTS, Level, apply_shift, get_shift
from core.evaluation.metrics import at_threshold, bootstrap_ci, roc_auc
from core.models.cards import OPERATING_POINTS
from core.models.localizer import top_box_scores
from core.models.scoring import score_images
from core.serving.predictor import TOP_BOX, Predictor
from core.settings import data_dir, reports_dir, weights_dir

log = logging.getLogger(__name__)
ENSEMBLE = "ensemble"
TARGETS = {"roc_auc": 0.02, "sensitivity": 0.05, "specificity": 0.05}
LEVEL_MODES = ("all", "middle")
RESUME_KEYS = ("split", "seed", "n_images", "limit", "other_levels_limit", "bootstrap_resamples", "models",
               "weights", "box_fusion", "orientation")
FLIPS = {"horizontal": "left-right", "vertical": "top-bottom", "both": "both ways"}
LABELS: dict[str, Callable[[Any], str]] = {
    "turn": lambda v: f"turned by {v}°", "flip": lambda v: f"mirrored {FLIPS.get(str(v), v)}",
    "zoom": lambda v: f"centre crop keeping {float(v):.0%} of each side",
    "border": lambda v: f"black border adding {float(v):.0%} of each side",
    "downscale": lambda v: f"downscaled to a {v}-px short side",
    "window": lambda v: f"display window narrowed to percentiles {v}–{100 - int(v)}"}
SPLITS = ("train", "val", "test")
INPUT_STEPS = ("inverted-looking images turned back first (core.data.polarity), as the app does; then turned "
               "images turned upright where the orientation check says so (core.models.orientation)")


class ShiftSuitePredictor(Predictor):
    """The shipped models and ensemble without the out-of-scope gate ("scope check off")."""

    @staticmethod
    def _scope(path: Path) -> None:
        """The suite measures the models themselves, so the gate is never loaded."""


@dataclass(frozen=True)
class Case:
    """One (shift, level) to score, on the images at `rows` of the split."""

    shift: str
    level: Level
    severity: str
    rows: np.ndarray
    subset: str


def severity(name: str, level: Level) -> str:
    """'mild', 'middle' or 'strong': where a level sits in its shift's graded levels."""
    shift = get_shift(name)
    if level == shift.middle:
        return "middle"
    return "mild" if shift.levels.index(level) < shift.levels.index(shift.middle) else "strong"


def label(name: str, level: Level) -> str:
    """The shift at one level in words, e.g. 'saved as JPEG at quality 20'."""
    if name in LABELS:
        return LABELS[name](level)
    return re.sub(r"(?<![A-Za-z])N(?![A-Za-z])", str(level), get_shift(name).description)


def stratified_subset(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Sorted row indices of a fixed subset of n images keeping the fracture rate (all when n is None)."""
    y = np.asarray(y).astype(int)
    if n is None or n >= len(y):
        return np.arange(len(y))
    if n < 2:
        raise ValueError(f"a subset needs at least 2 images, got {n}")
    rng = np.random.default_rng([seed, n])
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = int(np.clip(round(n * len(pos) / len(y)), min(1, len(pos)), min(len(pos), n - 1)))
    keep = np.concatenate([rng.choice(pos, n_pos, replace=False), rng.choice(neg, n - n_pos, replace=False)])
    return np.sort(keep)


def plan(shifts: list[str], levels: str, all_rows: np.ndarray, other_rows: np.ndarray) -> list[Case]:
    """Every (shift, level) to run, middle levels first (on `all_rows`), then mild and strong (on `other_rows`)."""
    if levels not in LEVEL_MODES:
        raise ValueError(f"--levels must be one of {LEVEL_MODES}, got {levels!r}")
    cases = []
    for name in shifts:
        shift = get_shift(name)
        for level in shift.levels if levels == "all" else (shift.middle,):
            sev = severity(name, level)
            rows = all_rows if sev == "middle" else other_rows
            cases.append(Case(name, level, sev, rows, "all" if np.array_equal(rows, all_rows) else "subset"))
    return sorted(cases, key=lambda c: c.severity != "middle")


def batched_logits(pred: Predictor, grays: list[np.ndarray], batch: int = 16,
                   progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Each member's uncalibrated log-odds for the images as `Predictor.predict_image` reads them (turned upright
    first when the orientation check says so), and the localiser's top box scores when the verdict adds them."""
    grays = pred.turned_upright(grays)
    out = {}
    for m in pred.members:
        done = [0]

        def tick(n: int, total: int, done: list[int] = done) -> None:
            if progress is not None:
                progress(n - done[0])
            done[0] = n
        out[m.name] = score_images(m.net, grays, m.cfg, tta=m.card.tta_hflip, batch=batch, progress=tick)
    if pred.fuses_boxes:  # the headline verdict also needs each image's top box score
        out[TOP_BOX] = top_box_scores(pred.localizer.net, grays, pred.localizer.card, batch)
    return out


def probabilities(pred: Predictor, logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Calibrated probabilities of every member and the headline (ensemble) verdict."""
    probs = {m.name: m.calibration(logits[m.name]) for m in pred.members}
    return probs | {ENSEMBLE: pred.headline_probabilities(probs, logits.get(TOP_BOX))}


def thresholds(pred: Predictor) -> dict[str, dict[str, float]]:
    """Each model's own operating-point thresholds, and the ensemble's."""
    out = {m.name: dict(m.thresholds) for m in pred.members}
    return out | {ENSEMBLE: dict(pred.headline_card.thresholds)}


def measure(y: np.ndarray, p: np.ndarray, cuts: dict[str, float], n_boot: int, seed: int) -> dict[str, Any]:
    """ROC-AUC with its bootstrap CI, and sensitivity/specificity at each operating point."""
    ops = {}
    for op in OPERATING_POINTS:
        r = at_threshold(y, p, cuts[op])
        ops[op] = {k: r[k] for k in ("threshold", "sensitivity", "specificity", "tp", "fp", "fn", "tn")}
    ci = bootstrap_ci(y, p, roc_auc, n=n_boot, seed=seed) if n_boot else (float("nan"),) * 2
    return {"roc_auc": roc_auc(y, p), "roc_auc_ci": list(ci), "operating_points": ops}


def delta(shifted: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Shifted minus unshifted: ROC-AUC and each operating point's sensitivity and specificity."""
    out: dict[str, Any] = {"roc_auc": shifted["roc_auc"] - base["roc_auc"]}
    for op in OPERATING_POINTS:
        s, b = shifted["operating_points"][op], base["operating_points"][op]
        out[op] = {k: s[k] - b[k] for k in ("sensitivity", "specificity")}
    return out


def target_misses(d: dict[str, Any]) -> list[str]:
    """Which of the issue's targets a delta misses (|ΔAUC| ≤ 0.02, |Δsens|, |Δspec| ≤ 0.05 per point)."""
    misses = [] if abs(d["roc_auc"]) <= TARGETS["roc_auc"] else ["roc_auc"]
    for op in OPERATING_POINTS:
        misses += [f"{op}.{k}" for k in ("sensitivity", "specificity") if abs(d[op][k]) > TARGETS[k]]
    return misses


def score_case(pred: Predictor, grays: list[np.ndarray], case: Case, seed: int, batch: int,
               progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Probabilities of every model on the shifted copies of the case's images."""
    shifted = [upright(apply_shift(grays[i], case.shift, case.level, seed, int(i)))[0] for i in case.rows]
    return probabilities(pred, batched_logits(pred, shifted, batch, progress))


def case_entry(case: Case, y: np.ndarray, probs: dict[str, np.ndarray], base: dict[str, dict[str, Any]],
               cuts: dict[str, dict[str, float]], n_boot: int, seed: int) -> dict[str, Any]:
    """The JSON entry of one (shift, level): per model its figures and deltas; the target verdict."""
    yy = y[case.rows]
    models = {}
    for name, p in probs.items():
        m = measure(yy, p, cuts[name], n_boot, seed)
        models[name] = m | {"delta": delta(m, base[name])}
    entry = {"shift": case.shift, "level": case.level, "severity": case.severity,
             "label": label(case.shift, case.level), "images": case.subset,
             "n": int(len(yy)), "positives": int(yy.sum()), "models": models}
    if case.severity == "middle":
        misses = target_misses(models[ENSEMBLE]["delta"])
        entry |= {"meets_target": not misses, "misses": misses}
    return entry


def baseline(y: np.ndarray, probs: dict[str, np.ndarray], rows: np.ndarray,
             cuts: dict[str, dict[str, float]], n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    """Every model's unshifted figures on the images at `rows`."""
    return {name: measure(y[rows], p[rows], cuts[name], n_boot, seed) for name, p in probs.items()}


def subset_record(rows: np.ndarray, y: np.ndarray, names: list[str], whole: bool) -> dict[str, Any]:
    """Size and fracture count of an image set; the file names too unless it is the whole set."""
    out: dict[str, Any] = {"n": int(len(rows)), "positives": int(y[rows].sum())}
    return out if whole else out | {"images": [names[i] for i in rows]}


def check_resumable(previous: dict[str, Any], head: dict[str, Any]) -> None:
    """An interrupted run can only be continued with the same settings; ValueError names those that differ."""
    differ = [k for k in RESUME_KEYS if previous.get(k) != head.get(k)]
    if differ:
        raise ValueError(f"cannot resume: the earlier report differs in {differ}")


def check_same_baseline(previous: dict[str, Any], report: dict[str, Any]) -> None:
    """A resumed run must see the same images and unshifted scores as the run it continues."""
    if previous["subsets"] != report["subsets"]:
        raise ValueError("cannot resume: the image subsets differ from the earlier report's")
    for subset, models in previous["unshifted"].items():
        for name, m in models.items():
            now = report["unshifted"][subset][name]["roc_auc"]
            if abs(now - m["roc_auc"]) > 1e-9:
                raise ValueError(f"cannot resume: unshifted {name} ROC-AUC is {now}, was {m['roc_auc']}")


def log_entry(entry: dict[str, Any]) -> None:
    """One progress line: the ensemble's ROC-AUC, its change, and the target verdict at the middle level."""
    ens = entry["models"][ENSEMBLE]
    verdict = "" if "meets_target" not in entry else (
        "  target met" if entry["meets_target"] else "  target missed: " + ", ".join(entry["misses"]))
    log.info("%-13s %-10s n=%d  ensemble AUC %.3f (Δ %+.3f)%s", entry["shift"], entry["level"], entry["n"],
             ens["roc_auc"], ens["delta"]["roc_auc"], verdict)


def run(pred: Predictor, names: list[str], grays: list[np.ndarray], y: np.ndarray, cases: list[Case],
        seed: int = 0, n_boot: int = 200, batch: int = 16,
        checkpoint: Callable[[dict[str, Any]], None] | None = None,
        previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score the unshifted images once, then every case not already in `previous` (a resumed run)."""
    cuts = thresholds(pred)
    done = {(e["shift"], e["level"]) for e in previous["shifts"]} if previous is not None else set()
    todo = [c for c in cases if (c.shift, c.level) not in done]
    total = len(grays) * len(pred.members) + sum(len(c.rows) for c in todo) * len(pred.members)
    bar = tqdm(total=total, desc="robustness", unit="view", mininterval=30, file=sys.stderr)
    clean = probabilities(pred, batched_logits(pred, grays, batch, bar.update))
    subsets = {"all": np.arange(len(y))} | {c.subset: c.rows for c in cases}
    base = {k: baseline(y, clean, rows, cuts, n_boot, seed) for k, rows in subsets.items()}
    log.info("unshifted: %s", "  ".join(f"{k} AUC {v['roc_auc']:.3f}" for k, v in base["all"].items()))
    report: dict[str, Any] = {"thresholds": cuts, "unshifted": base, "shifts": [],
                              "subsets": {k: subset_record(r, y, names, k == "all") for k, r in subsets.items()}}
    if previous is not None:
        check_same_baseline(previous, report)
        report["shifts"] = list(previous["shifts"])
        log.info("resuming: %d shift-levels done, %d to go", len(done), len(todo))
    for case in todo:
        probs = score_case(pred, grays, case, seed, batch, bar.update)
        entry = case_entry(case, y, probs, base[case.subset], cuts, n_boot, seed)
        report["shifts"].append(entry)
        log_entry(entry)
        if checkpoint is not None:
            checkpoint(report)
    bar.close()
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--shifts", nargs="+", default=list(SHIFTS), help="subset of the catalogue (default all)")
    p.add_argument("--levels", default="all", choices=LEVEL_MODES)
    p.add_argument("--limit", type=int, default=None, help="a stratified subset of N images (quick mode)")
    p.add_argument("--other-levels-limit", type=int, default=None,
                   help="score the mild and strong levels on a stratified subset of M of those images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bootstrap", type=int, default=200, help="resamples for the ROC-AUC CI (0: none)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--orientation", default="on", choices=("on", "off"),
                   help="off: leave turned images as they are (to measure what the orientation check adds)")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="default reports/robustness.json")
    p.add_argument("--resume", action="store_true",
                   help="keep the shift-levels an interrupted run of the same settings already wrote to --out")
    p.add_argument("--redo", nargs="*", default=[], metavar="SHIFT",
                   help="with --resume: score these shifts again (e.g. after a change to the input path)")
    args = p.parse_args(argv)
    for name in args.redo:
        get_shift(name)
    for name in args.shifts:
        get_shift(name)
    for opt in ("limit", "other_levels_limit", "batch"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            raise ValueError(f"--{opt.replace('_', '-')} must be at least 1, got {getattr(args, opt)}")
    return args


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write the report atomically (the comparison page may read it while the suite runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def header(args: argparse.Namespace, argv: list[str] | None, pred: Predictor, n: int) -> dict[str, Any]:
    """What was run: command, seed, split, images, models, targets."""
    cmd = ["python", "-m", "core.robustness", *(sys.argv[1:] if argv is None else argv)]
    return {"command": shlex.join(cmd), "split": args.split, "seed": args.seed, "n_images": n,
            "input": INPUT_STEPS if pred.orientation is not None else INPUT_STEPS.split(";")[0],
            "orientation": pred.orientation.card.weights.sha256 if pred.orientation is not None else None,
            "levels": args.levels, "limit": args.limit, "other_levels_limit": args.other_levels_limit,
            "bootstrap_resamples": args.bootstrap, "batch": args.batch, "scope_check": "off",
            "models": [m.name for m in pred.members] + [ENSEMBLE],
            "targets": {"level": "middle", "model": ENSEMBLE, "max_abs_delta": TARGETS},
            "weights": str(pred.weights_dir),
            "box_fusion": pred.ensemble.box_fusion.to_dict() if pred.fuses_boxes else None}


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write reports/robustness.json."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    started = time.time()
    data = args.data or data_dir()
    labels = read_labels(data / "labels.csv", args.split)
    rows = stratified_subset(labels["fractured"].to_numpy(), args.limit, args.seed)
    labels = labels.iloc[rows].reset_index(drop=True)
    y, names = labels["fractured"].to_numpy().astype(int), list(labels["image"])
    pred = ShiftSuitePredictor(args.weights or weights_dir())
    if args.orientation == "off":
        pred.orientation = None
    if not pred.members or pred.ensemble is None:
        raise SystemExit(f"the suite needs the members and ensemble card in {pred.weights_dir}")
    other = stratified_subset(y, args.other_levels_limit, args.seed + 1)
    cases = plan(args.shifts, args.levels, np.arange(len(y)), other)
    log.info("%d images of %s, %d shift-levels, models %s", len(y), args.split, len(cases),
             [m.name for m in pred.members])
    out = args.out or reports_dir() / "robustness.json"
    head = header(args, argv, pred, len(y))
    previous = json.loads(out.read_text()) if args.resume and out.is_file() else None
    if previous is not None and args.redo:
        previous["shifts"] = [e for e in previous["shifts"] if e["shift"] not in args.redo]
    if previous is not None:
        check_resumable(previous, head)
        head |= legs(previous, head)
    earlier = previous["wall_time_s"] if previous is not None else 0.0

    def save(report: dict[str, Any], complete: bool = False) -> None:
        wall = round(earlier + time.time() - started, 1)
        write_json(out, head | report | {"complete": complete, "wall_time_s": wall})
    report = run(pred, names, load_gray_images(data / "images", names), y, cases, args.seed, args.bootstrap,
                 args.batch, save, previous)
    save(report, complete=True)
    log.info("wrote %s in %.1f min", out, (time.time() - started) / 60)
    return 0


def legs(previous: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Every command that wrote part of a resumed report, and how many there were."""
    commands = previous.get("commands", [previous["command"]]) + [head["command"]]
    return {"commands": commands, "legs": len(commands)}


if __name__ == "__main__":
    raise SystemExit(main())
