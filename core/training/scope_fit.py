"""Fit and measure the out-of-scope gate: `python -m core.training.scope_fit` (`make scope`).

Trunk: the ImageNet EfficientNet-Lite0 (the classifier's starting weights; its first four blocks
are the classifiers' frozen stem, which the fit checks), frozen, copied into the gate in float16.
Positives: FracAtlas `train` radiographs (a seeded subsample), plain and under every level of every
shift in core.data.shifts. Negatives: the `fit` sources of core.training.scope_negatives.

Which taps (the stem alone, or the stem and deeper blocks) and which head are chosen by 3-fold
cross-validation on the fit data (folds by radiograph and by negative source); the threshold on
P(radiograph) on `val` radiographs (plain + every shift level: at most `target` refused in each);
the figures on `test` radiographs (plain, every shift level, two random shift levels in a row) and
on the `heldout` negative sources, which fitting never saw.

Writes weights/scope.json + weights/scope.safetensors (the gate) and reports/scope.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.data.loading import LoadedImage, load_image
from core.data.preprocess import PreprocessConfig
from core.serving.scope import (
    ARCHITECTURE,
    BLANK_STD,
    CHROMA_MAX,
    CLASSES,
    DEEP_TAPS,
    FORMAT,
    KIND,
    STEM_TAPS,
    Head,
    Reference,
    ScopeModel,
    Tap,
    build_trunk,
    taps_to_json,
)
from core.training.scope_data import PLAIN, Embedded, embed_items, negative_items, xray_items

log = logging.getLogger(__name__)
GATE_FILE = "scope.safetensors"
FEATURE_SETS = {"stem": STEM_TAPS, "stem+deep": DEEP_TAPS}
HEADS = ({"kind": "logistic", "C": 0.1}, {"kind": "logistic", "C": 0.3},
         {"kind": "mlp", "hidden": 128, "alpha": 1e-3},
         {"kind": "logistic", "C": 0.1, "distance": True}, {"kind": "logistic", "C": 0.3, "distance": True})


def head_name(spec: dict[str, Any]) -> str:
    """A short name of a candidate head for the CLI, e.g. 'logistic-C0.1', 'mlp-128', 'logistic-C0.3-distance'."""
    size = f"C{spec['C']}" if spec["kind"] == "logistic" else str(spec.get("hidden", ""))
    return f"{spec['kind']}-{size}" + ("-distance" if spec.get("distance") else "")


HEAD_NAMES = {head_name(h): h for h in HEADS}
DISTANCE_SHARE = 0.5  # of the radiograph refusal budget, spent on the distance from the radiographs


@dataclass
class FitConfig:
    """What `run` fits on and where it writes; the defaults are `make scope`'s."""

    data: Path
    init: Path
    out: Path
    reports: Path | None = None
    member: Path | None = None
    size: int = 128
    n_train: int | None = 600
    shifts_per_train_image: int | None = 16
    n_val: int | None = 200
    n_test: int | None = 100
    n_gallery: int = 40
    fit_per_family: int = 800
    heldout_per_family: int = 200
    heldout_seeds: tuple[int, ...] = (0, 1)  # each held-out family drawn afresh with each seed
    target: float = 0.005
    seed: int = 0
    feature_sets: dict[str, tuple[Tap, ...]] = field(default_factory=lambda: dict(FEATURE_SETS))
    heads: tuple[dict[str, Any], ...] = HEADS
    workers: int = 2
    latency_runs: int = 20
    cache: Path | None = None
    turns: int = 1  # embeddings averaged over this many quarter turns (core.serving.scope.embed)


def load_trunk(init: Path, taps: Sequence[Tap]) -> tuple[nn.Module, dict[str, Any]]:
    """The trunk for `taps` with the starting weights of `init` (timm key names, float16 or 32)."""
    from safetensors.torch import load_file

    from core.models.weights import sha256

    trunk = build_trunk(taps)
    wanted = set(trunk.state_dict())
    trunk.load_state_dict({k: v.float() for k, v in load_file(str(init)).items() if k in wanted}, strict=True)
    return trunk, {"file": init.name, "sha256": sha256(init)}


