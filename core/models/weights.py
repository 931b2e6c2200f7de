"""Save and load float16 safetensors weights with a model card that pins their sha256."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from core.errors import WeightsError
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


def save_model(net: FractureNet, card: dict[str, Any], out_dir: str | Path) -> Path:
    """Write NAME.safetensors (float16) and NAME.json (the card, with size and sha256)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = card["name"]
    wpath = out / f"{name}.safetensors"
    state = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in net.state_dict().items()
             if v.is_floating_point()}
    state.update({k: v.cpu() for k, v in net.state_dict().items() if not v.is_floating_point()})
    save_file(state, str(wpath), metadata={"name": name, "architecture": card["architecture"]})
    card = dict(card, weights={"file": wpath.name, "sha256": sha256(wpath),
                               "bytes": wpath.stat().st_size, "dtype": "float16"})
    write_card(card, out / f"{name}.json")
    return out / f"{name}.json"


def write_card(card: dict[str, Any], path: str | Path) -> None:
    """Write a card as pretty JSON."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(card, indent=2, sort_keys=False, default=float) + "\n")


def read_card(path: str | Path) -> dict[str, Any]:
    """Read a model card; WeightsError if it is not valid JSON or lacks required keys."""
    try:
        card = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"model card {Path(path).name} cannot be read: {exc}") from exc
    required = {"name", "members", "thresholds"} if card.get("kind") == "ensemble" else \
        {"name", "architecture", "preprocess"}
    missing = required - set(card)
    if missing:
        raise WeightsError(f"model card {Path(path).name} lacks {sorted(missing)}")
    return card


def load_model(card_path: str | Path) -> tuple[FractureNet, dict[str, Any]]:
    """Build the card's architecture and load its weights after checking their sha256."""
    from safetensors.torch import load_file

    card = read_card(card_path)
    wpath = Path(card_path).with_name(card["weights"]["file"])
    if not wpath.is_file():
        raise WeightsError(f"weights file {wpath.name} named by card {card['name']} is missing")
    digest = sha256(wpath)
    if digest != card["weights"]["sha256"]:
        raise WeightsError(f"weights file {wpath.name} does not match its model card "
                           f"(sha256 {digest[:12]}… ≠ {card['weights']['sha256'][:12]}…); "
                           "it may be damaged or replaced. Refusing to load it.")
    net = create_model(card["architecture"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(wpath)).items()}
    net.load_state_dict(state, strict=True)
    return net.eval(), card


def find_cards(directory: str | Path) -> list[Path]:
    """Model cards that have a weights file beside them, sorted by name."""
    d = Path(directory)
    return sorted(p for p in d.glob("*.json") if p.with_suffix(".safetensors").is_file())
