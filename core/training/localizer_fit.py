"""Train the fracture localiser on the train split's radiologist boxes:
`python -m core.training.localizer_fit` (`make train-localizer`).

The trunk starts from a shipped classifier (its card is `--trunk`); its first stages (stride 8) are
frozen and their activations cached once per view (plain and mirrored, boxes mirrored with them).
Each epoch sees every fractured train image and as many normal ones drawn afresh; the epoch with
the best val AP50 is kept, and for the "sides" regression whether averaging the maps of each image
and its mirror image (a cached view of val and test too) pays on val, then which box-vote radius
(VOTES: a box read at its peak cell, or averaged over the cells near it) has the best val AP50.
`--crops N` adds N cached
views per image, each a random crop with every box whole, a mirror and exposure jitter
(`core.data.augment.box_crop`); tried with 4 on val (`reports/localizer_crops_trial.json`: best val
AP50 0.264 against 0.272 without), so the default stays 0. Box-score thresholds for
both operating points are set on val; test is measured once, at the end. Every epoch is checkpointed;
`--resume` continues; `--budget-min` bounds the wall time.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.data.augment import box_crop, hflip
from core.data.boxes import Box, centre_targets, side_targets, to_model
from core.data.fracatlas import load_gray_images, read_boxes, read_labels
from core.data.preprocess import PreprocessConfig, letterbox
from core.evaluation.localization import choose_thresholds, measure, subgroups
from core.models.cards import WeightsFile
from core.models.localizer import LOCALIZER_CARD, Localizer, LocalizerCard, boxes_from_heads, mirror_merge, write_localizer_card
from core.models.weights import load_model, save_tensors, sha256
from core.settings import cache_dir, data_dir, reports_dir, weights_dir
from core.training import stem_cache
from core.training.localizer_scales import choose_scales, fused_rows, readings_of, sizes_sentence
from core.training.reproducibility import make_deterministic

log = logging.getLogger("core.localizer")
DESCRIPTIONS = {
    "centre": "Fracture localiser: CenterNet-style centre/size/offset heads on a stride-8 feature pyramid over the "
              "shipped classifier's trunk.",
    "sides": "Fracture localiser: a CenterNet-style centre heat map and TTFNet-style side distances (GIoU loss at "
             "every cell inside a box) on a stride-8 feature pyramid over the shipped classifier's trunk.",
}
VIEWS = {"train": ("plain", "flip"), "val": ("plain", "flip"), "test": ("plain", "flip")}  # + "cropN" in train
VOTES = (0, 1, 2)  # box-vote radii tried on val (core.models.localizer.decode_sides)


@dataclass(frozen=True)
class FitConfig:
    """Every setting of one localiser run; the card records them."""

    trunk: Path = field(default_factory=lambda: weights_dir() / "efficientnet_lite0.json")
    data: Path = field(default_factory=data_dir)
    size: int = 384
    width: int = 64
    epochs: int = 10  # a fixed count, so a slower machine trains the same localiser (issue 18)
    batch: int = 32
    lr: float = 1e-3
    wd: float = 1e-4
    negatives: float = 1.0
    crops: int = 0  # extra train views: a random mirror, box-keeping crop and exposure change each (box_crop)
    crop_keep: float = 0.7  # the least share of each side a crop keeps
    extra_sizes: str = "448"  # input sizes tried on val beside `size`, boxes fused (core.training.localizer_scales)
    regression: str = "sides"  # every cell inside a box regresses its sides (GIoU loss); or "centre" (CenterNet)
    size_weight: float = 0.5  # "centre": weight of the L1 of log size
    box_weight: float = 2.0  # "sides": weight of the GIoU loss
    patience: int = 5
    budget_min: float = 60.0  # a safety net only: 10 epochs took 33 min here (2026-12-03)
    seed: int = 0
    threads: int = 2
    limit: int | None = None
    out: Path = field(default_factory=weights_dir)
    reports: Path = field(default_factory=reports_dir)
    run_dir: Path = Path("runs/localizer")
    cache_dir: Path = field(default_factory=cache_dir)
    resume: bool = False
    command: str = ""

    def settings(self) -> dict[str, Any]:
        """What the card records (paths left out: they differ between machines)."""
        skip = {"data", "out", "reports", "run_dir", "cache_dir", "resume", "command", "trunk"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


@dataclass
class SplitData:
    """One split: names, images, labels, radiologist boxes, and the cached stem per view."""

    names: list[str]
    grays: list[np.ndarray]
    y: np.ndarray
    boxes: dict[str, list[Box]]
    stems: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def truth(self) -> dict[str, list[Box]]:
        """Boxes per image, empty for normal films (what the box metrics take)."""
        return {n: self.boxes.get(n, []) for n in self.names}


def flip_box(box: Box, width: int) -> Box:
    """A box on a mirrored image of the given width."""
    x, y, w, h = box
    return (width - x - w, y, w, h)


def load_split(fc: FitConfig, split: str, all_boxes: dict[str, list[Box]]) -> SplitData:
    """Labels, images and boxes of one split (a class-balanced head of it with --limit)."""
    df = read_labels(fc.data / "labels.csv", split)
    if fc.limit:
        df = df.groupby("fractured", group_keys=False).head(fc.limit // 2).reset_index(drop=True)
    names = df["image"].tolist()
    return SplitData(names, load_gray_images(fc.data / "images", names), df["fractured"].to_numpy(),
                     {n: list(all_boxes[n]) for n in names if n in all_boxes})


def train_views(fc: FitConfig) -> tuple[str, ...]:
    """The train split's cached views: plain, mirrored and `fc.crops` box-keeping crops."""
    return VIEWS["train"] + tuple(f"crop{k}" for k in range(fc.crops))


