"""Is this a bone X-ray at all? Refuse colour photos, screenshots, documents and blank frames.

Two plain rules (colour, blank) and a logistic model over 17 brightness/texture features, fitted by
`python -m core.scope --fit` on FracAtlas `train` radiographs versus the `fit` family of
core.scope_negatives, its threshold set on `val` radiographs (≤ 0.5 % refused) and measured on
`test` radiographs and the disjoint `eval` family. Stored as weights/scope.json.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.loading import LoadedImage, load_image

log = logging.getLogger(__name__)
CHROMA_MAX = 6.0
BLANK_STD = 4.0
NAMES = ["chroma", "mean", "std", "dark", "bright", "p05", "p25", "p50", "p75", "p95", "entropy",
         "edges", "flat", "levels", "log_lap_var", "border_minus_centre", "gradient"]


def features(image: LoadedImage) -> np.ndarray:
    """17 numbers describing colour, brightness distribution and texture."""
    g = image.pixels
    scale = 256 / max(g.shape)
    small = cv2.resize(g, (max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    f = small.astype(np.float32)
    hist = np.bincount(small.ravel(), minlength=256) / small.size
    h32 = hist.reshape(32, 8).sum(1)
    local_sd = np.sqrt(np.maximum(cv2.blur(f * f, (3, 3)) - cv2.blur(f, (3, 3)) ** 2, 0))
    b = max(2, min(small.shape) // 10)
    border = np.concatenate([f[:b].ravel(), f[-b:].ravel(), f[:, :b].ravel(), f[:, -b:].ravel()])
    centre = f[b:-b, b:-b] if min(f.shape) > 2 * b else f
    gx, gy = cv2.Sobel(f, cv2.CV_32F, 1, 0), cv2.Sobel(f, cv2.CV_32F, 0, 1)
    return np.array([
        image.meta.get("chroma", 0.0), f.mean() / 255, f.std() / 255, (small < 25).mean(), (small > 230).mean(),
        *(np.percentile(small, [5, 25, 50, 75, 95]) / 255), -(h32[h32 > 0] * np.log2(h32[h32 > 0])).sum() / 5,
        (cv2.Canny(small, 50, 150) > 0).mean(), (local_sd < 0.5).mean(), (hist > 0).mean(),
        np.log1p(cv2.Laplacian(f, cv2.CV_32F).var()) / 10, (border.mean() - centre.mean()) / 255,
        np.hypot(gx, gy).mean() / 255], dtype=np.float64)


@dataclass(frozen=True)
class ScopeResult:
    """The check's answer: in scope or not, the model's score and the reason shown to the user."""

    in_scope: bool
    score: float
    reason: str | None


@dataclass(frozen=True)
class ScopeModel:
    """Standardised logistic regression over `features`, with its refusal threshold."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    def score(self, image: LoadedImage) -> float:
        """Probability-like score that the image is a radiograph."""
        z = ((features(image) - self.mean) / self.scale) @ self.coef + self.intercept
        return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))

    def check(self, image: LoadedImage) -> ScopeResult:
        """Rules first (colour, blank), then the model."""
        s = self.score(image)
        if image.meta.get("chroma", 0.0) > CHROMA_MAX:
            return ScopeResult(False, s, "it is a colour image; radiographs are grayscale")
        if float(image.pixels.std()) < BLANK_STD:
            return ScopeResult(False, s, "it is almost blank (one shade of grey)")
        if s < self.threshold:
            bright = float((image.pixels > 230).mean())
            why = ("it is mostly white, like a page of text or a screenshot" if bright > 0.4 else
                   "its brightness and texture do not look like a radiograph")
            return ScopeResult(False, s, why)
        return ScopeResult(True, s, None)

    @classmethod
    def load(cls, path: str | Path) -> "ScopeModel":
        """Read weights/scope.json."""
        d = json.loads(Path(path).read_text())
        if d.get("features") != NAMES:
            raise ValueError(f"{Path(path).name} was fitted on other features: {d.get('features')}")
        return cls(np.array(d["mean"]), np.array(d["scale"]), np.array(d["coef"]), float(d["intercept"]),
                   float(d["threshold"]))


def _as_image(arr: np.ndarray) -> LoadedImage:
    """Encode an array as PNG and read it back through the app's loader (same features as uploads)."""
    ok, buf = cv2.imencode(".png", arr[:, :, ::-1] if arr.ndim == 3 else arr)
    if not ok:
        raise ValueError("could not encode a generated image")
    return load_image(buf.tobytes(), "generated.png")


def fit(data: Path, seed: int = 0) -> dict[str, Any]:
    """Fit on train radiographs vs the 'fit' negatives; threshold on val; measure on test and 'eval'."""
    from sklearn.linear_model import LogisticRegression

    from core.data import read_labels
    from core.scope_negatives import negatives

    def xrays(split: str) -> list[LoadedImage]:
        return [load_image(data / "images" / n) for n in read_labels(data / "labels.csv", split)["image"]]

    train, val, test = xrays("train"), xrays("val"), xrays("test")
    neg_fit = [(k, _as_image(a)) for k, a in negatives("fit", [x.pixels for x in train[:40]], seed)]
    neg_eval = [(k, _as_image(a)) for k, a in negatives("eval", [x.pixels for x in test[:20]], seed)]
    x = np.stack([features(i) for i in train] + [features(i) for _, i in neg_fit])
    y = np.r_[np.ones(len(train)), np.zeros(len(neg_fit))]
    mean, scale = x.mean(0), x.std(0) + 1e-9
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000).fit((x - mean) / scale, y)
    model = ScopeModel(mean, scale, clf.coef_[0], float(clf.intercept_[0]), 0.0)
    threshold = float(np.quantile([model.score(i) for i in val], 0.005))
    model = ScopeModel(mean, scale, clf.coef_[0], float(clf.intercept_[0]), threshold)
    return {"features": NAMES, "mean": mean.tolist(), "scale": scale.tolist(), "coef": model.coef.tolist(),
            "intercept": model.intercept, "threshold": threshold, "chroma_max": CHROMA_MAX, "blank_std": BLANK_STD,
            "metrics": measure(model, val, test, neg_eval), "fit_counts": {"xrays": len(train), "negatives": len(neg_fit)}}


def measure(model: ScopeModel, val: list, test: list, neg_eval: list) -> dict[str, Any]:
    """Refusal rates: val and test radiographs (want ≤ 1 %), eval negatives (want ≥ 95 %) by kind."""
    refused = [not model.check(i).in_scope for _, i in neg_eval]
    kinds: dict[str, list[bool]] = {}
    for (k, _), r in zip(neg_eval, refused):
        kinds.setdefault(k.split(":")[0], []).append(r)
    return {"val_xrays_refused": float(np.mean([not model.check(i).in_scope for i in val])),
            "test_xrays_refused": float(np.mean([not model.check(i).in_scope for i in test])),
            "test_xrays_n": len(test), "eval_negatives_n": len(neg_eval),
            "eval_negatives_refused": float(np.mean(refused)),
            "eval_negatives_refused_by_kind": {k: float(np.mean(v)) for k, v in kinds.items()}}


def main(argv: list[str] | None = None) -> int:
    """Fit and measure the out-of-scope check; write weights/scope.json."""
    from core.data import DATA_DIR
    from core.weights import weights_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA_DIR)
    p.add_argument("--out", type=Path, default=None, help="default weights/scope.json")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = fit(args.data, args.seed)
    result["command"] = "python -m core.scope " + " ".join(argv or [])
    out = args.out or weights_dir() / "scope.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("scope check: %s", json.dumps(result["metrics"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