def stem_matches_member(trunk: nn.Module, member_card: Path) -> dict[str, Any]:
    """Whether the trunk's first four blocks equal a shipped member's frozen stem (name, sha256, answer)."""
    from safetensors.torch import load_file

    from core.models.weights import sha256

    card = json.loads(member_card.read_text())
    path = member_card.with_name(card["weights"]["file"])
    member = {k[5:]: v.float() for k, v in load_file(str(path)).items() if k.startswith("stem.")}
    mine = trunk.state_dict()
    same = bool(member) and all(torch.equal(v, mine[_trunk_key(k)].float()) for k, v in member.items())
    return {"model": card["name"], "file": path.name, "sha256": sha256(path), "stem_identical": same}


def _trunk_key(stem_key: str) -> str:
    """A classifier stem key ('0.weight', '3.conv_dw.weight') as the trunk names it (Sequential order:
    conv_stem, bn1, blocks 0–3)."""
    i, rest = stem_key.split(".", 1)
    return {"0": "conv_stem", "1": "bn1"}.get(i, f"blocks.{int(i) - 2}") + "." + rest


def xray_paths(data: Path, split: str, n: int | None, seed: int) -> list[Path]:
    """FracAtlas radiograph files of one split (a seeded subsample of `n` when given)."""
    from core.data.fracatlas import read_labels

    names = list(read_labels(data / "labels.csv", split)["image"])
    if n is not None and n < len(names):
        names = sorted(np.random.default_rng([seed, zlib.crc32(split.encode())]).choice(names, n, replace=False))
    return [data / "images" / name for name in names]


def fit_head(x: np.ndarray, y: np.ndarray, spec: dict[str, Any], seed: int) -> Head:
    """Standardise, then fit a class-balanced softmax head (logistic regression or a small MLP)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    mean, scale = x.mean(0).astype(np.float64), x.std(0).astype(np.float64) + 1e-6
    z = (x - mean) / scale
    counts = np.bincount(y, minlength=len(CLASSES)).astype(float)
    if (counts == 0).any():
        raise ValueError(f"every class needs examples; counts {dict(zip(CLASSES, counts.tolist()))}")
    w = (len(y) / (len(CLASSES) * counts))[y]
    if spec["kind"] == "logistic":
        clf = LogisticRegression(C=spec["C"], max_iter=spec.get("max_iter", 1000)).fit(z, y, sample_weight=w)
        return Head(mean, scale, ((clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64)),))
    if spec["kind"] == "mlp":
        clf = MLPClassifier((spec["hidden"],), alpha=spec["alpha"], max_iter=300, random_state=seed).fit(
            z, y, sample_weight=w)
        return Head(mean, scale, tuple((c.T.astype(np.float64), b.astype(np.float64))
                                       for c, b in zip(clf.coefs_, clf.intercepts_)))
    raise ValueError(f"unknown head kind {spec['kind']!r}; use 'logistic' or 'mlp'")


def threshold_for(p_xray: np.ndarray, rule: np.ndarray, group: np.ndarray, target: float) -> float:
    """The largest threshold refusing at most `target` of the radiographs of every group (rules included);
    a group whose rules alone break the budget sets no limit."""
    best = 1.0
    for g in np.unique(group):
        m = group == g
        allowed = int(np.floor(target * m.sum())) - int((rule[m] != "").sum())
        s = np.sort(p_xray[m & (rule == "")])
        if allowed < 0 or not len(s):
            continue
        best = min(best, float(s[allowed]) if allowed < len(s) else 1.0)
    return best


def distance_threshold(d: np.ndarray, rule: np.ndarray, group: np.ndarray, target: float) -> float:
    """The smallest distance cut (refuse above it) refusing at most `target` of the radiographs of every
    group (rules included); a group whose rules alone break the budget sets no limit."""
    cut = -np.inf
    for g in np.unique(group):
        m = group == g
        allowed = int(np.floor(target * m.sum())) - int((rule[m] != "").sum())
        s = np.sort(d[m & (rule == "")])[::-1]
        if allowed < 0 or not len(s):
            continue
        cut = max(cut, float(s[allowed]) if allowed < len(s) else -np.inf)
    return cut


def thresholds(p_xray: np.ndarray, d: np.ndarray | None, rule: np.ndarray, group: np.ndarray,
               target: float) -> tuple[float, float]:
    """(threshold on P(radiograph), distance cut): the distance spends DISTANCE_SHARE of the budget
    first, then P(radiograph) the rest, its refusals counted like a rule's."""
    if d is None:
        return threshold_for(p_xray, rule, group, target), float("inf")
    cut = distance_threshold(d, rule, group, target * DISTANCE_SHARE)
    return threshold_for(p_xray, np.where((rule == "") & (d > cut), "distance", rule), group, target), cut


