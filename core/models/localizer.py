"""The fracture localiser: a CenterNet-style head with a small feature pyramid on a classifier's trunk.

The trunk is a shipped timm mobile classifier (`FractureNet` from `timm_mobile`: stem = conv, bn,
blocks 0–3; body = blocks 4–6, conv_head, bn2). The localiser re-splits it: blocks up to 2 (stride 8)
are frozen and cached for training; blocks 3–4 (stride 16) and 5–6 (stride 32) train, and a top-down
pyramid merges them back to stride 8, where small heads give the centre heat map and the box: either
(regression "centre") its size (log of cells) and the centre's offset within its cell at the centre
cell, or (regression "sides", TTFNet-style) the distances from each cell to the box's four sides
(log of cells), trained at every cell inside the box with a GIoU loss. With `mirror` the maps of the
image and of its mirror image are averaged before boxes are read off.

The card (`weights/localizer.json`) is a typed `LocalizerCard`: trunk, preprocessing, box-score
thresholds for both operating points, metrics on val and test, and the weights' sha256.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.data.augment import hflip
from core.data.boxes import Box, decode, decode_sides, fuse_boxes, to_image
from core.data.preprocess import PreprocessConfig, preprocess
from core.errors import WeightsError
from core.models.cards import OPERATING_POINTS, WeightsFile, read_json_object
from core.models.networks import FractureNet
from core.models.registry import create_model

LOCALIZER_CARD = "localizer.json"
PRIOR = 0.01  # initial peak probability: the heat head starts near "no fracture anywhere"
HEADS = {"centre": {"heat": 1, "size": 2, "offset": 2}, "sides": {"heat": 1, "sides": 4}}


class Localizer(nn.Module):
    """Frozen stem (stride 8) → two trained trunk stages → top-down pyramid → centre/size/offset heads."""

    def __init__(self, trunk: FractureNet, width: int = 64, regression: str = "centre"):
        super().__init__()
        if regression not in HEADS:
            raise ValueError(f"regression must be one of {sorted(HEADS)}, got {regression!r}")
        stem, body = list(trunk.stem.children()), list(trunk.body.children())
        if len(stem) != 6 or len(body) < 3:
            raise ValueError(f"trunk must be a timm mobile FractureNet (stem of 6, body ≥ 3), got {len(stem)}/{len(body)}")
        self.stem = nn.Sequential(*stem[:5])
        self.mid = nn.Sequential(stem[5], body[0])
        self.top = nn.Sequential(body[1], body[2])
        c3, c4, c5 = _channels(self.stem, self.mid, self.top)
        self.lat3, self.lat4, self.lat5 = nn.Conv2d(c3, width, 1), nn.Conv2d(c4, width, 1), nn.Conv2d(c5, width, 1)
        self.smooth = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                    nn.ReLU(inplace=True))
        self.regression, self.head_names = regression, tuple(HEADS[regression])
        for name, out in HEADS[regression].items():
            setattr(self, name, _head(width, out))
        nn.init.constant_(self.heat[-1].bias, float(np.log(PRIOR / (1 - PRIOR))))

    def freeze_stem(self) -> None:
        """Stop gradients in the cached stem and keep its batch-norm statistics fixed."""
        for p in self.stem.parameters():
            p.requires_grad_(False)
        self.stem.eval()

    def forward_from_stem(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Heat logits (N, 1, G, G), then for "centre" log box size in cells (N, 2, G, G) and offset logits
        (N, 2, G, G), for "sides" log distances in cells to the left, top, right and bottom side (N, 4, G, G)."""
        c4 = self.mid(z)
        c5 = self.top(c4)
        p4 = self.lat4(c4) + F.interpolate(self.lat5(c5), size=c4.shape[-2:], mode="nearest")
        p3 = self.smooth(self.lat3(z) + F.interpolate(p4, size=z.shape[-2:], mode="nearest"))
        return tuple(getattr(self, name)(p3) for name in self.head_names)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The three head outputs for preprocessed images (N, 3, S, S)."""
        return self.forward_from_stem(self.stem(x))


def _head(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(width, out, 1))


@torch.no_grad()
def _channels(*stages: nn.Module) -> list[int]:
    """Output channels of each stage in turn (a 64-pixel dummy pass)."""
    x, out = torch.zeros(1, 3, 64, 64), []
    was = [s.training for s in stages]
    for s in stages:
        s.eval()
        x = s(x)
        out.append(x.shape[1])
    for s, t in zip(stages, was):
        s.train(t)
    return out


STRIDE = 8


@dataclass(frozen=True)
class LocalizerCard:
    """Everything known about the shipped localiser; `metrics[split]` holds AP50, FROC and pointing."""

    trunk: str
    preprocess: PreprocessConfig
    thresholds: dict[str, float]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    weights: WeightsFile | None = None
    width: int = 64
    stride: int = STRIDE
    top_k: int = 10
    vote: int = 0  # "sides" boxes: 0 = read at the peak cell; r = heat-weighted mean over the cells within r
    regression: str = "centre"
    mirror: bool = False
    scales: tuple[int, ...] = ()  # more input sizes read besides preprocess.size; their boxes are fused (WBF)
    fuse_iou: float = 0.55  # boxes of different readings that overlap this much become one (core.data.boxes.fuse_boxes)
    init: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    created: str = ""
    name: str = "localizer"
    kind: str = "localizer"

    def __post_init__(self) -> None:
        missing = [op for op in OPERATING_POINTS if op not in self.thresholds]
        if missing:
            raise ValueError(f"localizer card lacks box thresholds for {missing}")
        if self.regression not in HEADS:
            raise ValueError(f"localizer regression must be one of {sorted(HEADS)}, got {self.regression!r}")
        if self.vote < 0 or (self.vote and self.regression != "sides"):
            raise ValueError(f"vote must be a radius ≥ 0, and > 0 only with the 'sides' regression, got {self.vote}")
        if self.mirror and self.regression != "sides":
            raise ValueError("mirror averaging needs the 'sides' regression")
        if self.preprocess.size % 32:
            raise ValueError(f"localizer input size must be a multiple of 32, got {self.preprocess.size}")
        bad = [s for s in self.scales if s % 32 or s <= 0 or s == self.preprocess.size]
        if bad:
            raise ValueError(f"localizer scales must be positive multiples of 32 other than the input size, got {bad}")

    @property
    def sizes(self) -> tuple[int, ...]:
        """Every input size the localiser is read at: its trained size first."""
        return (self.preprocess.size, *self.scales)

    def at_size(self, size: int) -> LocalizerCard:
        """The card read at one input size only (no further scales)."""
        return replace(self, preprocess=self.preprocess.with_(size=size), scales=())

    def with_(self, **changes: Any) -> LocalizerCard:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        d = asdict(self)
        d["preprocess"] = self.preprocess.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "localizer card") -> LocalizerCard:
        """Validate and type a card dict; WeightsError names what is wrong."""
        try:
            d = dict(d)
            d["preprocess"] = PreprocessConfig.from_dict(d["preprocess"])
            d["weights"] = WeightsFile(**d["weights"]) if d.get("weights") else None
            d["thresholds"] = {k: float(v) for k, v in d["thresholds"].items()}
            d["scales"] = tuple(int(v) for v in d.get("scales", ()))
            return cls(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{source} is not valid: {exc}") from exc


def read_localizer_card(path: str | Path) -> LocalizerCard:
    """Read a localiser card; WeightsError when it is unreadable."""
    return LocalizerCard.from_dict(read_json_object(path, "localizer card"), Path(path).name)


def write_localizer_card(card: LocalizerCard, path: str | Path) -> None:
    """Write a localiser card as pretty JSON."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(card.to_dict(), indent=2, default=float) + "\n")


