"""Keep a record of the out-of-scope gates tried: `python scripts/scope_history.py NAME REPORT --change TEXT`.

Appends (or replaces) one entry of reports/scope_history.json from a scope_fit report (reports/scope.json
or a trial's copy): the command, the code revision, the cross-validated refusal on the fit sources (what
chose the head), the held-out family refusal rates with their n, and the worst test radiograph group.
RESULTS.md shows the table (core.evaluation.results).
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "reports" / "scope_history.json"


def entry(name: str, report: dict[str, Any], change: str, revision: str) -> dict[str, Any]:
    """The figures of one gate that the history keeps."""
    chosen = next((r for r in report.get("selection", []) if r["features"] == report["features"]
                   and r["head"] == report["head"]), {})  # a remeasured gate (scope_fit --remeasure) has no fit
    held = report["heldout_negatives"]
    xr = report["test_radiographs"]
    return {"name": name, "change": change, "command": report["command"], "code_revision": revision,
            "fit_rows": report.get("fit_rows"), "features": report.get("features"), "head": report.get("head"),
            "cv_refused": chosen.get("negatives_refused"), "cv_worst_family": chosen.get("worst_family"),
            "heldout_refused": {f: v["refused"]["rate"] for f, v in held.items()},
            "heldout_n": {f: v["refused"]["n"] for f, v in held.items()},
            "worst_radiograph_group": {"group": xr["worst_group"], "rate": xr["groups"][xr["worst_group"]]["rate"],
                                       "n": xr["groups"][xr["worst_group"]]["n"]},
            "turns": report.get("turns", 1), "latency_ms_median": report.get("latency_ms", {}).get("median"),
            "seconds_total": report.get("seconds_total")}


def main(argv: list[str] | None = None) -> int:
    """Add one gate to reports/scope_history.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("report", type=Path)
    p.add_argument("--change", required=True, help="what this gate changed from the one before")
    p.add_argument("--revision", default=None, help="git revision of the code that fitted it (default HEAD)")
    args = p.parse_args(argv)
    rev = args.revision or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                          check=True, cwd=ROOT).stdout.strip()
    history = json.loads(HISTORY.read_text()) if HISTORY.is_file() else {"gates": []}
    new = entry(args.name, json.loads(args.report.read_text()), args.change, rev)
    history["gates"] = [g for g in history["gates"] if g["name"] != args.name] + [new]
    HISTORY.write_text(json.dumps(history, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
