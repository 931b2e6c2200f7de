"""Compare training recipes on shifted `val` copies and record the choice:

    python -m core.evaluation.choice NAME=ROBUSTNESS_JSON [NAME=ROBUSTNESS_JSON ...] [--chosen NAME]

Each JSON is a `python -m core.robustness --split val --levels middle ...` run of one recipe's
weights. Writes reports/augmentation_choice.json: per recipe, the unshifted val ROC-AUC of the
ensemble, its ROC-AUC under each shift (middle level) and the summary the choice rests on: the mean
ROC-AUC over the unshifted images and every shift (a recipe must not buy robustness with accuracy),
beside the worst and mean change and the shifts within the 0.02 target. The test split is never read.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
TARGET = 0.02


def summarise(report: dict[str, Any], model: str = "ensemble") -> dict[str, Any]:
    """One recipe's unshifted and shifted val ROC-AUC (middle levels) and its summary."""
    if report.get("split") != "val":
        raise ValueError(f"a recipe is chosen on val only; this report is of {report.get('split')!r}")
    rows = [s for s in report["shifts"] if s["severity"] == "middle"]
    shifted = {s["shift"]: round(s["models"][model]["roc_auc"], 4) for s in rows}
    deltas = [s["models"][model]["delta"]["roc_auc"] for s in rows]
    if not deltas:
        raise ValueError("the report holds no middle-level shift")
    ops = [v for s in rows for point in ("high_sensitivity", "balanced")
           for v in s["models"][model]["delta"].get(point, {}).values()]
    return {"command": report["command"], "n": report["n_images"],
            "worst_operating_point_delta": round(min(ops), 4) if ops else None,
            "unshifted_roc_auc": round(report["unshifted"]["all"][model]["roc_auc"], 4),
            "shifted_roc_auc": shifted, "members": _members(report, rows), "worst_delta": round(min(deltas), 4),
            "mean_abs_delta": round(sum(abs(d) for d in deltas) / len(deltas), 4),
            "shifts_within_target": sum(abs(d) <= TARGET for d in deltas), "shifts": len(deltas),
            "mean_roc_auc_plain_and_shifted": round((report["unshifted"]["all"][model]["roc_auc"] + sum(shifted.values()))
                                                    / (1 + len(shifted)), 4)}


def _members(report: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each member's val ROC-AUC unshifted and under each middle-level shift."""
    names = [m for m in report.get("models", []) if m != "ensemble"]
    return {m: {"unshifted": round(report["unshifted"]["all"][m]["roc_auc"], 4),
                **{s["shift"]: round(s["models"][m]["roc_auc"], 4) for s in rows}} for m in names}


def main(argv: list[str] | None = None) -> int:
    """Summarise each recipe's val robustness report and write reports/augmentation_choice.json."""
    from core.settings import reports_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="+", help="NAME=path/to/val_robustness.json")
    p.add_argument("--chosen", default=None,
                   help="the recipe that ships (default: the best mean ROC-AUC over unshifted and every shift)")
    p.add_argument("--reason", default="", help="why, when --chosen overrides the rule")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pairs = [r.split("=", 1) for r in args.recipes]
    if any(len(pair) != 2 for pair in pairs):
        raise SystemExit(f"each recipe is NAME=PATH, got {args.recipes}")
    recipes = {name: summarise(json.loads(Path(path).read_text())) for name, path in pairs}
    by_rule = max(recipes, key=lambda n: recipes[n]["mean_roc_auc_plain_and_shifted"])
    chosen = args.chosen or by_rule
    if chosen not in recipes:
        raise SystemExit(f"--chosen {chosen!r} is not one of {sorted(recipes)}")
    out = args.out or reports_dir() / "augmentation_choice.json"
    out.write_text(json.dumps({"recipes": recipes, "chosen": chosen, "chosen_by_rule": by_rule, "reason": args.reason,
                               "target_abs_delta": TARGET}, indent=2) + "\n")
    log.info("chose %s; wrote %s", chosen, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
