"""What a training run is told (`TrainConfig`, frozen, built from argv by the CLI) and what it has
done so far (`TrainState`, checkpointed every epoch so a run can resume)."""
from __future__ import annotations

import argparse
import shlex
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from core.data.augment import AugmentConfig
from core.data.shifts import SHIFTS
from core.settings import cache_dir, data_dir

CANNY = ("none", "blend", "stack")
BALANCE = ("loss", "sampler", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run; the card records it."""

    model: str
    name: str = ""
    data: Path = field(default_factory=data_dir)
    init: str = "default"
    pretrained: bool = False
    no_freeze: bool = False
    canny: str = "none"
    size: int | None = None
    epochs: int = 20
    budget_min: float = 60.0
    views: int = 4
    shift_share: float = 0.0
    shift_max_level: int = 3
    shift_names: str = ""
    batch: int = 64
    lr: float = 1e-3
    wd: float = 0.05
    balance: str = "loss"
    label_smoothing: float = 0.1
    patience: int = 6
    seed: int = 0
    limit: int | None = None
    out: Path = Path("runs/models")
    run_dir: Path | None = None
    reports: Path = Path("reports")
    cache_dir: Path = field(default_factory=cache_dir)
    resume: bool = False
    threads: int = 2
    device: str = field(default_factory=lambda: "cuda" if torch.cuda.is_available() else "cpu")
    command: str = ""

    def __post_init__(self) -> None:
        if self.canny not in CANNY:
            raise ValueError(f"canny must be one of {CANNY}, got {self.canny!r}")
        if self.balance not in BALANCE:
            raise ValueError(f"balance must be one of {BALANCE}, got {self.balance!r}")
        for key in ("epochs", "views", "batch", "threads"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if not 0 <= self.shift_share <= 1:
            raise ValueError(f"shift_share must be within [0, 1], got {self.shift_share}")
        if self.shift_max_level not in (1, 2, 3):
            raise ValueError(f"shift_max_level must be 1, 2 or 3, got {self.shift_max_level}")
        unknown = sorted(set(self.shift_list()) - set(SHIFTS))
        if unknown:
            raise ValueError(f"shift_names has unknown shifts {unknown}; choose from {sorted(SHIFTS)}")
        if not self.name:
            object.__setattr__(self, "name", self.model)
        if self.run_dir is None:
            object.__setattr__(self, "run_dir", Path("runs") / self.name)

    def shift_list(self) -> tuple[str, ...]:
        """The shifts the shifted views draw from (empty: the whole catalogue)."""
        return tuple(n.strip() for n in self.shift_names.split(",") if n.strip())

    def augment_config(self) -> AugmentConfig:
        """The train-view augmentation these settings ask for."""
        return AugmentConfig(shift_share=self.shift_share, shift_max_level=self.shift_max_level,
                             shift_names=self.shift_list())

    def settings(self) -> dict[str, Any]:
        """The settings a card records (paths left out: they differ between machines)."""
        skip = {"data", "out", "run_dir", "reports", "cache_dir", "command", "resume"}
        return {k: v for k, v in asdict(self).items() if k not in skip}

    def with_(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @classmethod
    def from_argv(cls, argv: list[str]) -> TrainConfig:
        """Parse `python -m core.train` arguments."""
        ns = parser().parse_args(argv)
        values = {k.replace("-", "_"): v for k, v in vars(ns).items() if v is not None}
        return cls(**values, command="python -m core.train " + " ".join(shlex.quote(a) for a in argv))


def parser() -> argparse.ArgumentParser:
    """The command-line options, one per TrainConfig field (defaults come from the dataclass)."""
    p = argparse.ArgumentParser(prog="python -m core.train", description="Train one registry model.")
    helps = {"model": "registry architecture", "init": "'default', 'none' or a safetensors path",
             "budget_min": "wall-clock budget in minutes", "views": "cached augmented views of the train split",
             "shift_share": "share of augmented train views that also get a random shift of core.data.shifts",
             "shift_max_level": "which levels of each shift those draw from: 1 mild, 2 up to the middle, 3 all",
             "shift_names": "comma-separated shifts those draw from (default: the whole catalogue)",
             "limit": "use only the first N images of each split (smoke runs)",
             "device": "cpu or cuda (mixed precision on cuda)"}
    for f in fields(TrainConfig):
        if f.name == "command":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action="store_true", help=helps.get(f.name))
        else:
            kind = {"int": int, "float": float, "Path": Path, "int | None": int, "Path | None": Path}.get(str(f.type), str)
            p.add_argument(flag, type=kind, required=f.name == "model", default=None, help=helps.get(f.name))
    return p


@dataclass
class TrainState:
    """Progress of a run: epochs done, the best epoch and its weights, the log, time spent."""

    epochs: int
    epoch: int = 0
    best_auc: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    prior_s: float = 0.0
    elapsed_s: float = 0.0
    legs: int = 1
    stopped_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """For the checkpoint file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        """From a checkpoint file."""
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})
