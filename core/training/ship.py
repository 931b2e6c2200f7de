"""Ship trained models: `python -m core.training.ship NAME... [--from runs/models]`.

Copies NAME.safetensors and NAME.json into weights/ after checking the card's sha256 and the size
budget (each file ≤ 16 MiB, the folder ≤ 24 MiB). Refit the ensemble afterwards (`make ensemble`).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from core.errors import WeightsError
from core.models.cards import read_card
from core.models.weights import sha256
from core.settings import MAX_WEIGHT_FILE_BYTES, MAX_WEIGHTS_DIR_BYTES, weights_dir


def ship(names: list[str], source: Path, target: Path) -> list[Path]:
    """Copy the named models into `target`, refusing any that break the budget or their card."""
    pairs = []
    for name in names:
        card = read_card(source / f"{name}.json")
        if card.weights is None:
            raise WeightsError(f"card {name} names no weights file")
        w = source / card.weights.file
        if sha256(w) != card.weights.sha256:
            raise WeightsError(f"{w.name} does not match its card")
        if w.stat().st_size > MAX_WEIGHT_FILE_BYTES:
            raise WeightsError(f"{w.name} is {w.stat().st_size / 2**20:.1f} MiB, over the 16 MiB limit per file")
        pairs.append((w, source / f"{name}.json"))
    kept = sum(p.stat().st_size for p in target.glob("*") if p.is_file() and p.stem not in names)
    total = kept + sum(w.stat().st_size + c.stat().st_size for w, c in pairs)
    if total > MAX_WEIGHTS_DIR_BYTES:
        raise WeightsError(f"weights/ would hold {total / 2**20:.1f} MiB, over its 24 MiB budget")
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(f, target / f.name)) for pair in pairs for f in pair]


def main(argv: list[str] | None = None) -> int:
    """Copy models into weights/."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+")
    p.add_argument("--from", dest="source", type=Path, default=Path("runs/models"))
    args = p.parse_args(argv)
    for f in ship(args.names, args.source, weights_dir()):
        print(f"shipped {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
