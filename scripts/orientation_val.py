"""Does the orientation check pay on val? `python scripts/orientation_val.py`

Runs the robustness suite on the val split for the turns and flips of the catalogue twice, with the orientation
check on and off (`python -m core.robustness --split val --shifts turn flip --levels middle --limit 300
--orientation on|off`), and keeps the ensemble's figures side by side in reports/orientation_val.json (the two
suite reports stay in runs/orientation_val/). Test plays no part.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from core.evaluation import robustness

OUT = Path("reports/orientation_val.json")
RUNS = Path("runs/orientation_val")
ARGS = ["--split", "val", "--shifts", "turn", "flip", "--levels", "middle", "--limit", "300",
        "--seed", "0", "--bootstrap", "0", "--batch", "16"]


def ensemble_rows(report: dict) -> dict[str, dict]:
    """The ensemble's ROC-AUC and both operating points per case (unshifted first)."""
    def figures(m: dict) -> dict:
        ops = m["operating_points"]
        return {"roc_auc": m["roc_auc"], **{f"{k[:4]}@{op[:3]}": ops[op][k] for op in ops
                                             for k in ("sensitivity", "specificity")}}

    rows = {f"unshifted ({s})": figures(v["ensemble"]) for s, v in report["unshifted"].items()}
    for e in report["shifts"]:
        rows[f"{e['shift']} {e['level']} ({e['images']})"] = figures(e["models"]["ensemble"])
    return rows


def main() -> int:
    """Both runs, then the side-by-side report."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    runs = {}
    for mode in ("on", "off"):
        out = RUNS / f"{mode}.json"
        robustness.main([*ARGS, "--orientation", mode, "--out", str(out)])
        runs[mode] = ensemble_rows(json.loads(out.read_text()))
    rows = {case: {"with the check": runs["on"][case], "without": runs["off"][case]} for case in runs["on"]}
    report = {"command": "python scripts/orientation_val.py",
              "suite": "python -m core.robustness " + " ".join(ARGS) + " --orientation on|off", "cases": rows}
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
