"""Verdicts for images: `python -m core.predict FILE... [--json] [--operating-point balanced]`.

A rejected file is a result with an error message, not a crash: the exit code is 0 unless the
command itself was misused.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.dicom_header import header_summary
from core.data.loading import LoadedImage, load_image
from core.data.polarity import upright
from core.data.preprocess import PreprocessConfig, model_view
from core.data.quality import QUALITY_CARD, QualityCard
from core.ensemble.combine import ENSEMBLE_CARD, agreement, combine, to_logit
from core.ensemble.uncertainty import flags
from core.errors import InputError, WeightsError
from core.models.calibration import Calibration
from core.models.cards import HIGH_SENSITIVITY, OPERATING_POINTS, ModelCard, read_card
from core.models.explain import CAM_METHODS, heatmap, overlay, resize_map
from core.models.localizer import LOCALIZER_CARD, Localizer, LocalizerCard, load_localizer, localize_with_evidence
from core.models.networks import FractureNet
from core.models.orientation import ORIENTATION_CARD, Orientation, grid_features, load_orientation, turn, turn_box
from core.models.registry import ModelSpec, get_spec
from core.models.scoring import score_images
from core.models.weights import find_cards, load_model
from core.serving import wording
from core.serving.scope import ScopeModel
from core.serving.verdict import FoundBox, MemberResult, Result
from core.settings import weights_dir as default_weights_dir

log = logging.getLogger(__name__)
HEATMAP_METHODS = tuple(CAM_METHODS)
TOP_BOX = "localizer top box score"  # the key of the top box scores beside members' scores in batch evaluations


@dataclass
class Member:
    """One loaded model with its card (calibration, thresholds, preprocessing)."""

    name: str
    net: FractureNet
    card: ModelCard
    cfg: PreprocessConfig
    spec: ModelSpec
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def calibration(self) -> Calibration:
        """The val-fitted map from this model's log-odds to a probability."""
        return self.card.calibration

    @property
    def thresholds(self) -> dict[str, float]:
        """This model's own operating points (probability thresholds)."""
        return self.card.thresholds

    def logit(self, gray: np.ndarray) -> float:
        """Uncalibrated log-odds of 'fractured' for one image (the score the card was fitted on)."""
        with self.lock, torch.inference_mode():
            return float(score_images(self.net, [gray], self.cfg, tta=self.card.tta_hflip)[0])

    def probability(self, gray: np.ndarray) -> float:
        """Calibrated probability of 'fractured' for one image."""
        return float(self.calibration(np.array([self.logit(gray)]))[0])

    def heatmap(self, gray: np.ndarray, method: str = "Grad-CAM") -> np.ndarray:
        """Where this model looked for 'fractured', on the original image grid, in [0, 1]."""
        with self.lock:
            return heatmap(self.net, self.spec.target_layer(self.net), gray, self.cfg, method)


@dataclass
class Finder:
    """The loaded fracture localiser with its card (box-score thresholds of both operating points)."""

    net: Localizer
    card: LocalizerCard
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path) -> Finder | None:
        """The shipped localiser, or None (with a log line) when there is none."""
        if not path.is_file():
            log.info("no fracture localiser (%s is missing): verdicts come without boxes", path)
            return None
        return cls(*load_localizer(path))

    @property
    def sha256(self) -> str:
        """The sha256 of the loaded weights file (what a fused ensemble card names)."""
        return self.card.weights.sha256 if self.card.weights else ""

    def find(self, gray: np.ndarray) -> tuple[float, list[FoundBox]]:
        """The image's top box score at the trained size (the verdict's evidence; 0 when none) and the boxes
        (fused over the card's sizes) that pass the high-sensitivity box threshold."""
        t = self.card.thresholds
        with self.lock, torch.inference_mode():
            top, found = localize_with_evidence(self.net, gray, self.card)
        return top, [FoundBox([round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)], round(score, 4),
                              "balanced" if score >= t["balanced"] else HIGH_SENSITIVITY)
                     for (x, y, w, h), score in found if score >= t[HIGH_SENSITIVITY]]

    def boxes(self, gray: np.ndarray) -> list[FoundBox]:
        """Boxes that pass the high-sensitivity box threshold, highest score first."""
        return self.find(gray)[1]


