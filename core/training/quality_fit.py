"""Fit the image-quality check's thresholds on val and measure it: `python -m core.training.quality_fit`
(`make quality`).

Each threshold is the `--quantile` (default 0.995) of its measurement over the plain val radiographs,
so about 1 in 200 plain radiographs is flagged. Measured on val and test: the share flagged, plain and at
every level of every shift of `core.data.shifts` (a degradation should be flagged, the other shifts
not), with Wilson 95 % intervals, plus JPEG qualities 75 and 60 that are outside the catalogue. The
card carries what `reports/robustness.json` (the test split, the shipped ensemble) measured for noise
and JPEG at their middle levels, and that file's sha256, so the warning quotes real figures and a test
notices when they go stale (rerun this after `make robustness`). Writes weights/quality.json and
reports/quality.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.data.fracatlas import load_gray_images, read_labels
from core.data.quality import MEASURES, QUALITY_CARD, Effect, QualityCard
from core.data.shifts import SHIFTS, apply_shift
from core.settings import data_dir, reports_dir, weights_dir
from core.training.operating_points import wilson

log = logging.getLogger("core.quality")
OFF_CATALOGUE = (("jpeg", 75), ("jpeg", 60))


def measure_all(grays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every measurement of every image."""
    return {n: np.array([fn(g) for g in grays]) for n, fn in MEASURES.items()}


def fit_thresholds(plain: dict[str, np.ndarray], quantile: float) -> dict[str, float]:
    """Each measurement's `quantile` over plain radiographs, rounded up to 3 decimals."""
    if not 0.5 < quantile < 1:
        raise ValueError(f"quantile must lie in (0.5, 1), got {quantile}")
    return {n: float(np.ceil(np.quantile(v, quantile) * 1000) / 1000) for n, v in plain.items()}


def flagged(values: dict[str, np.ndarray], thresholds: dict[str, float]) -> dict[str, Any]:
    """Share of images flagged by each measurement and by either, with Wilson intervals."""
    hits = {n: values[n] > t for n, t in thresholds.items()}
    hits["any"] = np.logical_or.reduce(list(hits.values()))
    out = {}
    for n, h in hits.items():
        k, total = int(h.sum()), int(h.size)
        out[n] = {"rate": round(k / total, 4), "k": k, "n": total, "ci95": [round(x, 4) for x in wilson(k, total)]}
    return out


def cases(every_shift: bool) -> list[tuple[str, Any]]:
    """(shift, level) pairs to measure: every level of the catalogue, or the degradations' levels only."""
    names = list(SHIFTS) if every_shift else list(MEASURES)
    return [(n, lv) for n in names for lv in SHIFTS[n].levels]


def shifted(grays: list[np.ndarray], name: str, level: Any, seed: int) -> list[np.ndarray]:
    """Shifted copies (JPEG qualities outside the catalogue are encoded directly)."""
    if level in SHIFTS[name].levels:
        return [apply_shift(g, name, level, seed, i) for i, g in enumerate(grays)]
    return [cv2.imdecode(cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, int(level)])[1], cv2.IMREAD_GRAYSCALE)
            for g in grays]


def measure_split(grays: list[np.ndarray], thresholds: dict[str, float], every_shift: bool, seed: int) -> dict:
    """Share flagged on one split: plain, each listed shift level, the JPEG qualities outside the catalogue."""
    out = {"plain": flagged(measure_all(grays), thresholds)}
    for name, level in [*cases(every_shift), *OFF_CATALOGUE]:
        out[f"{name}:{level}"] = flagged(measure_all(shifted(grays, name, level, seed)), thresholds)
        log.info("%s:%s flagged %.3f", name, level, out[f"{name}:{level}"]["any"]["rate"])
    return out


def effects(path: Path) -> tuple[dict[str, Effect], str | None]:
    """Specificity of the shipped ensemble, unshifted and at each degradation's middle level, from the
    robustness report (and its sha256); nothing when there is no report."""
    if not path.exists():
        log.warning("no %s: the warnings will not quote what the degradations did to the models", path)
        return {}, None
    d = json.loads(path.read_text())
    plain = d["unshifted"]["all"]["ensemble"]["operating_points"]
    out = {}
    for row in d["shifts"]:
        if row["shift"] in MEASURES and row["severity"] == "middle" and row["images"] == "all":
            ops = row["models"]["ensemble"]["operating_points"]
            out[row["shift"]] = Effect(float(row["level"]), {op: [round(plain[op]["specificity"], 4),
                                                                  round(ops[op]["specificity"], 4)] for op in ops})
    return out, hashlib.sha256(path.read_bytes()).hexdigest()


def split_images(data: Path, split: str, limit: int | None) -> list[np.ndarray]:
    """The split's radiographs, the first `limit` of them when given."""
    names = read_labels(data / "labels.csv", split)["image"].tolist()[:limit]
    return load_gray_images(data / "images", names)


def latency_ms(card: QualityCard, gray: np.ndarray, runs: int = 20) -> dict[str, float]:
    """Median milliseconds of the check on one radiograph as it is and enlarged to 2304 × 2880 (the largest
    FracAtlas original)."""
    big = cv2.resize(gray, (2304, 2880), interpolation=cv2.INTER_LINEAR)
    out = {}
    for label, g in (("as_loaded", gray), ("2304x2880", big)):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            card.measure(g)
            times.append(1000 * (time.perf_counter() - t))
        out[label] = round(float(np.median(times)), 1)
    return out


def run(args: argparse.Namespace, command: str) -> QualityCard:
    """Fit on val, measure val and test, write the card and the report."""
    val = split_images(args.data, "val", args.limit)
    thresholds = fit_thresholds(measure_all(val), args.quantile)
    log.info("thresholds %s", thresholds)
    metrics = {"val": measure_split(val, thresholds, False, args.seed),
               "test": measure_split(split_images(args.data, "test", args.limit), thresholds, True, args.seed)}
    eff, sha = effects(args.robustness)
    card = QualityCard(thresholds=thresholds, quantile=args.quantile, effects=eff, robustness_sha256=sha,
                       metrics={s: {k: v["any"] for k, v in m.items()} for s, m in metrics.items()},
                       command=command, created=datetime.now(UTC).isoformat(timespec="seconds"))
    args.out.mkdir(parents=True, exist_ok=True)
    card.write(args.out / QUALITY_CARD)
    report = {"command": command, "quantile": args.quantile, "limit": args.limit, "seed": args.seed,
              "thresholds": thresholds, "latency_ms": latency_ms(card, val[0]), "effects": {k: asdict(v) for k, v in eff.items()},
              "robustness_sha256": sha, "by_measurement": metrics}
    args.reports.mkdir(parents=True, exist_ok=True)
    (args.reports / "quality.json").write_text(json.dumps(report, indent=1) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    """The CLI."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=data_dir(), help="FracAtlas folder (labels.csv, images/)")
    ap.add_argument("--robustness", type=Path, default=reports_dir() / "robustness.json")
    ap.add_argument("--out", type=Path, default=weights_dir())
    ap.add_argument("--reports", type=Path, default=reports_dir())
    ap.add_argument("--quantile", type=float, default=0.995)
    ap.add_argument("--limit", type=int, default=None, help="first N images of each split (quick runs)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run(args, " ".join(["python -m core.training.quality_fit", shlex.join(argv)]).strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
