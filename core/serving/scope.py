"""Is this a projection radiograph of bone at all? The out-of-scope gate in front of the models.

Rules where they are certain (a strongly coloured image, an almost blank frame; a DICOM whose
Modality is not a radiograph is already refused by `core.data.loading`), then a learned gate: a
frozen ImageNet EfficientNet-Lite0 trunk (its own float16 copy, independent of the classifiers; its
first four blocks are the classifier's frozen stem), pooled at a few depths ("taps": per-channel
mean and std, a coarse grid of means) into an embedding (optionally averaged over the four quarter
turns of the input, the card's `turns`), and a small softmax head over
{radiograph, photo, document, screen_photo, pattern, modality}. The image is refused when
P(radiograph) is below a threshold chosen on FracAtlas `val` radiographs under every shift of
`core.data.shifts`; the refusal names the most likely family.

Fitted by `python -m core.training.scope_fit` (`make scope`); shipped as weights/scope.json (the
card: classes, taps, preprocessing, threshold, figures) and weights/scope.safetensors (trunk
and head tensors, sha256 pinned in the card).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from core.data.loading import LoadedImage, load_image
from core.data.preprocess import PreprocessConfig, preprocess
from core.errors import WeightsError

log = logging.getLogger(__name__)
FORMAT = 2
KIND = "scope-gate"
CHROMA_MAX = 6.0
BLANK_STD = 4.0
RADIOGRAPH = "radiograph"
FAMILIES = ("photo", "document", "screen_photo", "pattern", "modality")
CLASSES = (RADIOGRAPH, *FAMILIES)
WORDS = {
    "photo": "it looks like a photograph",
    "document": "it looks like a document, a chart or a screenshot",
    "screen_photo": "it looks like a photograph of a screen or of a printed page",
    "pattern": "it looks like a drawing, a logo or a synthetic pattern",
    "modality": "it looks like another kind of medical image (CT, MR, ultrasound or nuclear medicine), "
                "not a projection radiograph",
    "colour": "it is a colour image; radiographs are grayscale",
    "blank": "it is almost blank (one shade of grey)",
    None: "its content does not look like a radiograph",
}
ARCHITECTURE = "tf_efficientnet_lite0"
HEAD_TAP = 7  # `after` value of the tap behind conv_head + bn2 (after all 7 blocks)
TURNS = (1, 2, 4)  # quarter turns an embedding may average over


@dataclass(frozen=True)
class Tap:
    """Where the trunk is pooled: after `after` blocks (HEAD_TAP + 1 = after conv_head), with the
    per-channel mean, optionally the std, and a grid×grid of means (0: none)."""

    after: int
    std: bool = True
    grid: int = 0

    def width(self, channels: int) -> int:
        """Embedding columns this tap gives for `channels` channels."""
        return channels * (1 + self.std + self.grid * self.grid)


STEM_TAPS = (Tap(4, True, 2),)
DEEP_TAPS = (Tap(4, True, 2), Tap(5), Tap(6), Tap(7), Tap(HEAD_TAP + 1, std=False))


@dataclass(frozen=True)
class ScopeResult:
    """The check's answer: in scope or not, P(radiograph), the reason shown to the user and the family."""

    in_scope: bool
    score: float
    reason: str | None
    family: str | None = None


