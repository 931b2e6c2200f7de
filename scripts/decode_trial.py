"""Box reading tried on val: `python scripts/decode_trial.py [--votes 0 1 2]`.

The shipped localiser's heads are computed once for every val image (as the app computes them:
mirror-averaged when the card says so); each box is then read either at its peak cell (vote 0, as
shipped) or as the heat-weighted mean of the boxes of the cells within r of the peak (vote r; the
"sides" head is trained at every cell inside a box, so each of them estimates it). Scores, and so the
verdict's evidence, do not change: only where the boxes sit. Val only: box thresholds are chosen on
val and AP50, FROC and pointing are measured on val. Writes reports/localizer_decode_trial.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.data.fracatlas import load_gray_images, read_boxes, read_labels  # noqa: E402
from core.evaluation.localization import choose_thresholds, measure  # noqa: E402
from core.models.localizer import LOCALIZER_CARD, boxes_from_heads, load_localizer, run_heads  # noqa: E402
from core.settings import data_dir, reports_dir, weights_dir  # noqa: E402

log = logging.getLogger("decode_trial")


@torch.no_grad()
def val_heads(batch: int = 16) -> tuple[list, list, list[str], list[np.ndarray]]:
    """Per val image: its heads (batch of one), letterbox, name and pixels."""
    net, card = load_localizer(weights_dir() / LOCALIZER_CARD)
    names = read_labels(data_dir() / "labels.csv", "val")["image"].tolist()
    grays = load_gray_images(data_dir() / "images", names)
    heads, lbs = [], []
    for start in range(0, len(grays), batch):
        h, lb = run_heads(net, grays[start:start + batch], card)
        heads += [tuple(x[k:k + 1] for x in h) for k in range(len(lb))]
        lbs += lb
        log.info("val heads %d/%d", len(heads), len(grays))
    return heads, lbs, names, grays


def figures(vote: int, heads: list, lbs: list, names: list[str], grays: list[np.ndarray]) -> dict:
    """AP50, FROC and pointing on val with boxes read at vote radius `vote` (thresholds chosen on val)."""
    _, card = load_localizer(weights_dir() / LOCALIZER_CARD)
    preds = {n: [[*b, s] for b, s in boxes_from_heads(h, card.stride, card.top_k, lb, g.shape[:2], vote=vote)]
             for n, h, lb, g in zip(names, heads, lbs, grays)}
    labels = read_labels(data_dir() / "labels.csv", "val")
    boxes = read_boxes(data_dir() / "fracture_boxes_coco.json")
    truth = {n: boxes.get(n, []) for n in names}
    m = measure(truth, preds, {n: g.shape[:2] for n, g in zip(names, grays)},
                dict(zip(labels["image"], labels["fractured"])), choose_thresholds(truth, preds))
    return {"vote": vote, "ap50": m["ap50"], "froc": m["froc"], "pointing": m["pointing"],
            "top_score_auc": m["top_score_auc"]}


def main(argv: list[str] | None = None) -> int:
    """Compute the val heads once, read boxes at each vote radius, write the comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--votes", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=reports_dir() / "localizer_decode_trial.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    got = val_heads()
    rows = [figures(v, *got) for v in args.votes]
    for r in rows:
        log.info("vote %d: val AP50 %.4f FROC %s pointing %.3f", r["vote"], r["ap50"], r["froc"], r["pointing"])
    args.out.write_text(json.dumps({"command": "python scripts/decode_trial.py " + " ".join(argv or sys.argv[1:]),
                                    "split": "val", "n_images": len(got[2]), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