def view_images(split: SplitData, view: str, seed: int = 0,
                keep: float = 0.7) -> tuple[list[np.ndarray], dict[str, list[Box]]]:
    """The split's images and boxes under one view: 'plain', 'flip' or 'cropN' (seeded per image)."""
    if view == "plain":
        return split.grays, split.boxes
    if view == "flip":
        return [hflip(g) for g in split.grays], {n: [flip_box(b, g.shape[1]) for b in split.boxes.get(n, [])]
                                                 for n, g in zip(split.names, split.grays)}
    if not (view.startswith("crop") and view[4:].isdigit()):
        raise ValueError(f"unknown view {view!r}; use 'plain', 'flip' or 'cropN'")
    grays, boxes = [], {}
    for i, (n, g) in enumerate(zip(split.names, split.grays)):
        img, boxes[n] = box_crop(g, split.boxes.get(n, []), np.random.default_rng([seed, int(view[4:]), i]), keep)
        grays.append(img)
    return grays, boxes


def targets(split: SplitData, view: str, pcfg: PreprocessConfig, stride: int,
            regression: str = "centre", seed: int = 0, keep: float = 0.7) -> dict[str, np.ndarray]:
    """Dense targets of every image with boxes under one view: heat, log size in cells, offset and mask
    ("centre"), or heat, each cell's box and weight ("sides")."""
    g = pcfg.size // stride
    shapes = {"heat": (g, g), "size": (2, g, g), "offset": (2, g, g), "mask": (g, g)} if regression == "centre" \
        else {"heat": (g, g), "box": (4, g, g), "weight": (g, g)}
    out = {k: np.zeros((len(split.names),) + s, np.float32) for k, s in shapes.items()}
    grays, view_boxes = view_images(split, view, seed, keep)
    for i, (name, gray) in enumerate(zip(split.names, grays)):
        boxes = view_boxes.get(name, [])
        if not boxes:
            continue
        lb = letterbox(gray, pcfg.size)[1]
        model_boxes = [to_model(b, lb) for b in boxes]
        t = centre_targets(model_boxes, g, stride)
        out["heat"][i] = t.heat
        if regression == "sides":
            sides = side_targets(model_boxes, g, stride)
            out["box"][i], out["weight"][i] = sides.box, sides.weight
            continue
        out["offset"][i], out["mask"][i] = t.offset, t.mask
        out["size"][i] = np.log(np.maximum(t.size, 1e-3) / stride) * t.mask
    return out


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, per positive cell."""
    pos = heat.eq(1).float()
    p = torch.sigmoid(logits)
    pos_term = -F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_term = -F.logsigmoid(-logits) * p ** 2 * (1 - heat) ** 4 * (1 - pos)
    return (pos_term.sum() + neg_term.sum()) / pos.sum().clamp(min=1)


def box_loss(heads: tuple[torch.Tensor, ...], t: dict[str, torch.Tensor], size_weight: float) -> torch.Tensor:
    """Focal heat loss + L1 of log size and of offset at the centre cells."""
    heat, size, offset = heads
    mask = t["mask"][:, None]
    n = mask.sum().clamp(min=1)
    l_size = (torch.abs(size - t["size"]) * mask).sum() / n
    l_off = (torch.abs(torch.sigmoid(offset) - t["offset"]) * mask).sum() / n
    return focal_loss(heat[:, 0], t["heat"]) + size_weight * l_size + l_off


def sides_loss(heads: tuple[torch.Tensor, ...], t: dict[str, torch.Tensor], box_weight: float,
               stride: int) -> torch.Tensor:
    """Focal heat loss + GIoU loss of the boxes every weighted cell regresses (TTFNet-style)."""
    from torchvision.ops import generalized_box_iou_loss

    heat, sides = heads
    g = sides.shape[-1]
    centre = (torch.arange(g, dtype=sides.dtype) + 0.5) * stride
    cy, cx = torch.meshgrid(centre, centre, indexing="ij")
    d = torch.exp(sides.clamp(-4, 6)) * stride
    pred = torch.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1)
    w = t["weight"]
    take = w > 0
    focal = focal_loss(heat[:, 0], t["heat"])
    if not take.any():
        return focal
    giou = generalized_box_iou_loss(pred.permute(0, 2, 3, 1)[take], t["box"].permute(0, 2, 3, 1)[take], reduction="none")
    return focal + box_weight * (giou * w[take]).sum() / w[take].sum()


def epoch_order(y: np.ndarray, negatives: float, rng: np.random.Generator) -> np.ndarray:
    """Every fractured image and `negatives` × as many normal ones, shuffled."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    take = rng.choice(neg, min(len(neg), int(round(negatives * len(pos)))), replace=False)
    return rng.permutation(np.concatenate([pos, take]))