def folds(fit: Embedded, k: int = 3) -> np.ndarray:
    """Fold of every row: radiographs by image, negatives by source (by item for families of < k sources)."""
    out = np.zeros(len(fit), int)
    for c in np.unique(fit.y):
        m = fit.y == c
        units = fit.unit[m]
        if c == 0:
            out[m] = np.array([zlib.crc32(u.encode()) for u in units]) % k
        elif len(np.unique(units)) < k:
            out[m] = np.arange(m.sum()) % k
        else:
            ranks = {u: i for i, u in enumerate(sorted(np.unique(units)))}
            out[m] = np.array([ranks[u] for u in units]) % k
    return out


def cross_validate(fit: Embedded, taps: Sequence[Tap], spec: dict[str, Any], target: float, seed: int) -> dict:
    """Out-of-fold refusal of each negative family at a threshold keeping every radiograph group in budget."""
    fold, cols = folds(fit), fit.cols(taps)
    p, d = np.zeros((len(fit), len(CLASSES))), np.zeros(len(fit))
    for f in np.unique(fold):
        train, held = fit.x[fold != f][:, cols], fit.x[fold == f][:, cols]
        p[fold == f] = fit_head(train, fit.y[fold != f], spec, seed).probabilities(held)
        d[fold == f] = Reference.fit(train[fit.y[fold != f] == 0]).distance(held)
    d = d if spec.get("distance") else None
    pos = fit.y == 0
    t, cut = thresholds(p[:, 0][pos], None if d is None else d[pos], fit.rule[pos], fit.group[pos], target)
    out = (p[:, 0] < t) | (d > cut if d is not None else False)
    refused = {CLASSES[c]: round(float(np.mean(out[fit.y == c])), 4) for c in range(1, len(CLASSES))}
    return {"threshold": t, "distance_threshold": cut if d is not None else None, "negatives_refused": refused,
            "worst_family": min(refused.values()),
            "mean_family": round(float(np.mean(list(refused.values()))), 4)}


def select(fit: Embedded, cfg: FitConfig) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """The (feature set, head) with the best worst-family out-of-fold refusal (ties: the mean), and the table."""
    table = []
    for name, taps in cfg.feature_sets.items():
        for spec in cfg.heads:
            t0 = time.perf_counter()
            cv = cross_validate(fit, taps, spec, cfg.target, cfg.seed)
            table.append({"features": name, "head": spec, **cv, "seconds": round(time.perf_counter() - t0, 1)})
            log.info("%s %s: worst family %.3f, mean %.3f", name, spec, cv["worst_family"], cv["mean_family"])
    best = max(table, key=lambda r: (r["worst_family"], r["mean_family"]))
    return best["features"], best["head"], table


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """Wilson score 95 % interval of a proportion k/n."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(float(max(0.0, c - h)), 4), round(float(min(1.0, c + h)), 4)]


def rate(flags: np.ndarray) -> dict[str, Any]:
    """Share of true flags with its count and Wilson 95 % CI."""
    k, n = int(np.sum(flags)), int(len(flags))
    return {"rate": round(k / n, 4) if n else None, "k": k, "n": n, "ci95": wilson(k, n)}


def outcomes(model: ScopeModel, emb: Embedded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: refused by the whole gate, refused by its learned part alone, and the family it names."""
    x = emb.x[:, emb.cols(model.taps)]
    p, d = model.head.probabilities(x), model.distance(x)
    d = np.full(len(x), None) if d is None else d
    res = [model.decide(r or None, q, e) for r, q, e in zip(emb.rule, p, d)]
    far = np.array([e is not None and e > model.distance_threshold for e in d], bool)
    return (np.array([not r.in_scope for r in res], bool), (p[:, 0] < model.threshold) | far,
            np.array([r.family or "" for r in res]))


