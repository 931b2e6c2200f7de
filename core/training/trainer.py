"""Train one registry model: `python -m core.train --model NAME --data DIR ...`.

Pretrained models freeze their stem and train the later stages on cached stem activations
(one pass per augmented view); from-scratch models train end to end on augmented images.
Every epoch is checkpointed; `--resume` continues; `--budget-min` bounds the wall time.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from core.training import stem_cache
from core.settings import cache_dir, data_dir
from core.data.augment import AugmentConfig, augment
from core.data.fracatlas import load_gray_images, read_labels
from core.training.calibrate import finalize
from core.evaluation.metrics import roc_auc
from core.models.networks import FractureNet
from core.data.preprocess import PreprocessConfig, preprocess
from core.models.registry import create_model, get_spec

log = logging.getLogger("core.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="registry architecture")
    p.add_argument("--name", help="name of the trained model (default: the architecture)")
    p.add_argument("--data", type=Path, default=None, help="folder with images/ and labels.csv")
    p.add_argument("--init", default="default", help="'default', 'none' or a safetensors path")
    p.add_argument("--pretrained", action="store_true", help="start from a model hub (needs network)")
    p.add_argument("--no-freeze", action="store_true", help="train end to end even with a start")
    p.add_argument("--canny", default="none", choices=["none", "blend", "stack"])
    p.add_argument("--size", type=int, help="input size (default: the registry's)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--budget-min", type=float, default=60.0, help="wall-clock budget in minutes")
    p.add_argument("--views", type=int, default=4, help="cached augmented views of the train split")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--balance", default="loss", choices=["loss", "sampler", "none"])
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="use only the first N images of each split (smoke runs)")
    p.add_argument("--out", type=Path, default=Path("runs/models"), help="where weights and card go")
    p.add_argument("--run-dir", type=Path, help="checkpoints and logs (default runs/NAME)")
    p.add_argument("--reports", type=Path, default=Path("reports"), help="cards/ and predictions/ go here")
    p.add_argument("--cache-dir", type=Path, default=None, help="frozen-stem activation cache")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu or cuda (mixed precision on cuda)")
    args = p.parse_args(argv)
    args.name = args.name or args.model
    args.data = args.data or data_dir()
    args.cache_dir = args.cache_dir or cache_dir()
    args.run_dir = args.run_dir or Path("runs") / args.name
    return args


@dataclass
class Split:
    """One split's images, labels and names."""

    names: list[str]
    grays: list[np.ndarray]
    y: np.ndarray


class Source:
    """Model inputs for a split: cached stem activations or images preprocessed on the fly."""

    def __init__(self, get: Callable[[np.ndarray, int], torch.Tensor], n: int):
        self.get, self.n = get, n


