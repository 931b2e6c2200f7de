"""Train one registry model: `python -m core.train --model NAME --data DIR ...`.

Pretrained models freeze their stem and train the later stages on cached stem activations
(one pass per augmented view); from-scratch models train end to end on augmented images.
Every epoch is checkpointed; `--resume` continues; `--budget-min` bounds the wall time.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from core.data.augment import augment
from core.data.fracatlas import load_gray_images, read_labels
from core.data.preprocess import PreprocessConfig, preprocess
from core.evaluation.metrics import roc_auc
from core.models.networks import FractureNet
from core.models.registry import create_model, get_spec
from core.models.scoring import logit_margin, score_images
from core.training import stem_cache
from core.training.calibrate import StartPoint, finalize
from core.training.config import TrainConfig, TrainState
from core.training.reproducibility import make_deterministic

log = logging.getLogger("core.train")


@dataclass
class Split:
    """One split's images, labels and names."""

    names: list[str]
    grays: list[np.ndarray]
    y: np.ndarray


@dataclass
class Source:
    """Model inputs for the train split: cached stem activations or images preprocessed on the fly."""

    get: Callable[[np.ndarray, int], torch.Tensor]
    n: int


@dataclass
class Run:
    """Everything one training run works with, built once by `prepare`."""

    tc: TrainConfig
    net: FractureNet
    pcfg: PreprocessConfig
    start: StartPoint
    splits: dict[str, Split]
    arrays: dict[str, list[np.ndarray]] | None
    src: Source
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    loss_fn: nn.Module

    @property
    def cached(self) -> bool:
        """Whether the stem is frozen and its activations come from the cache."""
        return self.arrays is not None

    def val_scores(self, split: str = "val") -> np.ndarray:
        """Log-odds of a split (plain + mirrored view averaged)."""
        arrays = self.arrays[split] if self.arrays else None
        return eval_scores(self.net, arrays, self.splits[split], self.pcfg, self.tc.batch)


def load_splits(tc: TrainConfig) -> dict[str, Split]:
    """Read labels and images of train, val and test into memory."""
    out = {}
    for split in ("train", "val", "test"):
        df = read_labels(tc.data / "labels.csv", split)
        if tc.limit:
            df = df.groupby("fractured", group_keys=False).head(tc.limit // 2).reset_index(drop=True)
        names = df["image"].tolist()
        out[split] = Split(names, load_gray_images(tc.data / "images", names), df["fractured"].to_numpy())
    return out


def cached_sources(net: FractureNet, tc: TrainConfig, pcfg: PreprocessConfig,
                   splits: dict[str, Split], init_id: str) -> dict[str, list[np.ndarray]]:
    """Stem activations for every view of every split, from the disk cache or computed once."""
    views = {"train": [f"aug{i}" for i in range(tc.views)], "val": ["plain", "flip"], "test": ["plain", "flip"]}
    out = {}
    for split, names in views.items():
        s = splits[split]
        aug = tc.augment_config()
        out[split] = [stem_cache.cached_stem(net, stem_cache.cache_key(tc.model, init_id, pcfg, s.names, v, tc.seed, aug),
                                             s.grays, pcfg, v, tc.seed, tc.cache_dir, aug=aug) for v in names]
    return out


def make_train_source(tc: TrainConfig, pcfg: PreprocessConfig, split: Split,
                      arrays: list[np.ndarray] | None) -> Source:
    """Training inputs: a random cached view per image, or a fresh augmentation per epoch."""
    def from_cache(idx: np.ndarray, epoch: int) -> torch.Tensor:
        rng = np.random.default_rng([tc.seed, epoch, 7])
        choice = rng.integers(0, len(arrays), len(split.y))[idx]
        return torch.from_numpy(np.stack([arrays[c][i] for c, i in zip(choice, idx)]).astype(np.float32))

    def from_images(idx: np.ndarray, epoch: int) -> torch.Tensor:
        imgs = [augment(split.grays[i], np.random.default_rng([tc.seed, epoch, int(i)]),
                        tc.augment_config())
                for i in idx]
        return torch.from_numpy(np.stack([preprocess(g, pcfg)[0] for g in imgs]))

    return Source(from_cache if arrays is not None else from_images, len(split.y))


def eval_scores(net: FractureNet, arrays: list[np.ndarray] | None, split: Split,
                pcfg: PreprocessConfig, batch: int) -> np.ndarray:
    """Validation log-odds (plain + mirrored view averaged), from the cache when there is one."""
    if arrays is None:
        return score_images(net, split.grays, pcfg, tta=True, batch=batch)
    net.eval()
    dev = next(net.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(split.y), batch):
            m = [logit_margin(net.forward_from_stem(torch.from_numpy(a[start:start + batch].astype(np.float32)).to(dev)))
                 for a in arrays]
            out.append(torch.stack(m).mean(0).float().cpu().numpy())
    return np.concatenate(out)


def class_weights(y: np.ndarray, mode: str) -> torch.Tensor | None:
    """Inverse-frequency class weights for the loss (mode 'loss'), else None."""
    if mode != "loss":
        return None
    counts = np.bincount(y, minlength=2).astype(float)
    return torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32)