class Trunk(nn.Module):
    """The first `depth` blocks of the ImageNet EfficientNet-Lite0 (and conv_head + bn2 when `head`),
    with timm's parameter names; `forward` returns the activations after each block (and the head)."""

    def __init__(self, depth: int, head: bool):
        import timm

        super().__init__()
        if not 1 <= depth <= HEAD_TAP or (head and depth != HEAD_TAP):
            raise ValueError(f"depth must be 1..{HEAD_TAP} (all {HEAD_TAP} with the head), got {depth}, head={head}")
        net = timm.create_model(ARCHITECTURE, pretrained=False)
        self.conv_stem, self.bn1 = net.conv_stem, net.bn1
        self.blocks = nn.Sequential(*net.blocks[:depth])
        self.conv_head, self.bn2 = (net.conv_head, net.bn2) if head else (None, None)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after block 1, 2, …, depth (then after the head, if built)."""
        z, out = self.bn1(self.conv_stem(x)), []
        for block in self.blocks:
            z = block(z)
            out.append(z)
        if self.conv_head is not None:
            out.append(self.bn2(self.conv_head(z)))
        return out


def build_trunk(taps: Sequence[Tap]) -> Trunk:
    """The (untrained, channels-last, eval-mode) trunk deep enough for `taps`."""
    deepest = max(t.after for t in taps)
    trunk = Trunk(min(deepest, HEAD_TAP), deepest > HEAD_TAP)
    return trunk.to(memory_format=torch.channels_last).eval()


def pool(outputs: list[torch.Tensor], taps: Sequence[Tap]) -> np.ndarray:
    """Trunk activations → (N, D) embedding, tap by tap: mean, std, then a grid of means."""
    parts = []
    for tap in taps:
        z = outputs[tap.after - 1]
        parts.append(z.mean((2, 3)))
        if tap.std:
            parts.append(z.std((2, 3), correction=0))
        if tap.grid:
            parts.append(nn.functional.adaptive_avg_pool2d(z, tap.grid).flatten(1))
    return torch.cat(parts, 1).double().numpy()


def embed(trunk: nn.Module, taps: Sequence[Tap], grays: list[np.ndarray], cfg: PreprocessConfig,
          batch: int = 4, turns: int = 1) -> np.ndarray:
    """Embeddings of uint8 grayscale images (small channels-last batches are the fastest on a CPU here);
    with `turns` > 1, the mean embedding of the input turned by 0°, 90°, … (turns ∈ {1, 2, 4})."""
    if turns not in TURNS:
        raise ValueError(f"turns must be one of {TURNS}, got {turns!r}")
    out = []
    with torch.inference_mode():
        for i in range(0, len(grays), batch):
            x = torch.from_numpy(np.stack([preprocess(g, cfg)[0] for g in grays[i:i + batch]]))
            x = torch.cat([x.rot90(k, (2, 3)) for k in range(turns)])
            z = pool(trunk(x.contiguous(memory_format=torch.channels_last)), taps)
            out.append(z.reshape(turns, len(z) // turns, -1).mean(0))
    return np.concatenate(out) if out else np.zeros((0, 0))


@dataclass(frozen=True)
class Head:
    """Standardisation then dense layers (ReLU between them); the last layer's softmax is over CLASSES."""

    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N, D) embeddings → (N, K) class probabilities."""
        h = (np.atleast_2d(x) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        h = h - h.max(1, keepdims=True)
        e = np.exp(h)
        return e / e.sum(1, keepdims=True)


@dataclass(frozen=True)
class Reference:
    """Per-column mean and scale of radiograph embeddings only: how far an embedding lies from every
    radiograph the gate was fitted on, whatever family it belongs to (root-mean-square z-score)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Reference:
        """The reference statistics of (N, D) radiograph embeddings."""
        return cls(x.mean(0).astype(np.float64), x.std(0).astype(np.float64) + 1e-6)

    def distance(self, x: np.ndarray) -> np.ndarray:
        """(N, D) embeddings → (N,) root-mean-square z-scores against the radiographs."""
        z = (np.atleast_2d(x) - self.mean) / self.scale
        return np.sqrt(np.mean(z * z, 1))


def rule_family(image: LoadedImage) -> str | None:
    """'colour' or 'blank' when a certain rule refuses the image, else None."""
    if float(image.meta.get("chroma", 0.0)) > CHROMA_MAX:
        return "colour"
    if float(image.pixels.std()) < BLANK_STD:
        return "blank"
    return None


