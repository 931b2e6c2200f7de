"""Fit the orientation check (`core.models.orientation`): `python -m core.training.orientation_fit`
(`make orientation`; `make train-all` runs it after the classifiers).

Self-supervised: every train radiograph, as stored and turned by 90°, 180° and 270° (or, with
`--train-turns N`, at N of those four turns drawn at random; each view mirrored left-right at random),
labelled by its turn; features are the shipped member's body activations on a 2 × 2 grid. The
regularisation is chosen on val (log-loss); the threshold on the probability of "as stored" is the
highest that turns at most `--max-false-turns` of the val images as stored. Test is measured once.
Writes weights/orientation.{json,safetensors} and reports/orientation.json; features are cached per
image set in .cache/orientation.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from core.data.fracatlas import load_gray_images, read_labels
from core.models.cards import WeightsFile
from core.models.orientation import (
    GRID,
    ORIENTATION_CARD,
    TURNS,
    Orientation,
    OrientationCard,
    grid_features,
    turn,
    write_orientation_card,
)
from core.models.weights import load_model, save_tensors, sha256
from core.settings import data_dir, reports_dir, weights_dir

log = logging.getLogger("core.orientation")
C_GRID = (0.001, 0.003, 0.01)


def turned_views(grays: list[np.ndarray], seed: int, per_image: int = len(TURNS)) -> tuple[list[np.ndarray], np.ndarray]:
    """Each image turned by `per_image` of the quarter turns (all of them by default; fewer: drawn at random,
    seeded), each view mirrored left-right at random (seeded), and the turns."""
    if not 1 <= per_image <= len(TURNS):
        raise ValueError(f"per_image must be in 1..{len(TURNS)}, got {per_image}")
    rng = np.random.default_rng([seed, 11])
    keep = None if per_image == len(TURNS) else \
        [set(np.random.default_rng([seed, 12, i]).choice(len(TURNS), per_image, replace=False)) for i in range(len(grays))]
    views, ks = [], []
    for j, k in enumerate(TURNS):
        for i, g in enumerate(grays):
            mirrored = rng.random() < 0.5  # drawn for every view, so the default set does not depend on `keep`
            if keep is None or j in keep[i]:
                views.append(turn(g[:, ::-1] if mirrored else g, k))
                ks.append(k)
    return views, np.asarray(ks)


def split_features(data: Path, split: str, net: Any, cfg: Any, member_sha: str, seed: int,
                   cache: Path, per_image: int = len(TURNS)) -> tuple[np.ndarray, np.ndarray]:
    """Grid features and turns of one split's turned views (cached by member, images, seed and turns per image)."""
    names = read_labels(data / "labels.csv", split)["image"].tolist()
    extra = [] if per_image == len(TURNS) else [per_image]
    key = hashlib.sha256(json.dumps([member_sha, names, seed, GRID, *extra]).encode()).hexdigest()[:20]
    path = cache / f"{split}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["x"], z["k"]
    views, ks = turned_views(load_gray_images(data / "images", names), seed, per_image)
    x = grid_features(net, views, cfg, GRID).astype(np.float16)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, k=ks)
    return x, ks


def fit_head(x: np.ndarray, k: np.ndarray, C: float) -> tuple[np.ndarray, np.ndarray]:
    """A multinomial logistic head on standardised features, folded into one (weight, bias)."""
    sc = StandardScaler().fit(x)
    lr = LogisticRegression(C=C, max_iter=3000).fit(sc.transform(x), k)
    w = lr.coef_ / sc.scale_
    return np.ascontiguousarray(w, np.float16), np.ascontiguousarray(lr.intercept_ - w @ sc.mean_, np.float64)


def choose_threshold(p_stored: np.ndarray, max_false: float) -> float:
    """The highest threshold on p(as stored) that turns at most `max_false` of images as stored."""
    s = np.sort(p_stored)
    allowed = int(np.floor(max_false * len(s)))
    return float(s[allowed]) if allowed < len(s) else 1.0