def measure_xrays(model: ScopeModel, emb: Embedded) -> dict[str, Any]:
    """Refusal of radiographs per group (plain, each shift level, two random shifts), with Wilson CIs."""
    refused, _, named = outcomes(model, emb)
    groups = {str(g): rate(refused[emb.group == g]) for g in dict.fromkeys(emb.group)}
    shifted = {g: r for g, r in groups.items() if g != PLAIN}
    return {"all_views": rate(refused), "groups": groups,
            "worst_group": max(shifted, key=lambda g: shifted[g]["rate"]) if shifted else None,
            "groups_over_1pct": sorted(g for g, r in groups.items() if r["rate"] > 0.01),
            "refusals_by_named_family": {str(k): int(v) for k, v in zip(*np.unique(named[refused], return_counts=True))}}


def measure_negatives(model: ScopeModel, emb: Embedded) -> dict[str, Any]:
    """Per family: refused (whole gate), refused by the learned part alone, refusals naming the family,
    and refusal per source; Wilson 95 % CIs over images."""
    refused, learned, named = outcomes(model, emb)
    out = {}
    for fam in dict.fromkeys(emb.group):
        m = emb.group == fam
        out[str(fam)] = {"refused": rate(refused[m]), "refused_by_learned_part": rate(learned[m]),
                         "refusals_naming_the_family": rate(named[m & refused] == fam),
                         "sources": {str(s): rate(refused[m & (emb.unit == s)]) for s in dict.fromkeys(emb.unit[m])}}
    return out


def as_float32(head: Head) -> Head:
    """The head as it is stored (float32), so the threshold is chosen on exactly what ships."""
    def f(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32).astype(np.float64)

    return Head(f(head.mean), f(head.scale), tuple((f(w), f(b)) for w, b in head.layers))


def _embed(items: list, trunk: nn.Module, pre: PreprocessConfig, cfg: FitConfig, colour: Sequence[Path] = (),
           gallery: Sequence[Path] = ()) -> Embedded:
    """Embed items with every tap of the candidate feature sets (reusing `cfg.cache` when it has them)."""
    taps = tuple(dict.fromkeys(t for ts in cfg.feature_sets.values() for t in ts))
    key = _cache_key(items, trunk, pre, taps, cfg.seed, colour, gallery, cfg.turns)
    cached = cfg.cache / f"{key}.npz" if cfg.cache is not None else None
    if cached is not None and cached.is_file():
        log.info("embeddings of %d pictures from %s", len(items), cached)
        with np.load(cached) as z:
            return Embedded(z["x"], z["y"], z["group"], z["unit"], z["rule"], taps, tuple(int(w) for w in z["widths"]))
    t0 = time.perf_counter()
    emb = embed_items(items, trunk, taps, pre, cfg.seed, cfg.workers, [str(p) for p in colour],
                      [str(p) for p in gallery], cfg.turns)
    log.info("embedded %d pictures in %.0f s", len(items), time.perf_counter() - t0)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, x=emb.x, y=emb.y, group=emb.group, unit=emb.unit, rule=emb.rule, widths=np.array(emb.widths))
    return emb


