"""The fracture localiser: a CenterNet-style head with a small feature pyramid on a classifier's trunk.

The trunk is a shipped timm mobile classifier (`FractureNet` from `timm_mobile`: stem = conv, bn,
blocks 0–3; body = blocks 4–6, conv_head, bn2). The localiser re-splits it: blocks up to 2 (stride 8)
are frozen and cached for training; blocks 3–4 (stride 16) and 5–6 (stride 32) train, and a top-down
pyramid merges them back to stride 8, where three 1×1 heads give the centre heat map, the box size
(log of cells) and the centre's offset within its cell.

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

from core.data.boxes import Box, decode, to_image
from core.data.preprocess import PreprocessConfig, preprocess
from core.errors import WeightsError
from core.models.cards import OPERATING_POINTS, WeightsFile, read_json_object
from core.models.networks import FractureNet
from core.models.registry import create_model

LOCALIZER_CARD = "localizer.json"
PRIOR = 0.01  # initial peak probability: the heat head starts near "no fracture anywhere"


class Localizer(nn.Module):
    """Frozen stem (stride 8) → two trained trunk stages → top-down pyramid → centre/size/offset heads."""

    def __init__(self, trunk: FractureNet, width: int = 64):
        super().__init__()
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
        self.heat, self.size, self.offset = (_head(width, k) for k in (1, 2, 2))
        nn.init.constant_(self.heat[-1].bias, float(np.log(PRIOR / (1 - PRIOR))))

    def freeze_stem(self) -> None:
        """Stop gradients in the cached stem and keep its batch-norm statistics fixed."""
        for p in self.stem.parameters():
            p.requires_grad_(False)
        self.stem.eval()

    def forward_from_stem(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heat logits (N, 1, G, G), log box size in cells (N, 2, G, G), offset logits (N, 2, G, G)."""
        c4 = self.mid(z)
        c5 = self.top(c4)
        p4 = self.lat4(c4) + F.interpolate(self.lat5(c5), size=c4.shape[-2:], mode="nearest")
        p3 = self.smooth(self.lat3(z) + F.interpolate(p4, size=z.shape[-2:], mode="nearest"))
        return self.heat(p3), self.size(p3), self.offset(p3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
        if self.preprocess.size % 32:
            raise ValueError(f"localizer input size must be a multiple of 32, got {self.preprocess.size}")

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
        return Localizer(create_model(card.trunk), card.width)
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


def heads_to_maps(heat: torch.Tensor, size: torch.Tensor, offset: torch.Tensor,
                  stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw head outputs → (heat in [0, 1], size in model pixels, offset in cells) as numpy."""
    return (torch.sigmoid(heat[0]).float().numpy(), (torch.exp(size.clamp(-4, 6)) * stride).float().numpy(),
            torch.sigmoid(offset).float().numpy())


def boxes_from_heads(heads: tuple[torch.Tensor, ...], stride: int, top_k: int, lb: Any,
                     shape: tuple[int, int], min_score: float = 0.0) -> list[tuple[Box, float]]:
    """Decoded boxes of one image, in pixels of the image as loaded, highest score first."""
    heat, size, offset = heads_to_maps(*(h[0] for h in heads), stride=stride)
    found = decode(heat, size, offset, stride, top_k=top_k, min_score=min_score)
    out = [(to_image(b, lb, shape), s) for b, s in found]
    return [(b, s) for b, s in out if b[2] > 0 and b[3] > 0]


@torch.no_grad()
def localize(net: Localizer, gray: np.ndarray, card: LocalizerCard, min_score: float = 0.0) -> list[tuple[Box, float]]:
    """Fracture boxes (x, y, w, h) on the image as loaded, with scores, highest first."""
    x, lb = preprocess(gray, card.preprocess)
    heads = net(torch.from_numpy(x)[None])
    return boxes_from_heads(heads, card.stride, card.top_k, lb, gray.shape[:2], min_score)


@torch.no_grad()
def top_box_scores(net: Localizer, grays: Sequence[np.ndarray], card: LocalizerCard, batch: int = 16,
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Each image's highest box score (0 when it has none), as `localize` finds it, in batches."""
    out = []
    for start in range(0, len(grays), batch):
        chunk = grays[start:start + batch]
        prepped = [preprocess(g, card.preprocess) for g in chunk]
        heads = net(torch.from_numpy(np.stack([x for x, _ in prepped])))
        for k, (gray, (_, lb)) in enumerate(zip(chunk, prepped)):
            found = boxes_from_heads(tuple(h[k:k + 1] for h in heads), card.stride, card.top_k, lb, gray.shape[:2])
            out.append(max((s for _, s in found), default=0.0))
        if progress is not None:
            progress(len(chunk))
    return np.asarray(out, float)
