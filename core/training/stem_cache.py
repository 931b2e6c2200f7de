"""Cache frozen-stem activations on disk, once per (model, init, preprocessing, images, view)."""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.data.augment import AugmentConfig, augment, hflip
from core.data.preprocess import PreprocessConfig, preprocess
from core.models.networks import FractureNet

log = logging.getLogger(__name__)


def view_of(gray: np.ndarray, view: str, seed: int, index: int,
            aug: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """The image for a named view: 'plain', 'flip' or 'augN' (deterministic per seed and index)."""
    if view == "plain":
        return gray
    if view == "flip":
        return hflip(gray)
    if view.startswith("aug") and view[3:].isdigit():
        rng = np.random.default_rng([seed, int(view[3:]), index])
        return augment(gray, rng, aug)
    raise ValueError(f"unknown view {view!r}; use 'plain', 'flip' or 'augN'")


def cache_key(model: str, init_id: str, cfg: PreprocessConfig, names: Sequence[str],
              view: str, seed: int, aug: AugmentConfig = AugmentConfig()) -> str:
    """A short hash naming one cached array."""
    payload = json.dumps({"model": model, "init": init_id, "cfg": cfg.to_dict(), "view": view,
                          "seed": seed, "aug": _aug_key(aug),
                          "images": hashlib.sha1("\n".join(names).encode()).hexdigest()},
                         sort_keys=True, default=str)
    return f"{model}-{view}-" + hashlib.sha1(payload.encode()).hexdigest()[:16]


def _aug_key(aug: AugmentConfig) -> dict:
    """The augmentation settings a key names; the shift options only when set, so older keys stay valid."""
    default = AugmentConfig()
    optional = {"shift_share", "shift_max_level", "shift_names"}
    return {k: v for k, v in aug.__dict__.items() if k not in optional or v != getattr(default, k)}


@torch.no_grad()
def stem_batch(net: FractureNet, grays: Sequence[np.ndarray], cfg: PreprocessConfig) -> np.ndarray:
    """Run the frozen stem on preprocessed images; float16 activations (N, C, H, W)."""
    x = torch.from_numpy(np.stack([preprocess(g, cfg)[0] for g in grays]))
    dev = next(net.parameters()).device
    return net.stem(x.contiguous(memory_format=torch.channels_last).to(dev)).to(torch.float16).cpu().numpy()


def cached_stem(net: FractureNet, key: str, grays: Sequence[np.ndarray], cfg: PreprocessConfig,
                view: str, seed: int, cache_dir: Path, batch: int = 2,
                aug: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Stem activations of every image under one view, computed once and then read from disk."""
    path = cache_dir / f"{key}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    cache_dir.mkdir(parents=True, exist_ok=True)
    net.stem.eval()
    parts = []
    for start in tqdm(range(0, len(grays), batch), desc=f"caching {view}", unit="batch", mininterval=10):
        chunk = [view_of(g, view, seed, start + i, aug) for i, g in enumerate(grays[start:start + batch])]
        parts.append(stem_batch(net, chunk, cfg))
    arr = np.concatenate(parts)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)
    log.info("cached %s %s → %s (%.0f MB)", view, arr.shape, path.name, arr.nbytes / 2**20)
    return np.load(path, mmap_mode="r")