def _cache_key(items: list, trunk: nn.Module, pre: PreprocessConfig, taps: Sequence[Tap], seed: int,
               colour: Sequence[Path], gallery: Sequence[Path], turns: int = 1) -> str:
    """A digest of everything an embedding depends on (items, weights, preprocessing, taps, seed, extras,
    and the code that shifts, preprocesses, draws and embeds)."""
    import hashlib
    import inspect

    from core.data import preprocess, shifts
    from core.serving import scope
    from core.training import scope_data, scope_negatives, scope_render

    extras = (list(map(str, colour)), list(map(str, gallery))) + ((turns,) if turns != 1 else ())
    h = hashlib.sha256(repr((items, pre.to_dict(), taps, seed, *extras)).encode())
    for v in trunk.state_dict().values():
        h.update(v.cpu().numpy().tobytes())
    for shot in sorted((scope_negatives.ROOT / "docs" / "screenshots").glob("*.png")):  # held-out pictures that change
        h.update(shot.read_bytes())
    for module in (preprocess, shifts, scope, scope_data, scope_negatives, scope_render):
        h.update(inspect.getsource(module).encode())
    return h.hexdigest()[:24]


def fit_gate(trunk: nn.Module, pre: PreprocessConfig, cfg: FitConfig) -> tuple[ScopeModel, dict[str, Any]]:
    """Choose taps and head by cross-validation on the fit data, refit on all of it, set the threshold on val."""
    t0 = time.perf_counter()
    train = xray_paths(cfg.data, "train", cfg.n_train, cfg.seed)
    views = xray_items(train, per_image=cfg.shifts_per_train_image, seed=cfg.seed)
    fit = _embed(views + negative_items("fit", cfg.fit_per_family), trunk, pre, cfg,
                 gallery=train[:cfg.n_gallery])
    name, spec, table = select(fit, cfg)
    taps = cfg.feature_sets[name]
    x = fit.x[:, fit.cols(taps)]
    head = as_float32(fit_head(x, fit.y, spec, cfg.seed))
    ref = _ref32(Reference.fit(x[fit.y == 0])) if spec.get("distance") else None
    model = ScopeModel(trunk, taps, pre, head, 0.5, reference=ref, turns=cfg.turns)
    val = _embed(xray_items(xray_paths(cfg.data, "val", cfg.n_val, cfg.seed)), trunk, pre, cfg)
    xv = val.x[:, val.cols(taps)]
    model.threshold, model.distance_threshold = thresholds(head.probabilities(xv)[:, 0], model.distance(xv),
                                                           val.rule, val.group, cfg.target)
    refused, _, _ = outcomes(model, val)
    info = {"selection": table, "features": name, "head": spec,
            "fit_rows": {c: int((fit.y == i).sum()) for i, c in enumerate(CLASSES)},
            "fit_sources": {c: sorted(map(str, set(fit.unit[fit.y == i]))) for i, c in enumerate(CLASSES) if i},
            "train_xrays": len(train), "val_xrays": int((val.group == PLAIN).sum()),
            "val_refused_worst_group": max(float(refused[val.group == g].mean()) for g in np.unique(val.group)),
            "val_refused_all_views": round(float(refused.mean()), 5),
            "fit_negatives_refused_in_sample": _in_sample(model, fit),
            "seconds_to_fit": round(time.perf_counter() - t0)}
    return model, info


def _ref32(ref: Reference) -> Reference:
    """The reference as it is stored (float32)."""
    return Reference(ref.mean.astype(np.float32).astype(np.float64), ref.scale.astype(np.float32).astype(np.float64))


def _in_sample(model: ScopeModel, fit: Embedded) -> dict[str, float]:
    """Refusal of the fit negatives by the final gate (in-sample; for comparison with held-out)."""
    refused, _, _ = outcomes(model, fit)
    return {c: round(float(refused[fit.y == i].mean()), 4) for i, c in enumerate(CLASSES) if i}


