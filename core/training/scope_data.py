"""What the out-of-scope gate is fitted and measured on, as light item specs that worker processes
turn into pictures and embed (one thread each: on a shared 2-core CPU two single-threaded
processes embed faster than one process with two threads).

An item is a radiograph view (a FracAtlas file, plain or under one shift level, or under two random
shift levels in a row) or a negative (a source of core.training.scope_negatives and an index).
Every picture is reproducible from (seed, item), so the worker that draws it does not matter.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.loading import LoadedImage, load_image
from core.data.preprocess import PreprocessConfig
from core.data.shifts import SHIFTS, apply_shift
from core.serving.scope import CLASSES, RADIOGRAPH, Tap, _as_image, build_trunk, embed, rule_family

log = logging.getLogger(__name__)
PLAIN = "plain"
COMPOUND = "two random shifts"
CHUNK = 48


@dataclass(frozen=True)
class Item:
    """One picture to embed: its class (or rule family), unit (image or source), group (shift level or
    family), what to draw (`xray`, `compound`, `negative`), from what (`ref`: path or source) and index."""

    cls: str
    unit: str
    group: str
    kind: str
    ref: str
    index: int
    shift: str = ""
    level: str = ""


@dataclass
class Embedded:
    """Embeddings (every tap of `taps`, `widths` columns each) with, per row: class index (-1: a rule
    family), group, unit and the rule that refuses it ('' if none)."""

    x: np.ndarray
    y: np.ndarray
    group: np.ndarray
    unit: np.ndarray
    rule: np.ndarray
    taps: tuple[Tap, ...]
    widths: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.y)

    def take(self, mask: np.ndarray) -> Embedded:
        """The rows where `mask` is true."""
        return Embedded(self.x[mask], self.y[mask], self.group[mask], self.unit[mask], self.rule[mask], self.taps,
                        self.widths)

    def cols(self, taps: Sequence[Tap]) -> np.ndarray:
        """The columns of some of the embedded taps, in the order given."""
        starts = np.cumsum((0,) + self.widths)
        missing = [t for t in taps if t not in self.taps]
        if missing:
            raise ValueError(f"taps {missing} were not embedded (have {self.taps})")
        return np.concatenate([np.arange(starts[self.taps.index(t)], starts[self.taps.index(t) + 1]) for t in taps])

    @staticmethod
    def concat(parts: Sequence[Embedded]) -> Embedded:
        """Rows of several sets, in order."""
        return Embedded(*(np.concatenate([getattr(p, k) for p in parts])
                          for k in ("x", "y", "group", "unit", "rule")), parts[0].taps, parts[0].widths)


def tap_widths(trunk: torch.nn.Module, taps: Sequence[Tap]) -> tuple[int, ...]:
    """Columns each tap gives, from one forward pass of a small blank input."""
    with torch.inference_mode():
        outputs = trunk(torch.zeros(1, 3, 64, 64).contiguous(memory_format=torch.channels_last))
    return tuple(t.width(outputs[t.after - 1].shape[1]) for t in taps)


def shift_groups() -> list[tuple[str, Any]]:
    """Every (shift, level) of the catalogue."""
    return [(name, level) for name, s in SHIFTS.items() for level in s.levels]


def xray_items(paths: Sequence[Path], compound: bool = False, per_image: int | None = None, seed: int = 0) -> list[Item]:
    """Every radiograph plain, then under every shift level (or, with `per_image`, under that many shift
    levels drawn at random for each image), then under two random levels in a row if `compound`."""
    groups = shift_groups()
    if per_image is not None and not 0 < per_image <= len(groups):
        raise ValueError(f"per_image must be in 1..{len(groups)}, got {per_image}")
    items = [Item(RADIOGRAPH, str(i), PLAIN, "xray", str(p), i) for i, p in enumerate(paths)]
    chosen = [set(range(len(groups)))] * len(paths) if per_image is None else \
        [set(np.random.default_rng([seed, 5, i]).choice(len(groups), per_image, replace=False)) for i in range(len(paths))]
    for k, (shift, level) in enumerate(groups):
        items += [Item(RADIOGRAPH, str(i), f"{shift}:{level}", "xray", str(p), i, shift, str(level))
                  for i, p in enumerate(paths) if k in chosen[i]]
    if compound:
        items += [Item(RADIOGRAPH, str(i), COMPOUND, "compound", str(p), i) for i, p in enumerate(paths)]
    return items


def negative_items(split: str, per_family: int, families: Sequence[str] | None = None) -> list[Item]:
    """Negatives of one split; learned families carry their class, rule families (colour, blank) theirs."""
    from core.training.scope_negatives import catalogue, plan

    return [Item(src.family, src.name, src.family, "negative", src.name, i)
            for src, i in plan(split, per_family, catalogue(), families)]


def _level(shift: str, text: str) -> Any:
    """The catalogue's level whose text is `text` (levels are ints, floats or strings)."""
    for level in SHIFTS[shift].levels:
        if str(level) == text:
            return level
    raise ValueError(f"shift {shift!r} has no level {text!r}")


