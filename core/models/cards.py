"""Model cards: one typed, validated record per trained model (and one for the ensemble).

A card is written beside its weights (`weights/NAME.json`) and kept in `reports/cards/`. It says
what the model is (architecture, preprocessing, starting weights), how it was trained, how its
scores are calibrated, where its operating points lie and what it measured on val and test.
Older card formats are migrated in one place, `migrate`, when a card is read.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.data.preprocess import PreprocessConfig
from core.errors import WeightsError
from core.models.calibration import BoxFusion, Calibration

FORMAT_VERSION = 2
HIGH_SENSITIVITY = "high_sensitivity"
BALANCED = "balanced"
OPERATING_POINTS = (HIGH_SENSITIVITY, BALANCED)
KINDS = ("model", "ensemble")


@dataclass(frozen=True)
class WeightsFile:
    """The float16 safetensors file a card pins."""

    file: str
    sha256: str
    bytes: int
    dtype: str = "float16"


@dataclass(frozen=True)
class TrainingRecord:
    """How a model was trained: the exact command, its settings and what happened per epoch."""

    command: str
    seed: int
    epochs_run: int
    best_epoch: int
    wall_time_s: float
    log: list[dict[str, Any]] = field(default_factory=list)
    legs: int = 1
    wall_time_is_lower_bound: bool = False
    budget_min: float | None = None
    stopped_by: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def minutes(self) -> float:
        """Training wall time in minutes (summed over resumed legs)."""
        return self.wall_time_s / 60


@dataclass(frozen=True)
class ModelCard:
    """Everything known about one trained model or the ensemble; `metrics[split]` is a
    `core.evaluation.summary.summarize` result (ROC-AUC with CI, operating points, ECE, ...)."""

    name: str
    kind: str
    calibration: Calibration
    thresholds: dict[str, float]
    metrics: dict[str, dict[str, Any]]
    architecture: str | None = None
    preprocess: PreprocessConfig | None = None
    weights: WeightsFile | None = None
    training: TrainingRecord | None = None
    members: tuple[str, ...] = ()
    member_weights: tuple[float, ...] = ()
    params: int | None = None
    created: str = ""
    description: str = ""
    init: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    tta_hflip: bool = True
    uncertainty: dict[str, Any] = field(default_factory=dict)
    operating_point_uncertainty: dict[str, Any] = field(default_factory=dict)
    box_fusion: BoxFusion | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"card kind must be one of {KINDS}, got {self.kind!r}")
        missing = [op for op in OPERATING_POINTS if op not in self.thresholds]
        if missing:
            raise ValueError(f"card {self.name!r} lacks thresholds for {missing}")
        if self.kind == "model" and (self.architecture is None or self.preprocess is None):
            raise ValueError(f"model card {self.name!r} needs an architecture and its preprocessing")
        if self.kind == "ensemble" and len(self.members) != len(self.member_weights):
            raise ValueError(f"ensemble card {self.name!r}: {len(self.members)} members but "
                             f"{len(self.member_weights)} weights")

    @property
    def is_ensemble(self) -> bool:
        """Whether this card describes the ensemble rather than one network."""
        return self.kind == "ensemble"

    def split(self, split: str) -> dict[str, Any]:
        """The measured figures of one split ('val' or 'test')."""
        if split not in self.metrics:
            raise ValueError(f"card {self.name!r} has no figures for split {split!r}; has {sorted(self.metrics)}")
        return self.metrics[split]

    def point(self, op: str, split: str = "test") -> dict[str, Any]:
        """Confusion counts and rates of one operating point on one split."""
        return self.split(split)["operating_points"][op]

    def with_(self, **changes: Any) -> ModelCard:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what `write_card` stores)."""
        out: dict[str, Any] = {"format_version": self.format_version, "name": self.name, "kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in out or f.name == "extra" or value in (None, (), {}, ""):
                continue
            out[f.name] = _plain(value)
        out["calibration"] = self.calibration.to_dict()
        return out | self.extra


def _plain(value: Any) -> Any:
    if isinstance(value, PreprocessConfig):
        return value.to_dict()
    if isinstance(value, BoxFusion):
        return value.to_dict()
    if isinstance(value, (WeightsFile, TrainingRecord)):
        return asdict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def migrate(d: dict[str, Any]) -> dict[str, Any]:
    """Bring an older card's dict to the current format (the one place that knows old formats).

    Version 1 (no `format_version`): the ensemble had `kind`, single models none; the first cards
    held a bare `temperature`; `training` held its settings inline; a card of a resumed run written
    before `legs` existed timed only its last leg, so its wall time is raised to the sum of its
    epochs' seconds and marked as a lower bound.
    """
    d = dict(d)
    version = int(d.get("format_version", 1))
    if version > FORMAT_VERSION:
        raise WeightsError(f"card {d.get('name')!r} has format {version}; this version reads up to {FORMAT_VERSION}")
    if version == 1:
        d.setdefault("kind", "model")
        if "calibration" not in d:
            d["calibration"] = {"temperature": d.pop("temperature", 1.0), "bias": 0.0}
        d.pop("temperature", None)
        if isinstance(d.get("training"), dict):
            d["training"] = _migrate_training(d["training"])
        d["format_version"] = FORMAT_VERSION
    return d


_RECORD_KEYS = {f.name for f in fields(TrainingRecord)}


def _migrate_training(t: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in t.items() if k in _RECORD_KEYS}
    out["settings"] = {k: v for k, v in t.items() if k not in _RECORD_KEYS} | t.get("settings", {})
    if "--resume" in t.get("command", "") and "legs" not in t:
        epochs = sum(r.get("seconds", 0.0) for r in t.get("log", []))
        out["wall_time_s"] = max(float(t["wall_time_s"]), epochs)
        out["wall_time_is_lower_bound"] = True
    return out


_KNOWN = {f.name for f in fields(ModelCard)}


def card_from_dict(d: dict[str, Any], source: str = "card") -> ModelCard:
    """Validate and type a card dict (migrating older formats); WeightsError names what is wrong."""
    d = migrate(d)
    try:
        return ModelCard(
            name=d["name"], kind=d["kind"], calibration=Calibration.from_dict(d["calibration"]),
            thresholds={k: float(v) for k, v in d["thresholds"].items()}, metrics=d.get("metrics", {}),
            architecture=d.get("architecture"),
            preprocess=PreprocessConfig.from_dict(d["preprocess"]) if "preprocess" in d else None,
            weights=WeightsFile(**d["weights"]) if "weights" in d else None,
            training=TrainingRecord(**d["training"]) if "training" in d else None,
            members=tuple(d.get("members", ())), member_weights=tuple(float(w) for w in d.get("member_weights", ())),
            params=d.get("params"), created=d.get("created", ""), description=d.get("description", ""),
            init=d.get("init", {}), data=d.get("data", {}), tta_hflip=bool(d.get("tta_hflip", True)),
            uncertainty=d.get("uncertainty", {}), operating_point_uncertainty=d.get("operating_point_uncertainty", {}),
            box_fusion=BoxFusion.from_dict(d["box_fusion"]) if "box_fusion" in d else None,
            extra={k: v for k, v in d.items() if k not in _KNOWN})
    except KeyError as exc:
        raise WeightsError(f"model card {source} lacks {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"model card {source} is not valid: {exc}") from exc


def read_json_object(path: str | Path, what: str = "model card") -> dict[str, Any]:
    """A card file's JSON object; WeightsError names the file when it is unreadable or not an object."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{what} {Path(path).name} cannot be read: {exc}") from exc
    if not isinstance(d, dict):
        raise WeightsError(f"{what} {Path(path).name} is not a JSON object")
    return d


def read_card(path: str | Path) -> ModelCard:
    """Read and validate a card file; WeightsError if it is unreadable or incomplete."""
    return card_from_dict(read_json_object(path), Path(path).name)


def write_card(card: ModelCard, path: str | Path) -> None:
    """Write a card as pretty JSON."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(card.to_dict(), indent=2, default=float) + "\n")