class Predictor:
    """Loads every model in a weights folder once; answers per image."""

    def __init__(self, weights_dir: str | Path | None = None):
        self.weights_dir = Path(weights_dir) if weights_dir is not None else default_weights_dir()
        self.members = [self._load(c) for c in find_cards(self.weights_dir)]
        self.ensemble = self._ensemble_card()
        self.scope = self._scope(self.weights_dir / "scope.json")
        self.localizer = Finder.load(self.weights_dir / LOCALIZER_CARD)
        self._check_fusion()
        self.orientation = self._orientation(self.weights_dir / ORIENTATION_CARD)
        self.quality = self._quality(self.weights_dir / QUALITY_CARD)

    @staticmethod
    def _quality(path: Path) -> QualityCard | None:
        """The image-quality check, if shipped; a damaged card is a WeightsError."""
        if not path.is_file():
            return None
        try:
            return QualityCard.read(path)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise WeightsError(f"the image-quality check {path.name} cannot be read: {exc}") from exc

    def assess(self, image: LoadedImage, operating_point: str = HIGH_SENSITIVITY) -> LoadedImage:
        """The image with its quality measurements in its meta and a caution per degradation the check flags."""
        if self.quality is None:
            return image
        values = self.quality.measure(image.pixels)
        flagged = self.quality.flags(values)
        q = self.quality
        notes = [wording.degraded(n, values[n], q.thresholds[n], q.effects.get(n), operating_point, 1 - q.quantile)
                 for n in flagged]
        return LoadedImage(image.pixels, dict(image.meta) | {"quality": values | {"flagged": flagged},
                                                             "warnings": [*image.meta.get("warnings", []), *notes]})

    def _orientation(self, path: Path) -> Orientation | None:
        """The orientation check, if shipped; it reads one member's activations, so that very member must be here."""
        if not path.is_file():
            return None
        check = load_orientation(path)
        member = next((m for m in self.members if m.name == check.card.member), None)
        if member is None or member.card.weights is None or member.card.weights.sha256 != check.card.member_sha256:
            raise WeightsError(f"the orientation check reads {check.card.member}'s activations, but that model is "
                               "missing or another one: refit it with `python -m core.training.orientation_fit`")
        return check

    def quarter_turns(self, grays: list[np.ndarray]) -> np.ndarray:
        """Per image, the quarter turns the orientation check says made it from the upright picture (0 without one)."""
        if self.orientation is None:
            return np.zeros(len(grays), int)
        m = self._member(self.orientation.card.member)
        with m.lock, torch.inference_mode():
            return self.orientation.quarter_turns(grid_features(m.net, grays, m.cfg, self.orientation.card.grid))

    def turned_upright(self, grays: list[np.ndarray]) -> list[np.ndarray]:
        """The images the models read: each turned back when the orientation check says it was turned."""
        return [turn(g, -int(k)) if k else g for g, k in zip(grays, self.quarter_turns(grays))]

    def _check_fusion(self) -> None:
        """A card that fuses the localiser's evidence needs that very localiser beside it."""
        fusion = self.ensemble.box_fusion if self.ensemble is not None else None
        if fusion is None:
            return
        if self.localizer is None:
            raise WeightsError(f"the ensemble card adds the fracture localiser's evidence, but {LOCALIZER_CARD} "
                               f"is missing from {self.weights_dir}")
        if self.localizer.sha256 != fusion.localizer_sha256:
            raise WeightsError("the ensemble card was fitted with another fracture localiser "
                               f"({fusion.localizer_sha256[:12]}…, shipped {self.localizer.sha256[:12]}…): "
                               "refit it with `python -m core.ensemble.fit --box-fusion auto`")

    @property
    def fuses_boxes(self) -> bool:
        """Whether the headline verdict adds the localiser's top box score (the ensemble card says so)."""
        return self.ensemble is not None and self.ensemble.box_fusion is not None

    @staticmethod
    def _scope(path: Path) -> ScopeModel | None:
        """The out-of-scope gate, if shipped; a damaged file is a WeightsError, not a crash later."""
        if not path.is_file():
            log.warning("no out-of-scope gate (%s is missing): every image will be analysed; "
                        "run `make scope` to fit one", path)
            return None
        try:
            return ScopeModel.load(path)
        except (ValueError, KeyError, OSError) as exc:
            raise WeightsError(f"the out-of-scope check {path.name} cannot be read: {exc}") from exc

    @staticmethod
    def _load(card_path: Path) -> Member:
        net, card = load_model(card_path)
        net = net.to(memory_format=torch.channels_last)
        return Member(card.name, net, card, card.preprocess, get_spec(card.architecture))

    def _ensemble_card(self) -> ModelCard | None:
        path = self.weights_dir / ENSEMBLE_CARD
        if not path.is_file():
            return None
        card = read_card(path)
        missing = set(card.members) - {m.name for m in self.members}
        if missing:
            log.warning("ensemble card names models that are not in %s: %s", self.weights_dir, sorted(missing))
            return None
        return card

    @property
    def primary(self) -> str | None:
        """Who gives the headline verdict: 'ensemble', the best single model, or None."""
        if self.ensemble is not None:
            return "ensemble"
        if not self.members:
            return None
        return max(self.members, key=lambda m: m.card.split("val")["roc_auc"]).name

    @property
    def headline_card(self) -> ModelCard:
        """The card behind the headline verdict (the ensemble's, or the primary model's)."""
        if self.ensemble is not None:
            return self.ensemble
        if not self.members:
            raise WeightsError(f"no models found in {self.weights_dir}")
        return self._member(self.primary).card

    def headline_logits(self, member_probs: dict[str, np.ndarray], top_scores: np.ndarray | None = None) -> np.ndarray:
        """The ensemble's log-odds before its calibration, from members' calibrated probabilities (arrays over
        images) and, when the card fuses the localiser's evidence, each image's top box score."""
        card = self.ensemble
        if card is None:
            raise ValueError("there is no ensemble card: the headline is the primary model's own probability")
        stacked = np.stack([np.asarray(member_probs[n], float) for n in card.members])
        z = to_logit(combine(stacked, np.array(card.member_weights)))
        if card.box_fusion is None:
            return z
        if top_scores is None:
            raise ValueError("this ensemble adds the localiser's top box score: pass top_scores")
        return card.box_fusion(z, top_scores)

    def headline_probabilities(self, member_probs: dict[str, np.ndarray],
                               top_scores: np.ndarray | None = None) -> np.ndarray:
        """Headline probabilities (the ensemble's calibrated, or the primary model's own)."""
        if self.ensemble is None:
            return np.asarray(member_probs[self.primary], float)
        return self.ensemble.calibration(self.headline_logits(member_probs, top_scores))

    def operating_summary(self, operating_point: str) -> dict[str, Any]:
        """Threshold and the sensitivity/specificity (with 95 % CIs when the card has them) on test."""
        card = self.headline_card
        out = {"threshold": card.thresholds[operating_point], "decided_by": self.primary,
               **card.point(operating_point)}
        test = card.operating_point_uncertainty.get(operating_point, {}).get("test", {})
        return out | {k: test[k] for k in ("sensitivity_ci", "specificity_ci") if k in test}

    def _member(self, name: str | None) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise ValueError(f"no model named {name!r}; loaded: {[m.name for m in self.members]}")

    def predict_image(self, image: LoadedImage, operating_point: str = HIGH_SENSITIVITY) -> Result:
        """Every member's verdict and the headline verdict for one loaded image."""
        if operating_point not in OPERATING_POINTS:
            raise ValueError(f"operating point must be one of {OPERATING_POINTS}, got {operating_point!r}")
        if not self.members:
            raise WeightsError(f"no models found in {self.weights_dir}")
        k = int(self.quarter_turns([image.pixels])[0])
        gray = turn(image.pixels, -k) if k else image.pixels
        in_ens = set(self.ensemble.members) if self.ensemble else set()
        probs = {m.name: m.probability(gray) for m in self.members}
        members = [MemberResult(m.name, probs[m.name], probs[m.name] >= m.thresholds[operating_point],
                                m.thresholds[operating_point], m.name in in_ens) for m in self.members]
        top, boxes = self.localizer.find(gray) if self.localizer else (0.0, [])
        if k:  # boxes go back onto the image as it came
            boxes = [FoundBox([round(v, 1) for v in turn_box(b.xyxy, gray.shape[:2], k)], b.score, b.level) for b in boxes]
            image = LoadedImage(image.pixels, dict(image.meta) | {
                "auto_turned_degrees": 90 * k, "warnings": [*image.meta.get("warnings", []), wording.auto_turned(k)]})
        p = float(self.headline_probabilities({n: np.array([v]) for n, v in probs.items()}, np.array([top]))[0])
        t = self.headline_card.thresholds[operating_point]
        verdict = p >= t
        votes = [r.fractured for r in members if r.in_ensemble or self.ensemble is None]
        return Result(file=image.meta.get("name", ""), probability=p, fractured=verdict,
                      operating_point=operating_point, threshold=t, decided_by=self.primary,
                      agreement=agreement(votes, verdict),
                      uncertain=self._uncertain(p, t, votes, verdict, operating_point),
                      members=members, boxes=boxes,
                      localized=self.localizer is not None, uses_boxes=self.fuses_boxes,
                      image=dict(image.meta), warnings=list(image.meta.get("warnings", [])))

    def _uncertain(self, p: float, t: float, votes: list[bool], verdict: bool, op: str) -> bool | None:
        """The ensemble card's val-fitted rule; None when there is no ensemble to apply it to."""
        rule = self.ensemble.uncertainty.get(op) if self.ensemble is not None else None
        if rule is None:
            return None
        return bool(flags(np.array([p]), t, rule["margin_logit"], np.array([any(v != verdict for v in votes)]))[0])

    def heatmap(self, gray: np.ndarray, name: str, method: str = "Grad-CAM") -> np.ndarray:
        """Where model `name` looked for 'fractured', on the original image grid, in [0, 1] (read the way the
        verdict reads it: turned upright first when the orientation check says so)."""
        k = int(self.quarter_turns([gray])[0])
        if not k:
            return self._member(name).heatmap(gray, method)
        return turn(self._member(name).heatmap(turn(gray, -k), method), k)

    def model_view(self, gray: np.ndarray, name: str) -> np.ndarray:
        """The preprocessed picture (CLAHE / Canny) model `name` sees, cropped to the image (turned upright first
        when the orientation check says so, as the verdict reads it)."""
        m = self._member(name)
        gray = self.turned_upright([gray])[0]
        view, box = model_view(gray, m.cfg)
        return view[box.top:box.top + box.height, box.left:box.left + box.width]

    def analyse(self, source: str | Path | bytes, name: str | None = None,
                operating_point: str = HIGH_SENSITIVITY,
                override_scope: bool = False) -> tuple[Result, LoadedImage | None]:
        """Load, check it is a bone X-ray, predict. An unusable file gives a Result with `error` set."""
        label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "upload")
        try:
            image = load_image(source, label)
        except InputError as exc:
            return Result(label, error=str(exc)), None
        scope = self.scope.check(image) if self.scope is not None else None
        if scope is not None and not scope.in_scope and not override_scope:
            return Result(label, error=wording.out_of_scope(scope.reason), out_of_scope=True,
                          scope_reason=scope.reason, image=dict(image.meta)), image
        image = self.assess(self.upright(image), operating_point)
        result = self.predict_image(image, operating_point)
        result.scope_overridden = scope is not None and not scope.in_scope
        result.scope_reason = scope.reason if result.scope_overridden else None
        return result, image

    @staticmethod
    def upright(image: LoadedImage) -> LoadedImage:
        """The image with bone light: an inverted one (light frame, light image) is turned back, with a warning."""
        pixels, inverted = upright(image.pixels)
        if not inverted:
            return image
        meta = dict(image.meta) | {"auto_inverted": True,
                                   "warnings": [*image.meta.get("warnings", []), wording.AUTO_INVERTED]}
        return LoadedImage(pixels, meta)

    def predict_source(self, source: str | Path | bytes, name: str | None = None,
                       operating_point: str = HIGH_SENSITIVITY, override_scope: bool = False) -> Result:
        """The Result of `analyse` alone."""
        return self.analyse(source, name, operating_point, override_scope)[0]

    def overlay(self, gray: np.ndarray, heat: np.ndarray, name: str, alpha: float,
                preprocessed: bool = False) -> np.ndarray:
        """The heat map over the original image, or over the picture model `name` saw."""
        if not preprocessed:
            return overlay(gray, heat, alpha)
        view = self.model_view(gray, name)[:, :, 0]
        return overlay(view, resize_map(heat, view.shape), alpha)