def train_epoch(net: Localizer, opt: torch.optim.Optimizer, sched: Any, train: SplitData,
                tgt: dict[str, dict[str, np.ndarray]], fc: FitConfig, epoch: int, stride: int) -> float:
    """One pass: a random view per image; returns the mean loss."""
    net.train()
    net.stem.eval()
    rng = np.random.default_rng([fc.seed, epoch])
    order = epoch_order(train.y, fc.negatives, rng)
    names = train_views(fc)
    views = rng.integers(0, len(names), len(train.y))
    losses = []
    for start in range(0, len(order), fc.batch):
        idx = order[start:start + fc.batch]
        vs = [names[v] for v in views[idx]]
        z = torch.from_numpy(np.stack([train.stems[v][i] for v, i in zip(vs, idx)]).astype(np.float32))
        t = {k: torch.from_numpy(np.stack([tgt[v][k][i] for v, i in zip(vs, idx)])) for k in tgt["plain"]}
        heads = net.forward_from_stem(z)
        loss = box_loss(heads, t, fc.size_weight) if fc.regression == "centre" \
            else sides_loss(heads, t, fc.box_weight, stride)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return float(np.mean(losses))


@torch.no_grad()
def predict_views(net: Localizer, split: SplitData, pcfg: PreprocessConfig, stride: int, top_k: int = 10,
                  batch: int = 32, mirrors: tuple[bool, ...] = (False,),
                  vote: int = 0) -> dict[bool, dict[str, list[list[float]]]]:
    """Top-k boxes of every image of a split from its cached stems, in image pixels, for each of `mirrors`
    (False: the plain maps; True: plain and mirrored maps averaged), from one forward pass per view."""
    net.eval()
    out: dict[bool, dict[str, list[list[float]]]] = {m: {} for m in mirrors}
    for start in range(0, len(split.names), batch):
        plain = net.forward_from_stem(torch.from_numpy(split.stems["plain"][start:start + batch].astype(np.float32)))
        heads = {False: plain}
        if True in mirrors:
            flipped = split.stems["flip"][start:start + batch].astype(np.float32)
            heads[True] = mirror_merge(plain, net.forward_from_stem(torch.from_numpy(flipped)))
        for k, gray in enumerate(split.grays[start:start + batch]):
            lb = letterbox(gray, pcfg.size)[1]
            for m in mirrors:
                found = boxes_from_heads(tuple(h[k:k + 1] for h in heads[m]), stride, top_k, lb, gray.shape[:2],
                                         vote=vote)
                out[m][split.names[start + k]] = [[*map(float, b), float(s)] for b, s in found]
    return out


def predict_split(net: Localizer, split: SplitData, pcfg: PreprocessConfig, stride: int, top_k: int = 10,
                  batch: int = 32, mirror: bool = False, vote: int = 0) -> dict[str, list[list[float]]]:
    """Top-k boxes of every image of a split (plain, or mirror-averaged), in image pixels."""
    return predict_views(net, split, pcfg, stride, top_k, batch, (mirror,), vote)[mirror]


