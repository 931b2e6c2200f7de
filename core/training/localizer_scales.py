"""Which input sizes the localiser is read at, chosen on val: `python -m core.training.localizer_scales`.

The localiser is fully convolutional, so it can read an image letterboxed to a larger size than it was
trained at: a finer grid over small fractures. Boxes of the trained size and of each extra size are fused
(weighted box fusion, `core.data.boxes.fuse_boxes`). `scripts/scale_trial.py` tried sizes 320–512 and
their combinations on val (`reports/localizer_scale_trial.json`); 448 beside the trained 384 is the
candidate here, as three sizes would cost another reading per verdict for a val gain within noise.
`localizer_fit` makes this choice at the end of every fit; this command makes it for the shipped localiser
(its weights unchanged): val AP50 with and without the extra sizes, the better kept, box thresholds
refitted on val, test measured once, the card and the val/test box files rewritten. The verdict's evidence
(the top box score at the trained size) does not change.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.boxes import Box
from core.data.fracatlas import load_gray_images, read_boxes, read_labels
from core.evaluation.detection import ap50
from core.evaluation.localization import choose_thresholds, measure, scored, subgroups
from core.models.localizer import (
    LOCALIZER_CARD,
    Localizer,
    LocalizerCard,
    boxes_at_size,
    load_localizer,
    shown_boxes,
    write_localizer_card,
)
from core.settings import data_dir, reports_dir, weights_dir

log = logging.getLogger("core.localizer_scales")
CANDIDATE = (448,)
Rows = dict[str, list[list[float]]]


def as_rows(names: Sequence[str], readings: Sequence[Sequence[Sequence[tuple[Box, float]]]], card: LocalizerCard) -> Rows:
    """Per image: its boxes fused over the readings (one reading: as read), as (x, y, w, h, score) rows."""
    out = {}
    for k, name in enumerate(names):
        found = shown_boxes([r[k] for r in readings], card)
        out[name] = [[*map(float, b), float(s)] for b, s in found]
    return out


def choose_scales(net: Localizer, card: LocalizerCard, names: Sequence[str], grays: Sequence[np.ndarray],
                  truth: dict[str, list[Box]], base: Sequence[Sequence[tuple[Box, float]]],
                  candidate: tuple[int, ...] = CANDIDATE) -> tuple[tuple[int, ...], dict[str, float], Rows]:
    """The extra sizes (none, or `candidate`) with the better val AP50 (ties: none), both AP50s, and the val
    rows of the choice."""
    extra = [boxes_at_size(net, grays, card, s) for s in candidate]
    key = ",".join(map(str, candidate))
    rows = {"none": as_rows(names, [base], card), key: as_rows(names, [base, *extra], card)}
    aps = {k: ap50(truth, scored(r)) for k, r in rows.items()}
    chosen = candidate if aps[key] > aps["none"] else ()
    log.info("extra input sizes on val: AP50 %s → %s", {k: round(v, 4) for k, v in aps.items()}, chosen or "none")
    return chosen, aps, rows[key if chosen else "none"]


def sizes_sentence(card: LocalizerCard) -> str:
    """The card description's sentence on its input sizes ("" when it reads one)."""
    if not card.scales:
        return ""
    return f" Boxes read at input sizes {', '.join(map(str, card.sizes))} are fused (weighted box fusion)."


def readings_of(names: Sequence[str], rows: Rows) -> list[list[tuple[Box, float]]]:
    """Box rows back to one reading per image, in `names` order."""
    return [[(tuple(r[:4]), float(r[4])) for r in rows[n]] for n in names]


def fused_rows(net: Localizer, card: LocalizerCard, names: Sequence[str], grays: Sequence[np.ndarray],
               base: Rows) -> Rows:
    """The split's rows at the trained size (`base`) fused with readings at the card's extra sizes."""
    if not card.scales:
        return dict(base)
    extra = [boxes_at_size(net, grays, card, s) for s in card.scales]
    return as_rows(names, [readings_of(names, base), *extra], card)


