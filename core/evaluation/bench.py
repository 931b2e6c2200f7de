"""CPU speed of the shipped ensemble: `python -m core.evaluation.bench` (also `make bench`).

Loads every model in weights/ once, then times on one 288-px sample radiograph the median of
20 runs of (a) the ensemble verdict (with the localiser's boxes when one is shipped; the boxes are
also timed alone) and (b) the verdict plus one Grad-CAM per member, and each
model alone. `--also runs/models` adds the trained models that are not shipped; every other card in
reports/cards is timed on its architecture at its input size (random weights: the time does not
depend on their values). Prints the figures and writes reports/bench.json for the comparison page.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.data.loading import load_image
from core.models.cards import read_card
from core.models.registry import create_model, get_spec
from core.serving.predictor import Member, Predictor
from core.settings import SAMPLE_DIR, reports_dir, weights_dir

log = logging.getLogger(__name__)
SAMPLE = SAMPLE_DIR / "images"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of fn() in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench(predictor: Predictor, image_path: Path, runs: int = 20) -> dict:
    """Latency figures for the ensemble and for each member."""
    image = load_image(image_path)

    def verdict_and_cams() -> None:
        predictor.predict_image(image)
        for m in predictor.members:
            predictor.heatmap(image.pixels, m.name, "Grad-CAM")

    return {"image": image_path.name, "image_px": f"{image.pixels.shape[1]}×{image.pixels.shape[0]}",
            "runs": runs, "threads": torch.get_num_threads(),
            "ensemble_verdict_ms": round(median_ms(lambda: predictor.predict_image(image), runs), 1),
            "verdict_plus_cams_ms": round(median_ms(verdict_and_cams, runs), 1),
            "verdict_includes_boxes": predictor.localizer is not None,
            "localizer_ms": round(median_ms(lambda: predictor.localizer.boxes(image.pixels), runs), 1)
            if predictor.localizer is not None else None,
            "orientation_check_ms": round(median_ms(lambda: predictor.quarter_turns([image.pixels]), runs), 1)
            if predictor.orientation is not None else None,
            "models": model_rows(predictor, image.pixels, runs)}


def member_row(m: Member, pixels: np.ndarray, runs: int) -> dict:
    """One model alone: size, verdict latency and Grad-CAM latency."""
    return {"model": m.name, "params (M)": round((m.card.params or 0) / 1e6, 2),
            "file (MB)": round(m.card.weights.bytes / 2**20, 1) if m.card.weights else None,
            "verdict (ms)": round(median_ms(lambda: m.probability(pixels), runs), 1),
            "Grad-CAM (ms)": round(median_ms(lambda: m.heatmap(pixels), runs), 1)}


def model_rows(predictor: Predictor, pixels: np.ndarray, runs: int,
               skip: frozenset[str] = frozenset()) -> list[dict]:
    """Each loaded model alone (trained weights)."""
    return [member_row(m, pixels, runs) | {"timed with": "trained weights"}
            for m in predictor.members if m.name not in skip]


def card_rows(card_dir: Path, pixels: np.ndarray, runs: int, skip: frozenset[str]) -> list[dict]:
    """Models known only by their card: time the architecture at the card's input size.

    The weights are random because the trained ones are not shipped; the arithmetic, and so the
    time, does not depend on their values.
    """
    rows = []
    for path in sorted(card_dir.glob("*.json")):
        card = read_card(path)
        if card.is_ensemble or card.name in skip or card.params is None:
            continue
        net = create_model(card.architecture).eval().to(memory_format=torch.channels_last)
        m = Member(card.name, net, card, card.preprocess, get_spec(card.architecture))
        rows.append(member_row(m, pixels, runs) | {"timed with": "architecture only (weights not here)"})
        log.info("timed %s", m.name)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print it."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--image", type=Path, default=sorted(SAMPLE.glob("*.jpg"))[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="default reports/bench.json")
    p.add_argument("--also", type=Path, help="also time, one by one, the models in this folder (e.g. runs/models)")
    p.add_argument("--cards", type=Path, default=None,
                   help="time the architecture of every other card here too (default reports/cards)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    predictor = Predictor(args.weights or weights_dir())
    if not predictor.members:
        raise SystemExit("no models in weights/")
    result = bench(predictor, args.image, args.runs)
    pixels, done = load_image(args.image).pixels, frozenset(m.name for m in predictor.members)
    if args.also:
        result["other_models"] = model_rows(Predictor(args.also), pixels, args.runs, done)
        done |= {m["model"] for m in result["other_models"]}
    result["other_models"] = result.get("other_models", []) + card_rows(
        args.cards or reports_dir() / "cards", pixels, args.runs, done)
    out = args.out or reports_dir() / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"ensemble verdict: {result['ensemble_verdict_ms']:.0f} ms (median of {args.runs}, "
          f"{result['threads']} threads, {len(predictor.members)} models, image {result['image_px']})")
    if result["localizer_ms"] is not None:
        print(f"  of which the localiser's boxes: {result['localizer_ms']:.0f} ms")
    if result["orientation_check_ms"] is not None:
        print(f"  of which the orientation check: {result['orientation_check_ms']:.0f} ms")
    print(f"verdict + one Grad-CAM per member: {result['verdict_plus_cams_ms']:.0f} ms")
    for m in result["models"] + result.get("other_models", []):
        print(f"  {m['model']:<24} verdict {m['verdict (ms)']:>6.0f} ms  Grad-CAM {m['Grad-CAM (ms)']:>6.0f} ms  "
              f"{m['params (M)']} M params  {m['file (MB)']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