def choose_vote(net: Localizer, val: SplitData, card: LocalizerCard) -> tuple[int, dict[str, float]]:
    """The box-vote radius of VOTES with the best val AP50 (ties: the smaller), and each radius's AP50."""
    from core.evaluation.detection import ap50
    from core.evaluation.localization import scored

    if card.regression != "sides":
        return 0, {}
    aps = {str(v): ap50(val.truth, scored(predict_split(net, val, card.preprocess, card.stride, card.top_k,
                                                        mirror=card.mirror, vote=v))) for v in VOTES}
    best = max(VOTES, key=lambda v: (aps[str(v)], -v))
    log.info("box vote radius on val: AP50 %s → %d", {k: round(a, 4) for k, a in aps.items()}, best)
    return best, aps


def val_aps(net: Localizer, val: SplitData, pcfg: PreprocessConfig, stride: int,
            mirrors: tuple[bool, ...] = (False,)) -> list[float]:
    """AP50 of the val split (the selection figure) for each of `mirrors`, from one pass over it."""
    from core.evaluation.detection import ap50
    from core.evaluation.localization import scored

    preds = predict_views(net, val, pcfg, stride, mirrors=mirrors)
    return [ap50(val.truth, scored(preds[m])) for m in mirrors]


def build(fc: FitConfig) -> tuple[Localizer, LocalizerCard, dict[str, Any]]:
    """The localiser on the trunk's trained weights, a card skeleton and a record of its start."""
    trunk, tcard = load_model(fc.trunk)
    net = Localizer(trunk, fc.width, fc.regression)
    net.freeze_stem()
    pcfg = tcard.preprocess.with_(size=fc.size)
    card = LocalizerCard(trunk=tcard.architecture, preprocess=pcfg, width=fc.width, regression=fc.regression,
                         thresholds={"high_sensitivity": 1.0, "balanced": 1.0})
    start = {"trunk_card": tcard.name, "trunk_weights": tcard.weights.file, "trunk_sha256": tcard.weights.sha256}
    return net, card, start


def cache_stems(net: Localizer, splits: dict[str, SplitData], pcfg: PreprocessConfig, fc: FitConfig,
                trunk_sha: str) -> None:
    """Fill `stems` of every split and view from the disk cache (computed once)."""
    for name, split in splits.items():
        for view in (train_views(fc) if name == "train" else VIEWS[name]):
            crop = view.startswith("crop")
            key = stem_cache.cache_key(f"localizer-{fc.size}" + (f"-keep{fc.crop_keep:g}" if crop else ""),
                                       trunk_sha, pcfg, split.names, view, fc.seed)
            grays = view_images(split, view, fc.seed, fc.crop_keep)[0] if crop else split.grays
            split.stems[view] = stem_cache.cached_stem(net, key, grays, pcfg, "plain" if crop else view, fc.seed,
                                                       fc.cache_dir)


@dataclass
class Progress:
    """Epochs done, the best epoch's AP and weights, the log, time spent: checkpointed every epoch."""

    epoch: int = 0
    best_ap: float = -1.0
    best_epoch: int = 0
    best_mirror: bool = False
    best_state: dict[str, torch.Tensor] | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    prior_s: float = 0.0
    setup_s: float = 0.0
    stopped_by: str = "schedule complete"