def split_rows(net: Localizer, card: LocalizerCard, grays: Sequence[np.ndarray], names: Sequence[str]) -> Rows:
    """Every image's shown boxes at the card's sizes (as `localize` reads them), in batches."""
    return as_rows(names, [boxes_at_size(net, grays, card, s) for s in card.sizes], card)


def figures(split: str, rows: Rows, thresholds: dict[str, float], data: Path) -> dict[str, Any]:
    """The split's localiser figures (AP50, FROC, pointing, per region) from its box rows."""
    labels = read_labels(data / "labels.csv", split)
    labels = labels[labels["image"].isin(rows)]
    all_boxes = read_boxes(data / "fracture_boxes_coco.json")
    truth = {n: all_boxes.get(n, []) for n in labels["image"]}
    shapes = {n: (int(h), int(w)) for n, h, w in zip(labels["image"], labels["h"], labels["w"])}
    m = measure(truth, rows, shapes, dict(zip(labels["image"], labels["fractured"])), thresholds)
    return m | {"subgroups": subgroups(labels, truth, rows, shapes)}


def rescale(weights: Path, reports: Path, data: Path, command: str,
            candidate: tuple[int, ...] = CANDIDATE) -> LocalizerCard:
    """Choose the shipped localiser's sizes on val, refit its box thresholds, measure test; rewrite its card."""
    net, card = load_localizer(weights / LOCALIZER_CARD)
    card = card.with_(scales=())
    frames = {s: read_labels(data / "labels.csv", s) for s in ("val", "test")}
    grays = {s: load_gray_images(data / "images", df["image"].tolist()) for s, df in frames.items()}
    names = {s: df["image"].tolist() for s, df in frames.items()}
    all_boxes = read_boxes(data / "fracture_boxes_coco.json")
    truth = {n: all_boxes.get(n, []) for n in names["val"]}
    base = boxes_at_size(net, grays["val"], card, card.preprocess.size)
    scales, aps, val_rows = choose_scales(net, card, names["val"], grays["val"], truth, base, candidate)
    card = card.with_(scales=scales)
    rows = {"val": val_rows, "test": split_rows(net, card, grays["test"], names["test"])}
    thresholds = choose_thresholds(truth, rows["val"])
    metrics = {s: figures(s, r, thresholds, data) for s, r in rows.items()}
    for s, r in rows.items():
        (reports / "localizer" / f"{s}_boxes.json").write_text(json.dumps(r, separators=(",", ":")) + "\n")
    record = {"command": command, "val_ap50": aps, "chosen": list(scales),
              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    description = card.description.split(" Boxes read at input sizes")[0] + sizes_sentence(card)
    card = card.with_(thresholds=thresholds, metrics=metrics, description=description,
                      training=card.training | {"scales_choice": record})
    write_localizer_card(card, weights / LOCALIZER_CARD)
    write_localizer_card(card, reports / LOCALIZER_CARD)
    return card


def main(argv: list[str] | None = None) -> int:
    """The CLI: rewrite the shipped localiser's card with its sizes chosen on val."""
    p = argparse.ArgumentParser(prog="python -m core.training.localizer_scales", description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=weights_dir())
    p.add_argument("--reports", type=Path, default=reports_dir())
    p.add_argument("--data", type=Path, default=data_dir())
    p.add_argument("--extra-sizes", type=int, nargs="+", default=list(CANDIDATE))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(2)
    cmd = "python -m core.training.localizer_scales " + " ".join(sys.argv[1:] if argv is None else argv)
    card = rescale(args.weights, args.reports, args.data, cmd.strip(), tuple(args.extra_sizes))
    for s in ("val", "test"):
        m = card.metrics[s]
        log.info("%s: AP50 %.3f FROC %s pointing %.3f", s, m["ap50"], m["froc"], m["pointing"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