@dataclass
class ScopeModel:
    """The gate: rules, then the frozen trunk → pooled taps → softmax head, with its threshold, and
    (when fitted with one) a distance from the radiographs above which the image is refused too."""

    trunk: nn.Module
    taps: tuple[Tap, ...]
    cfg: PreprocessConfig
    head: Head
    threshold: float
    classes: tuple[str, ...] = CLASSES
    card: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    reference: Reference | None = None
    distance_threshold: float = float("inf")
    turns: int = 1  # embeddings averaged over this many quarter turns of the input

    def embedding(self, image: LoadedImage) -> np.ndarray:
        """The (D,) embedding of one image."""
        with self.lock:
            return embed(self.trunk, self.taps, [image.pixels], self.cfg, turns=self.turns)[0]

    def probabilities(self, image: LoadedImage) -> np.ndarray:
        """Class probabilities (over `classes`) for one image."""
        return self.head.probabilities(self.embedding(image))[0]

    def distance(self, x: np.ndarray) -> np.ndarray | None:
        """Distances of (N, D) embeddings from the radiographs, or None without a reference."""
        return None if self.reference is None else self.reference.distance(x)

    def score(self, image: LoadedImage) -> float:
        """P(radiograph) for one image."""
        return float(self.probabilities(image)[self.classes.index(RADIOGRAPH)])

    def check(self, image: LoadedImage) -> ScopeResult:
        """Rules first (colour, blank), then the learned gate; the reason names what the image looks like."""
        x = self.embedding(image)
        d = self.distance(x)
        return self.decide(rule_family(image), self.head.probabilities(x)[0], None if d is None else float(d[0]))

    def decide(self, rule: str | None, probs: np.ndarray, distance: float | None = None) -> ScopeResult:
        """The verdict from a rule's answer, class probabilities and the distance from the radiographs
        (the fit measures with this too)."""
        p_xray = float(probs[self.classes.index(RADIOGRAPH)])
        guess = self._family(probs)
        if rule == "colour" and guess is not None:
            return ScopeResult(False, p_xray, f"{WORDS['colour']}, and {WORDS[guess]}", guess)
        if rule is not None:
            return ScopeResult(False, p_xray, WORDS[rule], rule)
        if p_xray < self.threshold or (distance is not None and distance > self.distance_threshold):
            return ScopeResult(False, p_xray, WORDS[guess], guess)
        return ScopeResult(True, p_xray, None, None)

    def _family(self, probs: np.ndarray) -> str | None:
        """The most likely non-radiograph family, if it is more likely than 'radiograph'."""
        k = int(np.argmax(probs))
        return None if self.classes[k] == RADIOGRAPH else self.classes[k]

    @classmethod
    def load(cls, path: str | Path) -> ScopeModel:
        """Read weights/scope.json and the tensor file it names (sha256 checked: WeightsError if not)."""
        path = Path(path)
        card = json.loads(path.read_text())
        if card.get("kind") != KIND or card.get("format") != FORMAT:
            raise ValueError(f"{path.name} is not a format-{FORMAT} out-of-scope gate (kind {card.get('kind')!r}, "
                             f"format {card.get('format')!r}); refit it with `make scope`")
        if card["trunk"]["architecture"] != ARCHITECTURE:
            raise ValueError(f"{path.name} needs a {card['trunk']['architecture']} trunk; this code builds {ARCHITECTURE}")
        if card.get("turns", 1) not in TURNS:
            raise ValueError(f"{path.name} asks for {card['turns']!r} turns; the gate embeds over one of {TURNS}")
        tensors = _tensors(path.with_name(card["weights"]["file"]), card["weights"]["sha256"])
        taps = tuple(Tap(**t) for t in card["taps"])
        trunk = build_trunk(taps)
        trunk.load_state_dict({k[6:]: v.float() for k, v in tensors.items() if k.startswith("trunk.")}, strict=True)
        layers = tuple((tensors[f"head.{i}.weight"].double().numpy(), tensors[f"head.{i}.bias"].double().numpy())
                       for i in range(int(card["head"]["layers"])))
        head = Head(tensors["norm.mean"].double().numpy(), tensors["norm.scale"].double().numpy(), layers)
        ref = Reference(tensors["ref.mean"].double().numpy(), tensors["ref.scale"].double().numpy()) \
            if "ref.mean" in tensors else None
        return cls(trunk, taps, PreprocessConfig.from_dict(card["preprocess"]), head, float(card["threshold"]),
                   tuple(card["classes"]), card, reference=ref,
                   distance_threshold=float(card.get("distance_threshold", float("inf"))),
                   turns=int(card.get("turns", 1)))


def taps_to_json(taps: Sequence[Tap]) -> list[dict[str, Any]]:
    """Taps as stored in the card."""
    return [asdict(t) for t in taps]


def _tensors(path: Path, expected_sha256: str) -> dict[str, torch.Tensor]:
    """The gate's tensors, refused (WeightsError) when the file is missing or not the one the card pins."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise WeightsError(f"the out-of-scope gate's tensor file {path.name} is missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected_sha256:
        raise WeightsError(f"the out-of-scope gate's tensor file {path.name} does not match scope.json "
                           f"(sha256 {digest[:12]}… ≠ {expected_sha256[:12]}…); refusing to load it")
    return load_file(str(path))


def _as_image(arr: np.ndarray) -> LoadedImage:
    """Encode an array as PNG and read it back through the app's loader (what an upload would give)."""
    ok, buf = cv2.imencode(".png", arr[:, :, ::-1] if arr.ndim == 3 else arr)
    if not ok:
        raise ValueError(f"could not encode a generated image of shape {arr.shape}")
    return load_image(buf.tobytes(), "generated.png")
