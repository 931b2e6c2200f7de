"""Does a rebuild from an empty cache reproduce the shipped models? `make rebuild-check`.

`python -m core.evaluation.rebuild --rebuilt DIR` compares the cards in DIR (written by
`scripts/train_all.sh` into a scratch folder) with the shipped cards in weights/: ensemble and
member test ROC-AUC, sensitivity and specificity at each operating point, and whether the weights
are bit-identical (their tensors: file headers may order keys differently). Each check is appended
to reports/rebuild_check.json with the machine it ran on.
Tolerances (issue 18): 0.01 ROC-AUC, 0.05 sensitivity and specificity.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
from pathlib import Path
from typing import Any

from core.models.cards import OPERATING_POINTS, ModelCard, read_card
from core.models.weights import NOT_CLASSIFIERS, tensor_sha256
from core.settings import reports_dir, weights_dir

log = logging.getLogger(__name__)
AUC_TOLERANCE, RATE_TOLERANCE = 0.01, 0.05


def compare(shipped: ModelCard, rebuilt: ModelCard, same_tensors: bool | None = None) -> dict[str, Any]:
    """Test-split differences between two cards of one model, whether they are within tolerance, and whether
    the weights are bit-identical (`same_tensors`, from `tensor_digests`; else the files' sha256)."""
    diff = {"roc_auc": rebuilt.split("test")["roc_auc"] - shipped.split("test")["roc_auc"]}
    for op in OPERATING_POINTS:
        for rate in ("sensitivity", "specificity"):
            diff[f"{rate}@{op}"] = rebuilt.point(op)[rate] - shipped.point(op)[rate]
    within = abs(diff["roc_auc"]) <= AUC_TOLERANCE and all(
        abs(v) <= RATE_TOLERANCE for k, v in diff.items() if k != "roc_auc")
    if same_tensors is None and shipped.weights is not None and rebuilt.weights is not None:
        same_tensors = shipped.weights.sha256 == rebuilt.weights.sha256  # None: no weights file (the ensemble)
    return {"difference": {k: round(v, 4) for k, v in diff.items()}, "within_tolerance": within,
            "bit_identical_weights": same_tensors,
            "rebuilt_sha256": rebuilt.weights.sha256 if rebuilt.weights is not None else None}


def comparable(shipped: ModelCard, rebuilt: ModelCard) -> tuple[ModelCard, ModelCard]:
    """Cards that can be compared: a models-only rebuild has no localiser, so a shipped ensemble that fuses its
    evidence is compared by the figures it had before fusion (kept on its card)."""
    if shipped.box_fusion is None or rebuilt.box_fusion is not None:
        return shipped, rebuilt
    if "unfused" not in shipped.extra:
        raise ValueError(f"the shipped {shipped.name} card fuses the localiser but keeps no figures before fusion")
    return shipped.with_(metrics=shipped.extra["unfused"]["metrics"], box_fusion=None), rebuilt


def tensor_digests(shipped_dir: Path, rebuilt_dir: Path, name: str) -> tuple[str, str] | None:
    """`tensor_sha256` of one model's shipped and rebuilt weights, or None when either file is missing."""
    card = read_card(rebuilt_dir / f"{name}.json")
    if card.weights is None:
        return None
    files = (shipped_dir / card.weights.file, rebuilt_dir / card.weights.file)
    return tuple(tensor_sha256(f) for f in files) if all(f.is_file() for f in files) else None  # type: ignore[return-value]


def against_previous(outcome: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """Mark each model whose rebuilt weights equal, bit for bit, the last earlier rebuild's on this CPU."""
    earlier = [r for r in history if r["machine"]["cpu"] == outcome["machine"]["cpu"]
               and any("rebuilt_sha256" in m for m in r["models"].values())]
    if not earlier:
        return
    for name, m in outcome["models"].items():
        prev = earlier[-1]["models"].get(name, {})
        key = "rebuilt_tensor_sha256" if "rebuilt_tensor_sha256" in prev and "rebuilt_tensor_sha256" in m \
            else "rebuilt_sha256"  # older records hold only the file's sha256
        if prev.get(key) is not None and m.get(key) is not None:
            m["bit_identical_to_previous_rebuild"] = prev[key] == m[key]


def check(shipped_dir: Path, rebuilt_dir: Path) -> dict[str, Any]:
    """Compare every card present in both folders (the ensemble included)."""
    names = sorted(p.stem for p in rebuilt_dir.glob("*.json") if (shipped_dir / p.name).is_file()
                   and (p.stem == "ensemble" or p.stem not in NOT_CLASSIFIERS))  # classifier cards and the ensemble
    if not names:
        raise ValueError(f"no card in {rebuilt_dir} has a shipped counterpart in {shipped_dir}")
    models = {}
    for n in names:
        digests = tensor_digests(shipped_dir, rebuilt_dir, n)
        card = read_card(shipped_dir / f"{n}.json")
        shipped, rebuilt = comparable(card, read_card(rebuilt_dir / f"{n}.json"))
        models[n] = compare(shipped, rebuilt, None if digests is None else digests[0] == digests[1])
        if shipped is not card:
            models[n]["compared_before_box_fusion"] = True
        if digests is not None:
            models[n]["rebuilt_tensor_sha256"] = digests[1]
    return {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpu": _cpu(), "python": platform.python_version()},
            "tolerance": {"roc_auc": AUC_TOLERANCE, "rates": RATE_TOLERANCE}, "models": models,
            "ensemble_within_tolerance": models.get("ensemble", {}).get("within_tolerance")}


def _cpu() -> str:
    from core.training.reproducibility import cpu_model

    return cpu_model()


def main(argv: list[str] | None = None) -> int:
    """Compare, print and append the outcome to reports/rebuild_check.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rebuilt", type=Path, required=True, help="folder with the rebuilt cards")
    p.add_argument("--shipped", type=Path, default=None, help="default weights/")
    p.add_argument("--wall-min", type=float, help="the rebuild's wall time, to record")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    outcome = check(args.shipped or weights_dir(), args.rebuilt) | {"wall_time_min": args.wall_min}
    out = reports_dir() / "rebuild_check.json"
    history = json.loads(out.read_text()) if out.is_file() else {"runs": []}
    against_previous(outcome, history["runs"])
    history["runs"].append(outcome)
    out.write_text(json.dumps(history, indent=2) + "\n")
    for name, m in outcome["models"].items():
        log.info("%-20s within tolerance: %s; bit-identical: %s; %s", name, m["within_tolerance"],
                 m["bit_identical_weights"], m["difference"])
    return 0 if outcome["ensemble_within_tolerance"] in (True, None) else 1


if __name__ == "__main__":
    raise SystemExit(main())