def measure(model: ScopeModel, trunk: nn.Module, cfg: FitConfig) -> dict[str, Any]:
    """Test radiographs (plain, every shift level, two random shifts) and every held-out negative family."""
    t0 = time.perf_counter()
    test = xray_paths(cfg.data, "test", cfg.n_test, cfg.seed)
    xr = measure_xrays(model, _embed(xray_items(test, compound=True), trunk, model.cfg, cfg))
    items = negative_items("heldout", cfg.heldout_per_family)
    held = Embedded.concat([_embed(items, trunk, model.cfg, replace(cfg, seed=s), colour=test) for s in cfg.heldout_seeds])
    return {"test_xrays": len(test), "test_radiographs": xr, "heldout_negatives": measure_negatives(model, held),
            "heldout_seeds": list(cfg.heldout_seeds),
            "heldout_sources": {str(f): sorted(map(str, set(held.unit[held.group == f])))
                                for f in dict.fromkeys(held.group)},
            "seconds_to_measure": round(time.perf_counter() - t0)}


def save_gate(model: ScopeModel, card: dict[str, Any], out_dir: Path) -> Path:
    """Write scope.safetensors (the trunk the taps need, float16; the head, float32) and scope.json
    (the card, the tensor file's sha256 pinned)."""
    from core.models.weights import save_tensors, sha256

    keep = build_trunk(model.taps).state_dict()
    tensors = {f"trunk.{k}": (v.half() if v.is_floating_point() else v).contiguous()
               for k, v in model.trunk.state_dict().items() if k in keep}
    tensors["norm.mean"] = torch.from_numpy(model.head.mean.astype(np.float32))
    tensors["norm.scale"] = torch.from_numpy(model.head.scale.astype(np.float32))
    for i, (w, b) in enumerate(model.head.layers):
        tensors[f"head.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(w, np.float32))
        tensors[f"head.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(b, np.float32))
    if model.reference is not None:
        tensors["ref.mean"] = torch.from_numpy(model.reference.mean.astype(np.float32))
        tensors["ref.scale"] = torch.from_numpy(model.reference.scale.astype(np.float32))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / GATE_FILE
    save_tensors(tensors, path, metadata={"kind": KIND, "format": str(FORMAT)})
    card = {**card, "head": {**card["head"], "layers": len(model.head.layers)},
            "weights": {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
                        "trunk_dtype": "float16", "head_dtype": "float32"}}
    (out_dir / "scope.json").write_text(json.dumps(card, indent=2) + "\n")
    return out_dir / "scope.json"


def card_for(model: ScopeModel, provenance: dict[str, Any], info: dict[str, Any], command: str) -> dict[str, Any]:
    """The gate's card (weights/scope.json) without its tensor file entry."""
    return {"kind": KIND, "format": FORMAT, "classes": list(model.classes),
            "trunk": {"architecture": ARCHITECTURE, "frozen": True, **provenance},
            "taps": taps_to_json(model.taps), "turns": model.turns, "features": info["features"],
            "preprocess": model.cfg.to_dict(),
            "head": dict(info["head"]), "threshold": model.threshold,
            **({"distance_threshold": model.distance_threshold} if model.reference is not None else {}),
            "rules": {"chroma_max": CHROMA_MAX, "blank_std": BLANK_STD},
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "command": command,
            "report": "reports/scope.json"}


def latency_ms(model: ScopeModel, image: LoadedImage, runs: int = 20) -> float:
    """Median wall time of one `check` (preprocessing, trunk, head, rules) after a warm-up, in ms."""
    model.check(image)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.check(image)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1000, 1)


def _latency(model: ScopeModel, runs: int) -> dict[str, Any]:
    """Latency at 1 and 2 torch threads on the first bundled sample; 'median' is the larger."""
    from core.settings import SAMPLE_DIR

    image = load_image(sorted((SAMPLE_DIR / "images").glob("*.jpg"))[0])
    threads, by_threads = torch.get_num_threads(), {}
    for n in (1, 2):
        torch.set_num_threads(n)
        by_threads[str(n)] = latency_ms(model, image, runs)
    torch.set_num_threads(threads)
    return {"median": max(by_threads.values()), "by_threads": by_threads, "runs": runs,
            "image_px": list(image.pixels.shape),
            "what": "ScopeModel.check (preprocessing, trunk, head, rules), median of 20 after a warm-up"}


def _samples(model: ScopeModel) -> dict[str, Any]:
    """Which bundled sample radiographs the shipped gate refuses (want none)."""
    from core.settings import SAMPLE_DIR

    paths = sorted((SAMPLE_DIR / "images").glob("*.jpg"))
    return {"n": len(paths), "refused": [p.name for p in paths if not model.check(load_image(p)).in_scope]}


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets against the measured figures."""
    groups = report["test_radiographs"]["groups"]
    worst = max(r["rate"] for r in groups.values())
    fams = {f: v["refused"]["rate"] for f, v in report["heldout_negatives"].items()}
    return {"radiographs_refused_at_most_1pct_in_every_group": worst <= 0.01, "worst_radiograph_group_rate": worst,
            "heldout_family_refused_at_least_98pct": {f: r >= 0.98 for f, r in fams.items()},
            "gate_adds_at_most_50ms": report["latency_ms"]["median"] <= 50 if "latency_ms" in report else None}


def _cpu_seconds() -> dict[str, float]:
    """CPU time of this process and of its finished workers: on an idle 2-core machine the wall time is
    about their sum over 2 (the wall time here also counts waiting for other jobs)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"main": round(me.ru_utime + me.ru_stime), "workers": round(kids.ru_utime + kids.ru_stime)}


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures copied into the gate's card."""
    return {"test_radiographs_refused_worst_group": report["targets"]["worst_radiograph_group_rate"],
            "test_radiographs_refused_plain": report["test_radiographs"]["groups"][PLAIN]["rate"],
            "heldout_refused": {f: v["refused"]["rate"] for f, v in report["heldout_negatives"].items()},
            "latency_ms": report["latency_ms"]["median"]}