def load_splits(args: argparse.Namespace) -> dict[str, Split]:
    """Read labels and images of train, val and test into memory."""
    out = {}
    for split in ("train", "val", "test"):
        df = read_labels(args.data / "labels.csv", split)
        if args.limit:
            df = df.groupby("fractured", group_keys=False).head(args.limit // 2).reset_index(drop=True)
        names = df["image"].tolist()
        out[split] = Split(names, load_gray_images(args.data / "images", names), df["fractured"].to_numpy())
    return out


def cached_sources(net: FractureNet, args: argparse.Namespace, cfg: PreprocessConfig,
                   splits: dict[str, Split], init_id: str) -> dict[str, list[np.ndarray]]:
    """Stem activations for every view of every split, from the disk cache or computed once."""
    views = {"train": [f"aug{i}" for i in range(args.views)], "val": ["plain", "flip"],
             "test": ["plain", "flip"]}
    out = {}
    for split, names in views.items():
        s = splits[split]
        out[split] = [stem_cache.cached_stem(net, stem_cache.cache_key(args.model, init_id, cfg, s.names, v, args.seed),
                                        s.grays, cfg, v, args.seed, args.cache_dir) for v in names]
    return out


def make_train_source(args: argparse.Namespace, cfg: PreprocessConfig, split: Split,
                      arrays: list[np.ndarray] | None) -> Source:
    """Training inputs: a random cached view per image, or a fresh augmentation per epoch."""
    def from_cache(idx: np.ndarray, epoch: int) -> torch.Tensor:
        rng = np.random.default_rng([args.seed, epoch, 7])
        choice = rng.integers(0, len(arrays), len(split.y))[idx]
        return torch.from_numpy(np.stack([arrays[c][i] for c, i in zip(choice, idx)]).astype(np.float32))

    def from_images(idx: np.ndarray, epoch: int) -> torch.Tensor:
        imgs = [augment(split.grays[i], np.random.default_rng([args.seed, epoch, int(i)]), AugmentConfig())
                for i in idx]
        return torch.from_numpy(np.stack([preprocess(g, cfg)[0] for g in imgs]))

    return Source(from_cache if arrays is not None else from_images, len(split.y))


def eval_scores(net: FractureNet, arrays: list[np.ndarray] | None, split: Split,
                cfg: PreprocessConfig, batch: int) -> np.ndarray:
    """Validation log-odds (plain + mirrored view averaged), from the cache when there is one."""
    from core.models.scoring import logit_margin, score_images

    if arrays is None:
        return score_images(net, split.grays, cfg, tta=True, batch=batch)
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


def train_epoch(net: FractureNet, src: Source, y: np.ndarray, opt: torch.optim.Optimizer,
                sched: torch.optim.lr_scheduler.LRScheduler, loss_fn: nn.Module,
                args: argparse.Namespace, epoch: int, cached: bool) -> float:
    """One pass over the training split; returns the mean loss."""
    net.train()
    if cached:
        net.stem.eval()
    order = epoch_order(y, args.balance, np.random.default_rng([args.seed, epoch]))
    forward = net.forward_from_stem if cached else net.forward
    dev = next(net.parameters()).device
    scaler = torch.amp.GradScaler(enabled=dev.type == "cuda")
    losses = []
    bar = tqdm(range(0, len(order), args.batch), desc=f"epoch {epoch}", unit="batch", leave=False, mininterval=10)
    for start in bar:
        idx = order[start:start + args.batch]
        if len(idx) < 2:
            continue
        with torch.autocast(dev.type, enabled=dev.type == "cuda"):
            loss = loss_fn(forward(src.get(idx, epoch).to(dev)), torch.from_numpy(y[idx]).long().to(dev))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
    return float(np.mean(losses)) if losses else float("nan")


def build(args: argparse.Namespace) -> tuple[FractureNet, PreprocessConfig, dict, bool]:
    """The network, its preprocessing, a record of its starting point, and whether the stem is frozen."""
    from core.models.weights import sha256

    spec = get_spec(args.model)
    init = spec.default_init_path() if args.init == "default" else (None if args.init == "none" else Path(args.init))
    net = create_model(args.model, init=init, pretrained=args.pretrained).to(memory_format=torch.channels_last)
    overrides = {"canny": args.canny} | ({"size": args.size} if args.size else {})
    cfg = spec.preprocess_config(**overrides)
    start = {"file": init.name if init else None, "sha256": sha256(init) if init else None,
             "hub": bool(args.pretrained)}
    frozen = (init is not None or args.pretrained) and not args.no_freeze
    start["frozen_stem"] = frozen
    if frozen:
        net.freeze_stem()
    return net, cfg, start, frozen


def main(argv: list[str] | None = None) -> int:
    """Train, checkpoint every epoch, then calibrate on val and write weights, card and predictions."""
    args = parse_args(argv)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(args.run_dir / "train.log")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    net, cfg, start, frozen = build(args)
    net.to(args.device)
    splits = load_splits(args)
    arrays = cached_sources(net, args, cfg, splits, start["sha256"] or "hub") if frozen else None
    src = make_train_source(args, cfg, splits["train"], arrays["train"] if arrays else None)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.wd)
    steps = args.epochs * -(-src.n // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(steps, 1), pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(splits["train"].y, args.balance),
                                  label_smoothing=args.label_smoothing)
    state = _resume(args, net, opt, sched)
    history = _fit(net, args, src, splits, arrays, cfg, opt, sched, loss_fn, frozen, state, t0)
    net.load_state_dict(history["best_state"])
    val_arrays, test_arrays = (arrays["val"], arrays["test"]) if arrays else (None, None)
    scores = {s: eval_scores(net, a, splits[s], cfg, args.batch)
              for s, a in (("val", val_arrays), ("test", test_arrays))}
    card = finalize(net, args, cfg, start, splits, scores, history, history["prior_s"] + time.time() - t0,
                    command="python -m core.train " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])))
    log.info("done: %s val AUC %.4f test AUC %.4f", card["name"],
             card["metrics"]["val"]["roc_auc"], card["metrics"]["test"]["roc_auc"])
    return 0


