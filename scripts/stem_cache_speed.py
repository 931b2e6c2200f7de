"""Time the stem cache at several batch sizes: `python scripts/stem_cache_speed.py [--n 400] [--batches 4 2 1]`.

Fills one augmented train view of the first N train images, as `make train-all` does, for each
frozen stem it caches (both classifiers, with the shipped cards' augmentation, and the localiser
on the shipped lite0 trunk), once per batch size; checks that every batch size writes the same
activations bit for bit as the first, and writes reports/stem_cache_speed.json. Identity was
measured at the shipped input sizes; it is not guaranteed in general (at 64 px, random-init
fp16 stems differ by ~1e-3 across batch sizes).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.data.fracatlas import load_gray_images, read_labels  # noqa: E402
from core.settings import data_dir, reports_dir, weights_dir  # noqa: E402
from core.training import localizer_fit, stem_cache, trainer  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402

log = logging.getLogger("stem_cache_speed")
SHIFTS = {"views": 6, "shift_share": 0.5, "shift_max_level": 2,  # the shipped recipe
          "shift_names": "zoom,border,jpeg,window,noise,blur,markers,text,tilt_grey"}


def stems() -> dict[str, tuple]:
    """Per cached stem: its network, preprocessing and train-view augmentation."""
    out = {}
    for model in ("efficientnet_lite0", "mobilenet_v2"):
        tc = TrainConfig(model=model, **SHIFTS)
        net, pcfg, _ = trainer.build(tc)
        out[model] = (net, pcfg, tc.augment_config())
    fc = localizer_fit.FitConfig(trunk=weights_dir() / "efficientnet_lite0.json")
    net, card, _ = localizer_fit.build(fc)
    out["localizer"] = (net, card.preprocess, stem_cache.AugmentConfig())
    return out


def time_view(stem: tuple, grays: list[np.ndarray], batch: int) -> tuple[float, np.ndarray]:
    """Seconds to cache view 'aug0' of `grays` at one batch size, and the activations."""
    net, pcfg, aug = stem
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        arr = stem_cache.cached_stem(net, "speed", grays, pcfg, "aug0", 0, Path(tmp), batch=batch, aug=aug)
        return time.perf_counter() - t0, np.array(arr)


def main() -> None:
    """Time each stem at each batch size and write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400, help="train images")
    p.add_argument("--batches", type=int, nargs="+", default=[4, 2, 1])
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    names = read_labels(data_dir() / "labels.csv", "train")["image"].tolist()[:a.n]
    grays = load_gray_images(data_dir() / "images", names)
    rows = []
    for name, stem in stems().items():
        first = None
        for b in a.batches:
            seconds, arr = time_view(stem, grays, b)
            first = arr if first is None else first
            rows.append({"stem": name, "batch": b, "ms_per_image": round(1000 * seconds / a.n, 1),
                         "identical_to_first_batch": bool(np.array_equal(arr, first))})
            log.info("%s", rows[-1])
    out = {"command": "python scripts/stem_cache_speed.py " + " ".join(sys.argv[1:]), "n_images": a.n,
           "view": "aug0", "torch_threads": 2, "rows": rows}
    (reports_dir() / "stem_cache_speed.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
