"""The localiser under the shift catalogue: `python -m core.evaluation.localizer_robustness`.

Every test image is changed by each shift of `core.data.shifts` (seeded as the robustness suite
seeds it) and the radiologists' boxes are moved with it: each box is drawn as a mask, the same
seeded shift is applied to the mask, and the box becomes the mask's bounding rectangle (geometric
shifts move it; photometric ones leave it). Boxes cropped away are dropped. For each shift: AP50,
FROC at 1 false box per image, top-box pointing, the top-box score's image-level ROC-AUC, and the
change from the unshifted images. Written to reports/localizer_robustness.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.data.fracatlas import load_gray_images, read_boxes, read_labels
from core.data.polarity import upright
from core.data.shifts import SHIFTS, Level, apply_shift, get_shift
from core.evaluation.localization import measure
from core.evaluation.robustness import stratified_subset
from core.models.localizer import LOCALIZER_CARD, load_localizer, localize
from core.settings import data_dir, reports_dir, weights_dir

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]
GEOMETRIC = frozenset({"turn", "tilt_black", "tilt_grey", "flip", "zoom", "border", "downscale"})


def moved_boxes(shape: tuple[int, int], boxes: list[Box], name: str, level: Level, seed: int, index: int) -> list[Box]:
    """The boxes after a geometric shift (through masks); unchanged after a photometric one."""
    if name not in GEOMETRIC:
        return list(boxes)
    out = []
    for x, y, w, h in boxes:
        mask = np.zeros(shape, np.uint8)
        mask[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] = 255
        ys, xs = np.nonzero(apply_shift(mask, name, level, seed, index) > 127)
        if len(xs):
            out.append((float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)))
    return out


def score_case(net: Any, card: Any, grays: list[np.ndarray], truth: dict[str, list[Box]], labels: dict[str, int],
               names: list[str], shift: tuple[str, Level] | None, seed: int) -> dict[str, Any]:
    """The localiser's figures on the images under one shift (None: as they are)."""
    preds, moved, shapes = {}, {}, {}
    for i, (n, g) in enumerate(zip(names, grays)):
        # polarity as the app does; the orientation check is left out: this measures the localiser on the image as shifted
        img = g if shift is None else upright(apply_shift(g, shift[0], shift[1], seed, i))[0]
        moved[n] = truth[n] if shift is None else moved_boxes(g.shape, truth[n], shift[0], shift[1], seed, i)
        preds[n] = [[*b, s] for b, s in localize(net, img, card)]
        shapes[n] = img.shape[:2]
    m = measure(moved, preds, shapes, labels, card.thresholds)
    return {k: m[k] for k in ("ap50", "pointing", "top_score_auc", "n_boxes")} | {"froc_at_1": m["froc"]["1.0"]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every shift at its middle level on (a stratified subset of) the split."""
    net, card = load_localizer(args.weights / LOCALIZER_CARD)
    df = read_labels(args.data / "labels.csv", args.split)
    df = df.iloc[stratified_subset(df["fractured"].to_numpy(), args.limit, args.seed)].reset_index(drop=True)
    names = df["image"].tolist()
    grays = load_gray_images(args.data / "images", names)
    boxes = read_boxes(args.data / "fracture_boxes_coco.json")
    truth, labels = {n: boxes.get(n, []) for n in names}, dict(zip(names, df["fractured"].tolist()))
    t0 = time.time()
    plain = score_case(net, card, grays, truth, labels, names, None, args.seed)
    rows = []
    for name in tqdm(args.shifts, desc="localiser under shifts", unit="shift"):
        level = get_shift(name).middle
        r = score_case(net, card, grays, truth, labels, names, (name, level), args.seed)
        rows.append({"shift": name, "level": level, **r,
                     "delta": {k: round(r[k] - plain[k], 4) for k in ("ap50", "pointing", "top_score_auc", "froc_at_1")}})
        log.info("%-13s AP50 %.3f (%+.3f)  pointing %.3f (%+.3f)", name, r["ap50"], r["ap50"] - plain["ap50"],
                 r["pointing"], r["pointing"] - plain["pointing"])
    return {"split": args.split, "n_images": len(names), "limit": args.limit, "seed": args.seed, "levels": "middle",
            "input": "inverted-looking images turned back first (core.data.polarity), as the app does",
            "localizer_sha256": card.weights.sha256, "localizer_sizes": list(card.sizes), "unshifted": plain, "shifts": rows,
            "minutes": round((time.time() - t0) / 60, 1)}


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The old report with the new run's shifts replaced, in the catalogue's order; ValueError if they differ."""
    keys = ("split", "n_images", "limit", "seed", "localizer_sha256")
    if any(old[k] != new[k] for k in keys) or old["unshifted"] != new["unshifted"]:
        raise ValueError(f"cannot update: the earlier report differs in {[k for k in keys if old[k] != new[k]]} "
                         "or in its unshifted figures")
    rows = {r["shift"]: r for r in old["shifts"]} | {r["shift"]: r for r in new["shifts"]}
    order = [s for s in SHIFTS if s in rows]
    return old | {"shifts": [rows[s] for s in order], "minutes": round(old["minutes"] + new["minutes"], 1),
                  "updated": sorted({r["shift"] for r in new["shifts"]} | set(old.get("updated", [])))}


def main(argv: list[str] | None = None) -> int:
    """The CLI."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--shifts", nargs="*", default=[s.name for s in SHIFTS.values()])
    p.add_argument("--limit", type=int, default=None, help="a stratified subset of N images (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default reports/localizer_robustness.json")
    p.add_argument("--update", action="store_true",
                   help="replace only the given shifts' rows of an existing --out (same split, subset and weights)")
    args = p.parse_args(argv)
    args.weights, args.data = args.weights or weights_dir(), args.data or data_dir()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(args)
    out = args.out or reports_dir() / "localizer_robustness.json"
    if args.update and out.is_file():
        result = merged(json.loads(out.read_text()), result)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