def _fit(net, args, src, splits, arrays, cfg, opt, sched, loss_fn, frozen, state, t0) -> dict:
    """Epoch loop with early stopping on val ROC-AUC, checkpoints and the wall-clock budget."""
    budget = args.budget_min * 60
    state["stopped_by"] = "schedule complete"
    for epoch in range(state["epoch"], args.epochs):
        e0 = time.time()
        loss = train_epoch(net, src, splits["train"].y, opt, sched, loss_fn, args, epoch, frozen)
        auc = roc_auc(splits["val"].y, eval_scores(net, arrays["val"] if arrays else None, splits["val"], cfg, args.batch))
        state["epoch"] = epoch + 1
        if auc > state["best_auc"]:
            state.update(best_auc=auc, best_epoch=epoch + 1,
                         best_state={k: v.detach().clone() for k, v in net.state_dict().items()})
        row = {"epoch": epoch + 1, "loss": loss, "val_auc": auc, "lr": sched.get_last_lr()[0],
               "seconds": round(time.time() - e0, 1)}
        state["log"].append(row)
        log.info("epoch %d loss %.4f val_auc %.4f (best %.4f @ %d) %.0fs", epoch + 1, loss, auc,
                 state["best_auc"], state["best_epoch"], row["seconds"])
        state["elapsed_s"] = state["prior_s"] + time.time() - t0  # summed over resumed legs
        torch.save({"state": state, "model": net.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict()}, args.run_dir / "last.pt")
        with open(args.run_dir / "epochs.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if epoch + 1 - state["best_epoch"] >= args.patience:
            log.info("early stop: no val AUC gain for %d epochs", args.patience)
            state["stopped_by"] = f"early stop (no val AUC gain for {args.patience} epochs)"
            break
        if epoch + 1 < args.epochs and time.time() - t0 + row["seconds"] > budget:
            log.info("stopping: the %.0f-minute budget would be exceeded", args.budget_min)
            state["stopped_by"] = f"wall-clock budget ({args.budget_min:g} min)"
            break
    if state["best_state"] is None:
        state["best_state"] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return state


def _resume(args, net, opt, sched) -> dict:
    """Continue from runs/NAME/last.pt with --resume; a fresh state otherwise."""
    ckpt = args.run_dir / "last.pt"
    if args.resume and ckpt.is_file():
        saved = torch.load(ckpt, weights_only=False)
        if saved["state"].get("epochs") != args.epochs:
            raise SystemExit(f"--epochs {args.epochs} differs from the checkpoint's "
                             f"{saved['state'].get('epochs')}: resume with the same schedule")
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        log.info("resumed from %s at epoch %d", ckpt, saved["state"]["epoch"])
        state = saved["state"]
        state["prior_s"] = state.get("elapsed_s", 0.0)
        state["legs"] = state.get("legs", 1) + 1
        return state
    (args.run_dir / "epochs.jsonl").unlink(missing_ok=True)
    return {"epochs": args.epochs, "epoch": 0, "best_auc": -1.0, "best_epoch": 0, "best_state": None, "log": [],
            "prior_s": 0.0, "elapsed_s": 0.0, "legs": 1}


def _setup_logging(path: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(path)])


if __name__ == "__main__":
    raise SystemExit(main())
