"""Where things live: every path root and environment variable, read at call time.

| variable | default |
|---|---|
| FRACATLAS_DIR | ../shared/data/fracatlas (beside the repository) |
| FRACTURE_WEIGHTS_DIR | weights/ |
| FRACTURE_REPORTS_DIR | reports/ |
| FRACTURE_PRETRAINED_DIR | ../shared/pretrained |
| FRACTURE_CACHE_DIR | .cache/activations |
| FRACTURE_AUDIT_LOG | unset (no audit log) |
| FRACTURE_PACS_URL | unset: the PACS's DICOMweb root, e.g. https://pacs.example/dicom-web |
| FRACTURE_PACS_USER, FRACTURE_PACS_PASSWORD | unset (HTTP basic authentication) |
| FRACTURE_PACS_CONFIG | ~/.config/fracture-dash/pacs.toml when it exists (url, user, password) |
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "sample"
MAX_WEIGHT_FILE_BYTES = 16 * 2**20
MAX_WEIGHTS_DIR_BYTES = 24 * 2**20


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def data_dir() -> Path:
    """The FracAtlas folder (images/, labels.csv, fracture_boxes_coco.json)."""
    return _env_path("FRACATLAS_DIR", ROOT.parent / "shared" / "data" / "fracatlas")


def weights_dir() -> Path:
    """The shipped models' folder."""
    return _env_path("FRACTURE_WEIGHTS_DIR", ROOT / "weights")


def reports_dir() -> Path:
    """Cards, per-image predictions and measured results."""
    return _env_path("FRACTURE_REPORTS_DIR", ROOT / "reports")


def cards_dir() -> Path:
    """Every trained model's card (shipped or not)."""
    return reports_dir() / "cards"


def predictions_dir() -> Path:
    """Per-image val/test prediction CSVs."""
    return reports_dir() / "predictions"


def pretrained_dir() -> Path:
    """ImageNet starting weights (see PRETRAINED.md there)."""
    return _env_path("FRACTURE_PRETRAINED_DIR", ROOT.parent / "shared" / "pretrained")


def cache_dir() -> Path:
    """Frozen-stem activation cache (git-ignored)."""
    return _env_path("FRACTURE_CACHE_DIR", ROOT / ".cache" / "activations")


def audit_log() -> Path | None:
    """The opt-in audit log file, or None when auditing is off."""
    value = os.environ.get("FRACTURE_AUDIT_LOG")
    return Path(value) if value else None


def explorer_dir() -> Path:
    """What the dataset explorer shows: FRACATLAS_DIR when set, else the bundled sample."""
    return _env_path("FRACATLAS_DIR", SAMPLE_DIR)


PACS_ENV = {"url": "FRACTURE_PACS_URL", "user": "FRACTURE_PACS_USER", "password": "FRACTURE_PACS_PASSWORD"}


def pacs_config_file() -> Path | None:
    """The PACS config file (TOML or JSON: url, user, password), or None when there is none."""
    value = os.environ.get("FRACTURE_PACS_CONFIG")
    if value:
        return Path(value).expanduser()
    default = Path.home() / ".config" / "fracture-dash" / "pacs.toml"
    return default if default.is_file() else None


def pacs_env() -> dict[str, str]:
    """PACS settings given in the environment (only those set): url, user, password."""
    return {key: os.environ[var] for key, var in PACS_ENV.items() if os.environ.get(var)}