def fit(net: Localizer, splits: dict[str, SplitData], pcfg: PreprocessConfig, fc: FitConfig,
        stride: int) -> Progress:
    """Epoch loop: train, val AP50, checkpoint; early stop, wall-clock budget, resume."""
    tgt = {v: targets(splits["train"], v, pcfg, stride, fc.regression, fc.seed, fc.crop_keep)
           for v in train_views(fc)}
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=fc.lr, weight_decay=fc.wd)
    steps = fc.epochs * -(-len(epoch_order(splits["train"].y, fc.negatives, np.random.default_rng(0))) // fc.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=fc.lr, total_steps=max(steps, 1), pct_start=0.15)
    prog, t0 = _resume(fc, net, opt, sched), time.time()
    for epoch in range(prog.epoch, fc.epochs):
        e0 = time.time()
        loss = train_epoch(net, opt, sched, splits["train"], tgt, fc, epoch, stride)
        ap, mirrored = (val_aps(net, splits["val"], pcfg, stride, (False, True)) if fc.regression == "sides"
                        else [*val_aps(net, splits["val"], pcfg, stride), -1.0])
        prog.epoch = epoch + 1
        if max(ap, mirrored) > prog.best_ap:
            prog.best_ap, prog.best_epoch, prog.best_mirror = max(ap, mirrored), epoch + 1, mirrored > ap
            prog.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        row = {"epoch": epoch + 1, "loss": loss, "val_ap50": ap, "seconds": round(time.time() - e0, 1)}
        if fc.regression == "sides":
            row["val_ap50_mirror"] = mirrored
        prog.log.append(row)
        log.info("epoch %d loss %.4f val AP50 %.4f, mirrored %.4f (best %.4f @ %d) %.0fs", epoch + 1, loss, ap,
                 mirrored, prog.best_ap, prog.best_epoch, row["seconds"])
        torch.save({"progress": prog, "model": net.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "elapsed": prog.prior_s + time.time() - t0}, fc.run_dir / "last.pt")
        if epoch + 1 - prog.best_epoch >= fc.patience:
            prog.stopped_by = f"early stop (no val AP50 gain for {fc.patience} epochs)"
        elif epoch + 1 < fc.epochs and (time.time() - t0 + row["seconds"]) / 60 > fc.budget_min:
            prog.stopped_by = f"wall-clock budget ({fc.budget_min:g} min)"
        if prog.stopped_by != "schedule complete":
            break
    prog.prior_s += time.time() - t0
    return prog


def _resume(fc: FitConfig, net: Localizer, opt: Any, sched: Any) -> Progress:
    ckpt = fc.run_dir / "last.pt"
    if not (fc.resume and ckpt.is_file()):
        return Progress()
    saved = torch.load(ckpt, weights_only=False)
    net.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    sched.load_state_dict(saved["sched"])
    prog = saved["progress"]
    prog.prior_s = saved["elapsed"]
    log.info("resumed from %s at epoch %d", ckpt, prog.epoch)
    return prog


def finish(net: Localizer, card: LocalizerCard, splits: dict[str, SplitData], fc: FitConfig,
           prog: Progress, start: dict[str, Any], environment: dict[str, Any]) -> LocalizerCard:
    """Best weights → thresholds on val → val and test figures → weights, card and box files."""
    net.load_state_dict(prog.best_state)
    card = card.with_(mirror=prog.best_mirror)
    vote, vote_aps = choose_vote(net, splits["val"], card)
    card = card.with_(vote=vote)
    preds = {s: predict_split(net, splits[s], card.preprocess, card.stride, card.top_k, mirror=card.mirror,
                              vote=vote) for s in ("val", "test")}
    card, scale_aps, preds = _choose_scales(net, card, splits, preds, fc)
    thresholds = choose_thresholds(splits["val"].truth, preds["val"])
    metrics = {s: split_metrics(fc, splits[s], s, preds[s], thresholds) for s in preds}
    box_dir = fc.reports / "localizer"
    box_dir.mkdir(parents=True, exist_ok=True)
    for s, p in preds.items():
        (box_dir / f"{s}_boxes.json").write_text(json.dumps(p, separators=(",", ":")) + "\n")
    card = card.with_(thresholds=thresholds, metrics=metrics, init=start, weights=_save_weights(net, card, fc.out),
                      training=_record(fc, prog, environment) | {"vote_val_ap50": vote_aps, "sizes_val_ap50": scale_aps},
                      data=_data_note(splits["train"]), created=datetime.now(UTC).isoformat(timespec="seconds"),
                      description=_description(card))
    write_localizer_card(card, fc.out / LOCALIZER_CARD)
    write_localizer_card(card, fc.reports / LOCALIZER_CARD)  # beside scope.json: not a classifier card
    return card


def _choose_scales(net: Localizer, card: LocalizerCard, splits: dict[str, SplitData], preds: dict[str, Any],
                   fc: FitConfig) -> tuple[LocalizerCard, dict[str, float], dict[str, Any]]:
    """Whether reading at `fc.extra_sizes` too (boxes fused) pays on val; the card and val/test rows that follow."""
    candidate = tuple(int(s) for s in fc.extra_sizes.split(",") if s.strip())
    if not candidate:
        return card, {}, preds
    val = splits["val"]
    scales, aps, val_rows = choose_scales(net, card, val.names, val.grays, val.truth,
                                          readings_of(val.names, preds["val"]), candidate)
    card = card.with_(scales=scales)
    test = splits["test"]
    return card, aps, {"val": val_rows, "test": fused_rows(net, card, test.names, test.grays, preds["test"])}


def _description(card: LocalizerCard) -> str:
    """The card's one-paragraph description of how its boxes are made."""
    mirror = " Maps of the image and its mirror image are averaged." if card.mirror else ""
    vote = (f" Each box is the heat-weighted mean of the boxes of the cells within {card.vote} of its peak."
            if card.vote else "")
    return DESCRIPTIONS[card.regression] + mirror + vote + sizes_sentence(card)


def split_metrics(fc: FitConfig, split: SplitData, name: str, preds: dict[str, list[list[float]]],
                  thresholds: dict[str, float]) -> dict[str, Any]:
    """The split's figures (AP50, FROC, pointing, thresholds' counts) and per region / hardware-free."""
    shapes = {n: g.shape[:2] for n, g in zip(split.names, split.grays)}
    m = measure(split.truth, preds, shapes, dict(zip(split.names, split.y.tolist())), thresholds)
    labels = read_labels(fc.data / "labels.csv", name)
    return m | {"subgroups": subgroups(labels[labels["image"].isin(split.names)], split.truth, preds, shapes)}


def _save_weights(net: Localizer, card: LocalizerCard, out: Path) -> WeightsFile:
    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}
    path = save_tensors(state, out / "localizer.safetensors", {"name": "localizer", "trunk": card.trunk})
    return WeightsFile(path.name, sha256(path), path.stat().st_size)


