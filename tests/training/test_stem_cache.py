"""The stem cache: the same activations whatever the batch size (at the shipped 224 px), read from disk the second time."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.preprocess import PreprocessConfig
from core.models.registry import create_model
from core.training import stem_cache


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_model("efficientnet_lite0").eval()


def test_batch_size_does_not_change_the_activations(net, tmp_path):
    rng = np.random.default_rng(0)
    grays = [rng.integers(0, 256, (70 + 3 * i, 60), dtype=np.uint8) for i in range(3)]
    cfg = PreprocessConfig(size=224)  # at 64 px random-init fp16 stems differ ~1e-3 across batch sizes
    got = [np.array(stem_cache.cached_stem(net, f"k{b}", grays, cfg, "aug0", 0, tmp_path, batch=b)) for b in (1, 2, 4)]
    assert got[0].shape[0] == 3 and all(np.array_equal(got[0], g) for g in got[1:])
    again = stem_cache.cached_stem(net, "k2", grays[:1], cfg, "aug0", 0, tmp_path)  # same key: read, not recomputed
    assert isinstance(again, np.memmap) and again.shape[0] == 3
