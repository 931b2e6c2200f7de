"""Weights files are checked against their card's sha256."""
from __future__ import annotations

import json
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


def test_saved_bytes_depend_only_on_the_contents(tmp_path):
    """safetensors orders metadata keys at random (a Rust HashMap): the saved header is sorted."""
    import hashlib

    import torch
    from safetensors import safe_open

    from core.models.weights import save_tensors

    tensors = {"b.weight": torch.ones(2, 3, dtype=torch.float16), "a.bias": torch.arange(4)}
    meta = {"name": "m", "architecture": "a", "kind": "k", "format": "2"}
    digests = {hashlib.sha256(save_tensors(tensors, tmp_path / f"{i}.safetensors", meta).read_bytes()).hexdigest()
               for i in range(12)}
    assert len(digests) == 1
    with safe_open(str(tmp_path / "0.safetensors"), "pt") as f:
        assert f.metadata() == meta and f.get_tensor("b.weight").equal(tensors["b.weight"])


def test_tensor_digest_ignores_the_header_order_but_not_the_values(tmp_path):
    """Issue 18: weights saved before the header was sorted differ from a rebuild only in key order."""
    import struct

    import torch
    from safetensors.torch import save

    from core.models.weights import save_tensors, sha256, tensor_sha256

    tensors = {"b.weight": torch.ones(2, 3, dtype=torch.float16), "a.bias": torch.arange(4)}
    sorted_file = save_tensors(tensors, tmp_path / "sorted.safetensors", {"name": "m"})
    raw = save(tensors, metadata={"name": "m"})
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    reordered = json.dumps(dict(reversed(list(header.items()))), separators=(",", ":")).encode()
    unsorted = tmp_path / "unsorted.safetensors"
    unsorted.write_bytes(raw[:8] + reordered + b" " * (n - len(reordered)) + raw[8 + n:])
    assert sha256(sorted_file) != sha256(unsorted)
    assert tensor_sha256(sorted_file) == tensor_sha256(unsorted)
    changed = save_tensors({**tensors, "a.bias": torch.arange(1, 5)}, tmp_path / "changed.safetensors", {"name": "m"})
    assert tensor_sha256(changed) != tensor_sha256(sorted_file)
