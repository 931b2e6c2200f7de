"""Shared fixtures: the bundled real sample, broken files, and tiny trained models."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

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
    from core.loading import load_image

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
