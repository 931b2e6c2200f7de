"""Pointing game: a heat map's peak inside a (grown) radiologist's box, and the random-point baseline."""
from __future__ import annotations

import json

import numpy as np


def test_pointing_game_hit_and_baseline(trained, sample_dir, tmp_path):
    from core.evaluation import pointing

    heat = np.zeros((100, 200), np.float32)
    heat[40, 150] = 1.0
    assert pointing.hit(heat, [(140, 30, 20, 20)], tolerance=0.0)
    assert not pointing.hit(heat, [(10, 10, 20, 20)], tolerance=0.0)
    assert pointing.hit(heat, [(155, 30, 20, 20)], tolerance=0.05)  # 10 px grown box reaches x=150
    out = tmp_path / "pointing.json"
    assert pointing.main(["--weights", str(trained / "weights"), "--data", str(sample_dir),
                          "--methods", "Grad-CAM", "--out", str(out), "--limit", "3"]) == 0
    result = json.loads(out.read_text())
    assert result["n_images"] == 3 and 0 < result["baseline_random_point"] < 0.5
    assert set(result["hit_rate"]) == {"custom_cnn", "efficientnet_lite0"}
