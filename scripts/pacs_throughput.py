"""`make pacs-throughput`: instances per minute of `python -m core.pacs scan` on this machine.

Starts a local Orthanc, uploads N bundled samples as one-image DX studies (every fourth JPEG 2000
compressed), times a first scan (retrieve, analyse, store SR + secondary capture for every image) and a
second one (which must store nothing), and writes reports/pacs_throughput.json with the command used.

    python scripts/pacs_throughput.py [--count 42] [--weights weights] [--out reports/pacs_throughput.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.uid import JPEG2000Lossless

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.serving.pacs import summary  # noqa: E402
from scripts import orthanc_local  # noqa: E402
from scripts.sample_dicom import sample_radiographs  # noqa: E402


def timed_scan(config: Path, weights: Path) -> dict:
    """Wall-clock seconds, counts by status, per-instance seconds and the command of one scan process."""
    cmd = [sys.executable, "-m", "core.pacs", "--weights", str(weights), "scan"]
    env = {**os.environ, "FRACTURE_PACS_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    cpu_before, start = _children_cpu_s(), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    seconds, cpu_s = time.perf_counter() - start, _children_cpu_s() - cpu_before
    lines = done.stdout.splitlines()
    per_instance = [json.loads(line)["seconds"] for line in lines if '"analysed"' in line]
    return {"seconds": seconds, "cpu_s": cpu_s, "outcomes": summary(lines), "cmd": cmd, "per_instance_s": per_instance}


def _children_cpu_s() -> float:
    """User + system CPU seconds of finished child processes (the scan's own work, whatever else runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(count: int, weights: Path) -> dict:
    """Both scans on a fresh server with `count` instances."""
    with tempfile.TemporaryDirectory(prefix="fracture-pacs-bench-") as tmp:
        server = orthanc_local.start(Path(tmp) / "orthanc")
        try:
            datasets = sample_radiographs(count)
            for ds in datasets[::4]:
                ds.compress(JPEG2000Lossless)
            server.upload(datasets)
            config = server.write_client_config(Path(tmp) / "pacs.json")
            load_before = os.getloadavg()[0]
            first, second = timed_scan(config, weights), timed_scan(config, weights)
        finally:
            server.stop()
    return {"first": first, "second": second, "load_before": load_before, "load_after": os.getloadavg()[0]}


def report(count: int, weights: Path, m: dict) -> dict:
    """The figures and how they were measured."""
    first, second = m["first"], m["second"]
    analysed, busy = first["outcomes"].get("analysed", 0), sum(first["per_instance_s"])
    shown = weights.relative_to(ROOT) if weights.is_relative_to(ROOT) else weights
    return {
        "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": f"make pacs-throughput  (python scripts/pacs_throughput.py --count {count} --weights {shown})",
        "timed_command": "FRACTURE_PACS_CONFIG=<file> " + shlex.join(["python", *first["cmd"][1:]]).replace(
            str(weights), str(shown)),
        "instances": count, "cpu_cores": os.cpu_count(),
        "models": sorted(p.stem for p in weights.glob("*.safetensors") if p.stem != "scope"),
        "out_of_scope_gate": (weights / "scope.json").is_file(),
        "load_average_1min": {"before": round(m["load_before"], 2), "after": round(m["load_after"], 2)},
        "first_scan": {"seconds": round(first["seconds"], 1), "outcomes": first["outcomes"],
                       "instances_per_minute": round(60 * analysed / first["seconds"], 1),
                       "per_instance_median_s": round(statistics.median(first["per_instance_s"]), 2),
                       "instances_per_minute_after_startup": round(60 * analysed / busy, 1),
                       "cpu_seconds": round(first["cpu_s"], 1),
                       "instances_per_cpu_minute": round(60 * analysed / first["cpu_s"], 1)},
        "second_scan": {"seconds": round(second["seconds"], 1), "outcomes": second["outcomes"],
                        "stored_anything": second["outcomes"].get("analysed", 0) > 0},
        "what_is_timed": "process start, model loading, QIDO, WADO (original transfer syntax), decode, "
                         + ("out-of-scope gate, " if (weights / "scope.json").is_file() else "")
                         + "ensemble verdict, SR + secondary capture built and stored (STOW), "
                         "against a local Orthanc on the same machine"}


def main(argv: list[str] | None = None) -> int:
    """Measure and write the JSON report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=42)
    p.add_argument("--weights", type=Path, default=ROOT / "weights")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "pacs_throughput.json")
    p.add_argument("--note", default="", help="a remark stored with the figures")
    args = p.parse_args(argv)
    figures = report(args.count, args.weights.resolve(), measure(args.count, args.weights.resolve()))
    if args.note:
        figures["note"] = args.note
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
