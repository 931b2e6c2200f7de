"""Which way is up? A turned radiograph (a quarter turn, upside down, mirrored top-bottom) is turned back
before the models read it, the way an inverted one is (`core.data.polarity`).

The check is a linear 4-way classifier (as stored, turned by 90°, 180°, 270°) on one shipped classifier's
own body activations, average-pooled over a 2 × 2 grid (where things are, not only what they are), fitted
self-supervised on the train split's radiographs turned each way (`python -m core.training.orientation_fit`).
It turns an image back only when the probability that it is as stored falls below a threshold chosen on val,
so that almost no image that is already upright gets turned. A top-bottom mirror image is read as a 180° turn
of the left-right mirror image, which the models already treat alike (they average both mirror views).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.preprocess import PreprocessConfig, preprocess
from core.errors import WeightsError
from core.models.cards import WeightsFile
from core.models.networks import FractureNet

ORIENTATION_CARD = "orientation.json"
GRID = 2
TURNS = (0, 1, 2, 3)  # quarter turns counter-clockwise (np.rot90) that made the image from the upright one


@dataclass(frozen=True)
class OrientationCard:
    """The check's card: which member's activations it reads, its threshold and its measured figures."""

    member: str
    member_sha256: str
    threshold: float
    weights: WeightsFile
    grid: int = GRID
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    name: str = "orientation"
    kind: str = "orientation"

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"orientation threshold must lie in [0, 1], got {self.threshold}")
        if self.grid < 1:
            raise ValueError(f"orientation grid must be at least 1, got {self.grid}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrientationCard:
        """Type a card dict; WeightsError names what is wrong."""
        try:
            return cls(**(dict(d) | {"weights": WeightsFile(**d["weights"])}))
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"the orientation card cannot be read: {exc}") from exc


def write_orientation_card(card: OrientationCard, path: str | Path) -> None:
    """Write the card as pretty JSON."""
    Path(path).write_text(json.dumps(card.to_dict(), indent=2, default=float) + "\n")


@torch.no_grad()
def grid_features(net: FractureNet, grays: Sequence[np.ndarray], cfg: PreprocessConfig, grid: int = GRID,
                  batch: int = 16) -> np.ndarray:
    """(N, C·grid²) body activations of a classifier, average-pooled over a grid × grid layout."""
    net.eval()
    out = []
    for start in range(0, len(grays), batch):
        x = torch.from_numpy(np.stack([preprocess(g, cfg)[0] for g in grays[start:start + batch]]))
        f = net.body(net.stem(x.contiguous(memory_format=torch.channels_last)))
        out.append(torch.nn.functional.adaptive_avg_pool2d(f, grid).flatten(1).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def turn(gray: np.ndarray, k: int) -> np.ndarray:
    """The image turned by k quarter turns counter-clockwise (k may be negative)."""
    return np.ascontiguousarray(np.rot90(gray, k))


@dataclass
class Orientation:
    """The loaded check: a linear head over a member's grid features."""

    card: OrientationCard
    weight: np.ndarray  # (4, F), the standardisation folded in
    bias: np.ndarray  # (4,)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, 4) probabilities of 'as stored' and of each quarter turn."""
        z = features.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def quarter_turns(self, features: np.ndarray) -> np.ndarray:
        """Per image, how many quarter turns made it from the upright picture (0 unless the check is sure)."""
        p = self.probabilities(features)
        return np.where(p[:, 0] < self.card.threshold, 1 + p[:, 1:].argmax(1), 0)


def load_orientation(card_path: str | Path) -> Orientation:
    """The card and its weights after checking their sha256 (WeightsError when they do not match)."""
    from safetensors.numpy import load_file

    from core.models.weights import sha256

    path = Path(card_path)
    card = OrientationCard.from_dict(json.loads(path.read_text()))
    wpath = path.with_name(card.weights.file)
    if not wpath.is_file() or sha256(wpath) != card.weights.sha256:
        raise WeightsError(f"orientation weights {wpath.name} are missing or do not match their card's sha256")
    t = load_file(str(wpath))
    return Orientation(card, t["weight"].astype(np.float32), t["bias"].astype(np.float64))


def turn_box(xyxy: Sequence[float], shape: tuple[int, int], k: int) -> list[float]:
    """A box (x0, y0, x1, y1) on an image of `shape` (h, w), moved onto that image turned by k quarter turns
    counter-clockwise (`turn(image, k)`)."""
    x0, y0, x1, y1 = xyxy
    h, w = shape
    for _ in range(k % 4):  # one counter-clockwise quarter turn: (x, y) -> (y, w - x), shape (h, w) -> (w, h)
        x0, y0, x1, y1 = y0, w - x1, y1, w - x0
        h, w = w, h
    return [x0, y0, x1, y1]