def main(argv: list[str] | None = None) -> int:
    """Print one verdict (or error) per file."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--operating-point", choices=OPERATING_POINTS, default=HIGH_SENSITIVITY)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--override-scope", action="store_true",
                   help="analyse images the out-of-scope check refuses (the result says so)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        predictor = Predictor(args.weights)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not predictor.members:
        print(f"error: no models in {args.weights}", file=sys.stderr)
        return 2
    for f in args.files:
        r = predictor.predict_source(f, operating_point=args.operating_point, override_scope=args.override_scope)
        print(json.dumps(r.to_dict(), default=_json_default) if args.json else _text(r))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _text(r: Result) -> str:
    if r.error:
        return f"{r.file}: REJECTED — {r.error}"
    label = wording.HEADLINE[bool(r.fractured)]
    parts = ", ".join(f"{m.name} {m.probability:.2f}" for m in r.members)
    note = f" [{wording.OVERRIDDEN}]" if r.scope_overridden else ""
    op = wording.op_label(r.operating_point).lower()
    header = header_summary(r.image)
    cautions = (f"\n  {header}" if header else "") + "".join(f"\n  WARNING: {w}" for w in r.warnings)
    return (f"{r.file}: {label}{note} (p={r.probability:.3f}, {op} threshold {r.threshold:.3f}, "
            f"by {r.decided_by}; agreement {r.agreement:.0%}) [{parts}]{cautions}")


if __name__ == "__main__":
    raise SystemExit(main())
