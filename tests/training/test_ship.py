"""Shipping models into weights/ checks the card and the size budget."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import WeightsError

ROOT = Path(__file__).resolve().parents[2]


def test_ship_checks_budget_and_card(trained, tmp_path, monkeypatch):
    from core.training import ship

    shipped = ship.ship(["custom_cnn"], trained / "weights", tmp_path / "w")
    assert {p.name for p in shipped} == {"custom_cnn.safetensors", "custom_cnn.json"}
    monkeypatch.setattr(ship, "MAX_WEIGHT_FILE_BYTES", 10)
    with pytest.raises(WeightsError, match="16 MiB"):
        ship.ship(["custom_cnn"], trained / "weights", tmp_path / "w2")