def epoch_order(y: np.ndarray, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Sample order for one epoch: a shuffle, or a class-balanced draw with replacement."""
    if mode != "sampler":
        return rng.permutation(len(y))
    w = np.where(y == 1, 1 / max(y.sum(), 1), 1 / max((1 - y).sum(), 1))
    return rng.choice(len(y), len(y), replace=True, p=w / w.sum())


def train_epoch(run: Run, epoch: int) -> float:
    """One pass over the training split; returns the mean loss."""
    net, tc, y = run.net, run.tc, run.splits["train"].y
    net.train()
    if run.cached:
        net.stem.eval()
    order = epoch_order(y, tc.balance, np.random.default_rng([tc.seed, epoch]))
    forward = net.forward_from_stem if run.cached else net.forward
    dev = next(net.parameters()).device
    scaler = torch.amp.GradScaler(enabled=dev.type == "cuda")
    losses = []
    bar = tqdm(range(0, len(order), tc.batch), desc=f"epoch {epoch}", unit="batch", leave=False, mininterval=10)
    for start in bar:
        idx = order[start:start + tc.batch]
        if len(idx) < 2:
            continue
        with torch.autocast(dev.type, enabled=dev.type == "cuda"):
            loss = run.loss_fn(forward(run.src.get(idx, epoch).to(dev)), torch.from_numpy(y[idx]).long().to(dev))
        run.opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(run.opt)
        scaler.update()
        run.sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
    return float(np.mean(losses)) if losses else float("nan")


def build(tc: TrainConfig) -> tuple[FractureNet, PreprocessConfig, StartPoint]:
    """The network, its preprocessing and a record of its starting point (frozen stem or not)."""
    from core.models.weights import sha256

    spec = get_spec(tc.model)
    init = spec.default_init_path() if tc.init == "default" else (None if tc.init == "none" else Path(tc.init))
    net = create_model(tc.model, init=init, pretrained=tc.pretrained).to(memory_format=torch.channels_last)
    pcfg = spec.preprocess_config(canny=tc.canny, **({"size": tc.size} if tc.size else {}))
    frozen = (init is not None or tc.pretrained) and not tc.no_freeze
    if frozen:
        net.freeze_stem()
    start = StartPoint(init.name if init else None, sha256(init) if init else None, tc.pretrained, frozen)
    return net, pcfg, start


def prepare(tc: TrainConfig) -> Run:
    """Build the network, read the data, fill the stem cache and set up the optimiser."""
    net, pcfg, start = build(tc)
    net.to(tc.device)
    splits = load_splits(tc)
    arrays = cached_sources(net, tc, pcfg, splits, start.sha256 or "hub") if start.frozen_stem else None
    src = make_train_source(tc, pcfg, splits["train"], arrays["train"] if arrays else None)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=tc.lr, weight_decay=tc.wd)
    steps = tc.epochs * -(-src.n // tc.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=max(steps, 1), pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(splits["train"].y, tc.balance),
                                  label_smoothing=tc.label_smoothing)
    return Run(tc, net, pcfg, start, splits, arrays, src, opt, sched, loss_fn)


def train(tc: TrainConfig) -> ModelCard:  # noqa: F821 (the card type lives in core.models.cards)
    """Train, checkpoint every epoch, then calibrate on val and write weights, card and predictions."""
    tc.run_dir.mkdir(parents=True, exist_ok=True)
    environment = make_deterministic(tc.seed, tc.threads)
    t0 = time.time()
    run = prepare(tc)
    state = fit(run, resume(run), t0)
    run.net.load_state_dict(state.best_state)
    scores = {s: run.val_scores(s) for s in ("val", "test")}
    card = finalize(run, scores, state, state.prior_s + time.time() - t0, environment)
    log.info("done: %s val AUC %.4f test AUC %.4f", card.name, card.split("val")["roc_auc"],
             card.split("test")["roc_auc"])
    return card


def fit(run: Run, state: TrainState, t0: float) -> TrainState:
    """Epoch loop with early stopping on val ROC-AUC, checkpoints and the wall-clock budget."""
    tc = run.tc
    state.stopped_by = "schedule complete"
    for epoch in range(state.epoch, tc.epochs):
        e0 = time.time()
        loss = train_epoch(run, epoch)
        auc = roc_auc(run.splits["val"].y, run.val_scores())
        state.epoch = epoch + 1
        if auc > state.best_auc:
            state.best_auc, state.best_epoch = auc, epoch + 1
            state.best_state = {k: v.detach().clone() for k, v in run.net.state_dict().items()}
        row = {"epoch": epoch + 1, "loss": loss, "val_auc": auc, "lr": run.sched.get_last_lr()[0],
               "seconds": round(time.time() - e0, 1)}
        state.log.append(row)
        log.info("epoch %d loss %.4f val_auc %.4f (best %.4f @ %d) %.0fs", epoch + 1, loss, auc,
                 state.best_auc, state.best_epoch, row["seconds"])
        state.elapsed_s = state.prior_s + time.time() - t0  # summed over resumed legs
        checkpoint(run, state, row)
        state.stopped_by = stop_reason(tc, state, epoch, time.time() - t0 + row["seconds"])
        if state.stopped_by != "schedule complete":
            log.info("stopping: %s", state.stopped_by)
            break
    if state.best_state is None:
        state.best_state = {k: v.detach().clone() for k, v in run.net.state_dict().items()}
    return state


def stop_reason(tc: TrainConfig, state: TrainState, epoch: int, projected_s: float) -> str:
    """Why training stops after this epoch, or 'schedule complete' to go on (or having finished)."""
    if epoch + 1 - state.best_epoch >= tc.patience:
        return f"early stop (no val AUC gain for {tc.patience} epochs)"
    if epoch + 1 < tc.epochs and projected_s > tc.budget_min * 60:
        return f"wall-clock budget ({tc.budget_min:g} min)"
    return "schedule complete"


def checkpoint(run: Run, state: TrainState, row: dict) -> None:
    """Save model, optimiser, schedule and state (runs/NAME/last.pt) and append the epoch's log line."""
    torch.save({"state": state.to_dict(), "model": run.net.state_dict(), "opt": run.opt.state_dict(),
                "sched": run.sched.state_dict()}, run.tc.run_dir / "last.pt")
    with open(run.tc.run_dir / "epochs.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def resume(run: Run) -> TrainState:
    """Continue from runs/NAME/last.pt with --resume; a fresh state otherwise."""
    tc = run.tc
    ckpt = tc.run_dir / "last.pt"
    if not (tc.resume and ckpt.is_file()):
        (tc.run_dir / "epochs.jsonl").unlink(missing_ok=True)
        return TrainState(epochs=tc.epochs)
    saved = torch.load(ckpt, weights_only=False)
    state = TrainState.from_dict(saved["state"])
    if state.epochs != tc.epochs:
        raise ValueError(f"--epochs {tc.epochs} differs from the checkpoint's {state.epochs}: "
                         "resume with the same schedule")
    run.net.load_state_dict(saved["model"])
    run.opt.load_state_dict(saved["opt"])
    run.sched.load_state_dict(saved["sched"])
    log.info("resumed from %s at epoch %d", ckpt, state.epoch)
    state.prior_s, state.legs = state.elapsed_s, state.legs + 1
    return state


def _setup_logging(path: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(path)])


def main(argv: list[str] | None = None) -> int:
    """The CLI: build a TrainConfig from argv and train."""
    tc = TrainConfig.from_argv(list(sys.argv[1:] if argv is None else argv))
    tc.run_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(tc.run_dir / "train.log")
    train(tc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