def outcomes(model: Orientation, x: np.ndarray, k: np.ndarray) -> dict[str, Any]:
    """Per true turn: share left as they are, turned back right, turned wrong."""
    got = model.quarter_turns(x.astype(np.float32))
    out = {}
    for t in TURNS:
        m = k == t
        out[f"turned_{90 * t}"] = {"n": int(m.sum()), "left": float((got[m] == 0).mean()),
                                   "turned_back": float(((got[m] == t) & (t != 0)).mean()),
                                   "turned_wrong": float(((got[m] != t) & (got[m] != 0)).mean())}
    return out


def select(train: tuple, val: tuple, max_false: float) -> tuple[float, np.ndarray, np.ndarray, list[dict]]:
    """The C of C_GRID with the lowest val log-loss, its head, and every candidate's figures."""
    rows, best = [], None
    for C in C_GRID:
        w, b = fit_head(*train, C)
        p = Orientation(_card(0.0), w.astype(np.float32), b).probabilities(val[0].astype(np.float32))
        loss = float(-np.log(np.clip(p[np.arange(len(val[1])), val[1]], 1e-9, 1)).mean())
        rows.append({"C": C, "val_log_loss": loss, "val_accuracy": float((p.argmax(1) == val[1]).mean())})
        if best is None or loss < best[0]:
            best = (loss, C, w, b)
    return best[1], best[2], best[3], rows


def _card(threshold: float, **kw: Any) -> OrientationCard:
    return OrientationCard(member=kw.pop("member", ""), member_sha256=kw.pop("member_sha256", ""), threshold=threshold,
                           weights=kw.pop("weights", WeightsFile("", "", 0)), **kw)


def run(args: argparse.Namespace, command: str) -> OrientationCard:
    """Features, selection on val, threshold on val, test once; write the weights, card and report."""
    t0 = time.time()
    torch.set_num_threads(args.threads)
    member_path = args.weights / f"{args.member}.json"
    net, mcard = load_model(member_path)
    feats = {s: split_features(args.data, s, net, mcard.preprocess, mcard.weights.sha256, args.seed, args.cache_dir,
                               args.train_turns if s == "train" else len(TURNS))
             for s in ("train", "val", "test")}
    C, w, b, rows = select(feats["train"], feats["val"], args.max_false_turns)
    probe = Orientation(_card(0.0), w.astype(np.float32), b)
    t = choose_threshold(probe.probabilities(feats["val"][0][feats["val"][1] == 0].astype(np.float32))[:, 0],
                         args.max_false_turns)
    wpath = args.out / "orientation.safetensors"
    save_tensors({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)}, wpath,
                 metadata={"name": "orientation", "member": args.member})
    card = _card(t, member=args.member, member_sha256=mcard.weights.sha256,
                 weights=WeightsFile(wpath.name, sha256(wpath), wpath.stat().st_size))
    model = Orientation(card, w.astype(np.float32), b)
    metrics = {s: outcomes(model, *feats[s]) for s in ("val", "test")}
    card = OrientationCard(**(card.to_dict() | {
        "weights": card.weights, "metrics": metrics, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {"command": command, "C": C, "max_false_turns": args.max_false_turns, "seed": args.seed,
                     "train_views": int(len(feats["train"][1])), "train_turns": args.train_turns,
                     "seconds": round(time.time() - t0, 1)}}))
    write_orientation_card(card, args.out / ORIENTATION_CARD)
    (args.reports / "orientation.json").write_text(json.dumps(card.to_dict() | {"selection": rows}, indent=2) + "\n")
    log.info("orientation check: C %s, threshold %.4f; val %s", C, t, metrics["val"])
    return card


def main(argv: list[str] | None = None) -> int:
    """The CLI."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--member", default="efficientnet_lite0")
    ap.add_argument("--data", type=Path, default=data_dir(), help="FracAtlas folder (labels.csv, images/)")
    ap.add_argument("--weights", type=Path, default=weights_dir(), help="where the member's card is")
    ap.add_argument("--out", type=Path, default=weights_dir())
    ap.add_argument("--reports", type=Path, default=reports_dir())
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/orientation"))
    ap.add_argument("--train-turns", type=int, default=len(TURNS), choices=range(1, len(TURNS) + 1),
                    help="quarter turns of each train radiograph to fit on (4: every one; fewer: drawn at random)")
    ap.add_argument("--max-false-turns", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run(args, " ".join(["python -m core.training.orientation_fit", shlex.join(argv)]).strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