def _record(fc: FitConfig, prog: Progress, environment: dict[str, Any]) -> dict[str, Any]:
    return {"command": fc.command, "settings": fc.settings(), "epochs_run": prog.epoch, "best_epoch": prog.best_epoch,
            "wall_time_s": round(prog.prior_s, 1), "setup_s": round(prog.setup_s, 1), "stopped_by": prog.stopped_by,
            "log": prog.log, "environment": environment}


def _data_note(train: SplitData) -> dict[str, Any]:
    return {"source": "FracAtlas (CC BY 4.0), fixed leakage-free split; boxes: fracture_boxes_coco.json",
            "train_images": len(train.names), "train_fractured": int(train.y.sum()),
            "train_boxes": sum(map(len, train.boxes.values())), "selection": "val AP50 (epoch), val FROC (thresholds)"}


def run(fc: FitConfig) -> LocalizerCard:
    """The whole run: data, cached stems, epochs, then the shipped files."""
    fc.run_dir.mkdir(parents=True, exist_ok=True)
    environment = make_deterministic(fc.seed, fc.threads)
    t0 = time.time()
    net, card, start = build(fc)
    all_boxes = read_boxes(fc.data / "fracture_boxes_coco.json")
    splits = {s: load_split(fc, s, all_boxes) for s in ("train", "val", "test")}
    cache_stems(net, splits, card.preprocess, fc, start["trunk_sha256"])
    setup_s = time.time() - t0
    log.info("data and stems ready in %.0f s", setup_s)
    prog = fit(net, splits, card.preprocess, fc, card.stride)
    prog.setup_s = setup_s
    card = finish(net, card, splits, fc, prog, start, environment)
    for s in ("val", "test"):
        m = card.metrics[s]
        log.info("%s: AP50 %.3f  FROC %s  pointing %.3f  top-score AUC %.3f", s, m["ap50"], m["froc"],
                 m["pointing"], m["top_score_auc"])
    return card


def parse(argv: list[str]) -> FitConfig:
    """`python -m core.training.localizer_fit` options, one per FitConfig field."""
    p = argparse.ArgumentParser(prog="python -m core.training.localizer_fit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    types = {"int": int, "float": float, "Path": Path, "int | None": int}
    for name, f in FitConfig.__dataclass_fields__.items():
        if name == "command":
            continue
        flag = "--" + name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action="store_true")
        else:
            p.add_argument(flag, type=types.get(str(f.type), str), default=None)
    values = {k: v for k, v in vars(p.parse_args(argv)).items() if v is not None and v is not False}
    cmd = "python -m core.training.localizer_fit " + " ".join(shlex.quote(a) for a in argv)
    return FitConfig(**values, command=cmd.strip())


def main(argv: list[str] | None = None) -> int:
    """The CLI."""
    fc = parse(list(sys.argv[1:] if argv is None else argv))
    fc.run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(fc.run_dir / "train.log")])
    run(fc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
