"""Shared fixtures: the bundled real sample, broken files, and tiny trained models."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
ARCHS = ["custom_cnn", "efficientnet_lite0"]

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The bundled 42-image FracAtlas sample (test split, CC BY 4.0)."""
    return SAMPLE


@pytest.fixture(scope="session")
def sample_labels() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "labels.csv")


@pytest.fixture(scope="session")
def xray_gray(sample_labels) -> np.ndarray:
    """One real fractured radiograph as uint8 grayscale."""
    from core.data.loading import load_image

    name = sample_labels[sample_labels.fractured == 1].image.iloc[0]
    return load_image(SAMPLE / "images" / name).pixels


@pytest.fixture(scope="session")
def mini_dataset(tmp_path_factory, sample_labels) -> Path:
    """The sample re-split into train/val/test (a data folder core.train can read)."""
    root = tmp_path_factory.mktemp("mini")
    shutil.copytree(SAMPLE / "images", root / "images")
    df = sample_labels.sort_values(["fractured", "image"]).copy()
    df["split"] = (["train", "train", "val", "test"] * len(df))[: len(df)]
    df.to_csv(root / "labels.csv", index=False)
    return root


@pytest.fixture(scope="session")
def trained(tmp_path_factory, mini_dataset):
    """Two tiny models (one from scratch, one on cached frozen-stem activations), each stopped by
    its wall-clock budget after one epoch, plus their ensemble; written to a temporary folder."""
    from core.ensemble import fit as ensemble
    from core.models.cards import write_card
    from core.training import trainer as train

    root = tmp_path_factory.mktemp("trained")
    start = _random_start(root / "effnet_start.safetensors")  # stands in for an ImageNet file
    for arch in ARCHS:
        init = [] if arch == "custom_cnn" else ["--init", str(start)]
        rc = train.main(["--model", arch, "--data", str(mini_dataset), "--epochs", "2", "--views", "2",
                         "--budget-min", "0.0001",
                         "--batch", "8", "--size", "96", "--out", str(root / "weights"),
                         "--run-dir", str(root / "runs" / arch), "--reports", str(root / "reports"),
                         "--cache-dir", str(root / "cache"), *init])
        assert rc == 0
    card, frames = ensemble.fit_ensemble(ARCHS, "mean", root / "reports" / "predictions",
                                         mini_dataset / "labels.csv")
    write_card(card, root / "weights" / "ensemble.json")
    write_card(card, root / "reports" / "cards" / "ensemble.json")
    return root




def _random_start(path: Path) -> Path:
    """A starting-weights file in the layout of ../shared/pretrained (timm keys, float16)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("tf_efficientnet_lite0")
    save_file({k: v.half() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="session")
def localized(tmp_path_factory, trained, mini_dataset) -> Path:
    """A copy of the tiny trained weights plus a tiny localiser (one epoch on the mini split's boxes)."""
    from core.training import localizer_fit

    root = tmp_path_factory.mktemp("localized")
    shutil.copy(SAMPLE / "fracture_boxes_coco.json", mini_dataset / "fracture_boxes_coco.json")
    shutil.copytree(trained / "weights", root / "weights")
    shutil.copytree(trained / "reports", root / "reports")
    rc = localizer_fit.main(["--trunk", str(root / "weights" / "efficientnet_lite0.json"), "--data", str(mini_dataset),
                             "--size", "64", "--extra-sizes", "96", "--epochs", "2", "--batch", "4",
                             "--out", str(root / "weights"), "--reports", str(root / "reports"), "--run-dir", str(root / "run"),
                             "--cache-dir", str(root / "cache")])
    assert rc == 0
    return root


@pytest.fixture(scope="session")
def fused(tmp_path_factory, localized, mini_dataset) -> Path:
    """A copy of `localized` whose ensemble adds the tiny localiser's top box score (fused whatever val says)."""
    from core.ensemble import fit as ensemble
    from core.models.cards import write_card

    root = tmp_path_factory.mktemp("fused")
    shutil.copytree(localized / "weights", root / "weights")
    shutil.copytree(localized / "reports", root / "reports")
    card, _ = ensemble.fit_ensemble(ARCHS, "mean", root / "reports" / "predictions", mini_dataset / "labels.csv",
                                    box_fusion="yes", weights=root / "weights")
    write_card(card, root / "weights" / "ensemble.json")
    write_card(card, root / "reports" / "cards" / "ensemble.json")
    (root / "reports" / "localizer_fusion.json").write_text(json.dumps(card.extra["box_fusion_decision"]))
    return root