class Drawer:
    """Turns items into LoadedImages (negatives through PNG and the app's loader, like uploads)."""

    def __init__(self, seed: int, colour_paths: Sequence[str] = (), gallery_paths: Sequence[str] = ()):
        from core.training.scope_negatives import catalogue

        self.seed = seed
        xrays = [load_image(p).pixels for p in colour_paths]
        gallery = [load_image(p).pixels for p in gallery_paths]
        self.sources = {s.name: s for s in catalogue(xrays, gallery)}

    def __call__(self, item: Item) -> LoadedImage:
        """The picture of one item."""
        if item.kind == "negative":
            from core.training.scope_negatives import negative

            return _as_image(negative(self.sources[item.ref], item.index, self.seed).pixels)
        im = load_image(item.ref)
        if item.kind == "xray":
            if not item.shift:
                return im
            return LoadedImage(apply_shift(im.pixels, item.shift, _level(item.shift, item.level), self.seed,
                                           item.index), im.meta)
        if item.kind == "compound":
            return LoadedImage(self._compound(im.pixels, item.index), im.meta)
        raise ValueError(f"unknown item kind {item.kind!r}")

    def _compound(self, gray: np.ndarray, index: int) -> np.ndarray:
        """Two different random shift levels in a row (a stand-in for another site's processing)."""
        groups = shift_groups()
        a, b = np.random.default_rng([self.seed, 77, index]).choice(len(groups), 2, replace=False)
        return apply_shift(apply_shift(gray, *groups[a], self.seed, index), *groups[b], self.seed, index)


_WORKER: dict[str, Any] = {}


def _init(state: dict[str, torch.Tensor], taps: Sequence[Tap], pre: dict[str, Any], seed: int,
          colour_paths: Sequence[str], gallery_paths: Sequence[str], turns: int = 1) -> None:
    """Worker set-up: one thread, the trunk, the preprocessing and a drawer."""
    torch.set_num_threads(1)
    trunk = build_trunk(taps)
    trunk.load_state_dict(state)
    _WORKER.update(trunk=trunk, taps=tuple(taps), pre=PreprocessConfig.from_dict(pre),
                   draw=Drawer(seed, colour_paths, gallery_paths), turns=turns)


def _embed_chunk(items: Sequence[Item]) -> tuple[np.ndarray, list[str]]:
    """Draw and embed a chunk of items in a worker; also the rule that refuses each picture."""
    images = [_WORKER["draw"](it) for it in items]
    x = embed(_WORKER["trunk"], _WORKER["taps"], [im.pixels for im in images], _WORKER["pre"], turns=_WORKER["turns"])
    return x.astype(np.float32), [rule_family(im) or "" for im in images]


def embed_items(items: Sequence[Item], trunk: torch.nn.Module, taps: Sequence[Tap], pre: PreprocessConfig,
                seed: int, workers: int = 2, colour_paths: Sequence[str] = (),
                gallery_paths: Sequence[str] = (), turns: int = 1) -> Embedded:
    """Embed every item (in `workers` spawned processes, or in this one when workers ≤ 1); colourised
    negatives draw on `colour_paths`, drawn windows and galleries on `gallery_paths`; `turns` as in `embed`."""
    args = ({k: v.detach().clone() for k, v in trunk.state_dict().items()}, tuple(taps), pre.to_dict(), seed,
            list(colour_paths), list(gallery_paths), turns)
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    if workers <= 1:
        threads = torch.get_num_threads()
        _init(*args)
        try:
            results = [_embed_chunk(c) for c in chunks]
        finally:
            torch.set_num_threads(threads)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init, initargs=args) as ex:
            results = list(ex.map(_embed_chunk, chunks))
    return Embedded(np.concatenate([r[0] for r in results]),
                    np.array([CLASSES.index(it.cls) if it.cls in CLASSES else -1 for it in items]),
                    np.array([it.group for it in items]), np.array([it.unit for it in items]),
                    np.array([rule for r in results for rule in r[1]]), tuple(taps), tap_widths(trunk, taps))