def build_localizer(card: LocalizerCard) -> Localizer:
    """An untrained localiser of the card's shape (weights are loaded separately); WeightsError for a bad trunk."""
    try:
        return Localizer(create_model(card.trunk), card.width, card.regression)
    except ValueError as exc:
        raise WeightsError(f"the localizer card's trunk {card.trunk!r} cannot carry a localiser: {exc}") from exc


def load_localizer(card_path: str | Path) -> tuple[Localizer, LocalizerCard]:
    """Build the card's localiser and load its weights after checking their sha256."""
    from safetensors.torch import load_file

    from core.models.weights import sha256

    card = read_localizer_card(card_path)
    if card.weights is None:
        raise WeightsError("the localizer card names no weights file")
    wpath = Path(card_path).with_name(card.weights.file)
    if not wpath.is_file() or sha256(wpath) != card.weights.sha256:
        raise WeightsError(f"localizer weights {wpath.name} are missing or do not match their card's sha256")
    net = build_localizer(card)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(wpath)).items()})
    return net.eval(), card


def mirror_merge(heads: tuple[torch.Tensor, ...], mirrored: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """"sides" heads of an image and of its mirror image, averaged in the image's frame (left and right swapped)."""
    heat, sides = heads
    m_heat, m_sides = (h.flip(-1) for h in mirrored)
    return (heat + m_heat) / 2, (sides + m_sides[:, [2, 1, 0, 3]]) / 2


def decode_heads(heads: tuple[torch.Tensor, ...], stride: int, top_k: int,
                 min_score: float = 0.0, vote: int = 0) -> list[tuple[Box, float]]:
    """One image's raw head outputs (batch of 1) → boxes on the model input with scores, highest first."""
    heat = torch.sigmoid(heads[0][0, 0]).float().numpy()
    if len(heads) == 2:
        sides = (torch.exp(heads[1][0].clamp(-4, 6)) * stride).float().numpy()
        return decode_sides(heat, sides, stride, top_k=top_k, min_score=min_score, vote=vote)
    size = (torch.exp(heads[1][0].clamp(-4, 6)) * stride).float().numpy()
    return decode(heat, size, torch.sigmoid(heads[2][0]).float().numpy(), stride, top_k=top_k, min_score=min_score)


def boxes_from_heads(heads: tuple[torch.Tensor, ...], stride: int, top_k: int, lb: Any,
                     shape: tuple[int, int], min_score: float = 0.0, vote: int = 0) -> list[tuple[Box, float]]:
    """Decoded boxes of one image, in pixels of the image as loaded, highest score first."""
    out = [(to_image(b, lb, shape), s) for b, s in decode_heads(heads, stride, top_k, min_score, vote)]
    return [(b, s) for b, s in out if b[2] > 0 and b[3] > 0]


def run_heads(net: Localizer, grays: Sequence[np.ndarray], card: LocalizerCard) -> tuple[tuple[torch.Tensor, ...], list]:
    """The heads of a batch of images (mirror-averaged when the card says so) and each image's letterbox."""
    prepped = [preprocess(g, card.preprocess) for g in grays]
    inputs = [x for x, _ in prepped] + ([preprocess(hflip(g), card.preprocess)[0] for g in grays] if card.mirror else [])
    heads = net(torch.from_numpy(np.stack(inputs)))  # the mirror images ride in the same forward pass
    if card.mirror:
        n = len(grays)
        heads = mirror_merge(tuple(h[:n] for h in heads), tuple(h[n:] for h in heads))
    return heads, [lb for _, lb in prepped]


@torch.no_grad()
def localize(net: Localizer, gray: np.ndarray, card: LocalizerCard, min_score: float = 0.0) -> list[tuple[Box, float]]:
    """Fracture boxes (x, y, w, h) on the image as loaded, with scores, highest first (fused over the card's
    input sizes when it has scales)."""
    return [f for f in localize_with_evidence(net, gray, card)[1] if f[1] >= min_score]


@torch.no_grad()
def localize_with_evidence(net: Localizer, gray: np.ndarray, card: LocalizerCard) -> tuple[float, list[tuple[Box, float]]]:
    """The verdict's evidence — the top box score at the trained size, what `top_box_scores` gives and the
    ensemble's box fusion was fitted on — and the boxes shown (fused over every size of the card)."""
    readings = [boxes_at_size(net, [gray], card, size)[0] for size in card.sizes]
    top = max((s for _, s in readings[0]), default=0.0)
    return top, shown_boxes(readings, card)


def shown_boxes(readings: Sequence[Sequence[tuple[Box, float]]], card: LocalizerCard) -> list[tuple[Box, float]]:
    """The boxes shown for one image from its readings at the card's sizes: one reading as read, several fused
    (at most top_k), highest score first."""
    shown = readings[0] if len(readings) == 1 else fuse_boxes(readings, card.fuse_iou)[:card.top_k]
    return [(b, s) for b, s in shown if b[2] > 0 and b[3] > 0]


@torch.no_grad()
def boxes_at_size(net: Localizer, grays: Sequence[np.ndarray], card: LocalizerCard, size: int,
                  batch: int = 16) -> list[list[tuple[Box, float]]]:
    """Each image's boxes read at one input size, in batches (what `localize` fuses)."""
    one, out = card.at_size(size), []
    for start in range(0, len(grays), batch):
        chunk = grays[start:start + batch]
        heads, lbs = run_heads(net, chunk, one)
        out += [boxes_from_heads(tuple(h[k:k + 1] for h in heads), one.stride, one.top_k, lb, g.shape[:2], vote=one.vote)
                for k, (g, lb) in enumerate(zip(chunk, lbs))]
    return out


@torch.no_grad()
def top_box_scores(net: Localizer, grays: Sequence[np.ndarray], card: LocalizerCard, batch: int = 16,
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Each image's highest box score (0 when it has none), as `localize` finds it, in batches."""
    out = []
    for start in range(0, len(grays), batch):
        chunk = grays[start:start + batch]
        heads, lbs = run_heads(net, chunk, card)
        for k, (gray, lb) in enumerate(zip(chunk, lbs)):
            found = boxes_from_heads(tuple(h[k:k + 1] for h in heads), card.stride, card.top_k, lb, gray.shape[:2])
            out.append(max((s for _, s in found), default=0.0))
        if progress is not None:
            progress(len(chunk))
    return np.asarray(out, float)
