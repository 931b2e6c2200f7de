"""Weights files are checked against their card's sha256."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import WeightsError
from core.models.weights import load_model

ROOT = Path(__file__).resolve().parents[2]


def test_tampered_weights_are_refused(trained, tmp_path):
    shutil.copytree(trained / "weights", tmp_path / "w")
    f = tmp_path / "w" / "custom_cnn.safetensors"
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match its model card"):
        load_model(tmp_path / "w" / "custom_cnn.json")
