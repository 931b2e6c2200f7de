"""Fit and measure the out-of-scope check: `python -m core.training.scope_fit` (`make scope`)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from core.data.loading import LoadedImage, load_image
from core.serving.scope import BLANK_STD, CHROMA_MAX, NAMES, ScopeModel, _as_image, features

log = logging.getLogger(__name__)


def fit(data: Path, seed: int = 0) -> dict[str, Any]:
    """Fit on train radiographs vs the 'fit' negatives; threshold on val; measure on test and 'eval'."""
    from sklearn.linear_model import LogisticRegression

    from core.data.fracatlas import read_labels
    from core.training.scope_negatives import negatives

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
    from core.settings import data_dir, weights_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="default weights/scope.json")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = fit(args.data or data_dir(), args.seed)
    result["command"] = "python -m core.training.scope_fit " + " ".join(argv or [])
    out = args.out or weights_dir() / "scope.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("scope check: %s", json.dumps(result["metrics"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
