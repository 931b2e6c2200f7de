"""Save and load float16 safetensors weights with a model card that pins their sha256."""
from __future__ import annotations

import hashlib
import json
import logging
import struct
from pathlib import Path

import torch

from core.errors import WeightsError
from core.models.cards import ModelCard, WeightsFile, read_card, write_card
from core.models.networks import FractureNet
from core.models.registry import create_model

log = logging.getLogger(__name__)


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensor_sha256(path: str | Path) -> str:
    """Hex sha256 of a safetensors file's tensors (names, dtypes, shapes, bytes), blind to the header's
    key order and metadata: two files with equal digests load to bit-identical weights."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8:8 + n]), memoryview(raw)[8 + n:]
    h = hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        t = header[name]
        start, end = t["data_offsets"]
        h.update(json.dumps([name, t["dtype"], t["shape"]]).encode())
        h.update(data[start:end])
    return h.hexdigest()


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """Write a safetensors file whose bytes depend only on its contents: the library writes its
    header from a Rust HashMap, so the order of the metadata keys changes from call to call."""
    from safetensors.torch import save

    raw = save(tensors, metadata=metadata)
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    canonical += b" " * (n - len(canonical))  # same length: the data offsets stay valid (spaces are allowed)
    Path(path).write_bytes(raw[:8] + canonical + raw[8 + n:])
    return Path(path)


def save_model(net: FractureNet, card: ModelCard, out_dir: str | Path) -> ModelCard:
    """Write NAME.safetensors (float16) and NAME.json (the card, with size and sha256); return the card."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wpath = out / f"{card.name}.safetensors"
    state = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in net.state_dict().items()
             if v.is_floating_point()}
    state.update({k: v.cpu() for k, v in net.state_dict().items() if not v.is_floating_point()})
    save_tensors(state, wpath, metadata={"name": card.name, "architecture": str(card.architecture)})
    card = card.with_(weights=WeightsFile(wpath.name, sha256(wpath), wpath.stat().st_size))
    write_card(card, out / f"{card.name}.json")
    return card


def load_model(card_path: str | Path) -> tuple[FractureNet, ModelCard]:
    """Build the card's architecture and load its weights after checking their sha256."""
    from safetensors.torch import load_file

    card = read_card(card_path)
    if card.weights is None or card.architecture is None:
        raise WeightsError(f"card {card.name} names no weights file")
    wpath = Path(card_path).with_name(card.weights.file)
    if not wpath.is_file():
        raise WeightsError(f"weights file {wpath.name} named by card {card.name} is missing")
    digest = sha256(wpath)
    if digest != card.weights.sha256:
        raise WeightsError(f"weights file {wpath.name} does not match its model card "
                           f"(sha256 {digest[:12]}… ≠ {card.weights.sha256[:12]}…); "
                           "it may be damaged or replaced. Refusing to load it.")
    net = create_model(card.architecture)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(wpath)).items()}
    net.load_state_dict(state, strict=True)
    return net.eval(), card


NOT_CLASSIFIERS = frozenset({"scope", "ensemble", "localizer", "orientation", "quality"})  # not classifiers


def find_cards(directory: str | Path) -> list[Path]:
    """Classifier cards that have a weights file beside them, sorted by name."""
    d = Path(directory)
    return sorted(p for p in d.glob("*.json")
                  if p.stem not in NOT_CLASSIFIERS and p.with_suffix(".safetensors").is_file())