@contextmanager
def single_threaded() -> Iterator[None]:
    """One torch and one BLAS thread in this process (on a shared 2-core CPU the embedding workers and
    other jobs use the cores; more threads here only spin). The thread count is restored after."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def run(cfg: FitConfig, command: str) -> dict[str, Any]:
    """Fit, write and measure the gate; returns the report (also written to `cfg.reports`/scope.json)."""
    with single_threaded():
        return _run(cfg, command)


def _run(cfg: FitConfig, command: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    full = tuple(dict.fromkeys(t for ts in cfg.feature_sets.values() for t in ts))
    trunk, provenance = load_trunk(cfg.init, full)
    if cfg.member is not None:
        provenance["first_blocks_vs_classifier_stem"] = stem_matches_member(trunk, cfg.member)
    model, info = fit_gate(trunk, PreprocessConfig(size=cfg.size), cfg)
    report = {"command": command, "size": cfg.size, "turns": cfg.turns, "threshold": model.threshold,
              "distance_threshold": model.distance_threshold if model.reference is not None else None,
              "target_val_refusal_per_group": cfg.target, "trunk": provenance, **info}
    report.update(measure(model, trunk, cfg))
    card_path = save_gate(model, card_for(model, provenance, info, command), cfg.out)
    loaded = ScopeModel.load(card_path)
    report["latency_ms"] = _latency(loaded, cfg.latency_runs)
    report["bundled_samples"] = _samples(loaded)
    report["targets"] = targets(report)
    report["gate_bytes"] = json.loads(card_path.read_text())["weights"]["bytes"]
    report["seconds_total"] = round(time.perf_counter() - t0)
    report["cpu_seconds"] = _cpu_seconds()
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "metrics": _summary(report)}, indent=2) + "\n")
    if cfg.reports is not None:
        cfg.reports.mkdir(parents=True, exist_ok=True)
        (cfg.reports / "scope.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def remeasure(cfg: FitConfig, gate: Path, command: str) -> dict[str, Any]:
    """An existing gate (an earlier one, say) measured with this protocol: test radiographs, held-out families."""
    model = ScopeModel.load(gate)
    cfg = replace(cfg, turns=model.turns)
    with single_threaded():
        report = {"command": command, "gate": str(gate), "gate_sha256": model.card["weights"]["sha256"],
                  "threshold": model.threshold, **measure(model, model.trunk, cfg)}
    return report | {"targets": targets(report)}


def main(argv: list[str] | None = None) -> int:
    """Fit and measure the out-of-scope gate; write weights/scope.json, its tensors and reports/scope.json."""
    from core.models.registry import get_spec
    from core.settings import cache_dir, data_dir, reports_dir, weights_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--init", type=Path, default=None, help="ImageNet EfficientNet-Lite0 (default: the registry's)")
    p.add_argument("--out", type=Path, default=None, help="where the gate goes (default weights/)")
    p.add_argument("--size", type=int, default=128, help="gate input size (px)")
    p.add_argument("--n-train", type=int, default=600, help="train radiographs")
    p.add_argument("--shifts-per-train-image", type=int, default=16,
                   help="random shift levels per train radiograph (each level then appears about n-train × this / 46 times)")
    p.add_argument("--n-val", type=int, default=200, help="val radiographs (0: all)")
    p.add_argument("--n-test", type=int, default=100, help="test radiographs (0: all)")
    p.add_argument("--fit-per-family", type=int, default=800)
    p.add_argument("--heldout-per-family", type=int, default=200)
    p.add_argument("--heldout-seeds", type=int, nargs="+", default=[0, 1],
                   help="draw every held-out family afresh with each of these seeds (the rates pool them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="single-threaded embedding processes")
    p.add_argument("--turns", type=int, default=1, choices=(1, 2, 4),
                   help="average each embedding over this many quarter turns of the input (cost: that many trunk passes)")
    p.add_argument("--feature-sets", nargs="+", choices=sorted(FEATURE_SETS), default=sorted(FEATURE_SETS),
                   help="candidate feature sets (default: all)")
    p.add_argument("--heads", nargs="+", choices=list(HEAD_NAMES), default=list(HEAD_NAMES),
                   help="candidate heads (default: all)")
    p.add_argument("--reports", type=Path, default=None, help="where reports/scope.json goes (default reports/)")
    p.add_argument("--no-cache", action="store_true", help="do not reuse or keep embeddings in .cache/scope")
    p.add_argument("--remeasure", type=Path, default=None, metavar="GATE_JSON",
                   help="fit nothing: measure this gate with the protocol above and write --remeasure-out")
    p.add_argument("--remeasure-out", type=Path, default=None, help="where --remeasure writes its report")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    init = args.init or get_spec("efficientnet_lite0").default_init_path()
    if init is None:
        raise SystemExit("no ImageNet EfficientNet-Lite0 file: pass --init (see ../shared/pretrained/PRETRAINED.md)")
    out = args.out or weights_dir()
    if (args.reports or reports_dir()).resolve() == out.resolve():
        raise SystemExit(f"--out and --reports are both {out}: the report would overwrite the gate's card (scope.json)")
    member = weights_dir() / "efficientnet_lite0.json"
    cfg = FitConfig(args.data or data_dir(), init, out, args.reports or reports_dir(), member if member.is_file() else None,
                    args.size, args.n_train, args.shifts_per_train_image, args.n_val or None, args.n_test or None,
                    fit_per_family=args.fit_per_family,
                    heldout_per_family=args.heldout_per_family, heldout_seeds=tuple(args.heldout_seeds), seed=args.seed,
                    workers=args.workers, turns=args.turns,
                    feature_sets={k: FEATURE_SETS[k] for k in args.feature_sets},
                    heads=tuple(HEAD_NAMES[h] for h in args.heads),
                    cache=None if args.no_cache else cache_dir().parent / "scope")
    command = "python -m core.training.scope_fit " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.remeasure is not None:
        if args.remeasure_out is None:
            raise SystemExit("--remeasure needs --remeasure-out (the shipped reports/scope.json is the fit's)")
        args.remeasure_out.write_text(json.dumps(remeasure(cfg, args.remeasure, command.strip()), indent=1) + "\n")
        return 0
    report = run(cfg, command.strip())
    log.info("scope gate: %s", json.dumps(report["targets"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
