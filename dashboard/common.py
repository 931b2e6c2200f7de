"""What every page shares: the models (loaded once per process), the notice, report files."""
from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from core.errors import WeightsError
from core.evaluation.tables import Reports, load_cards
from core.serving import wording
from core.serving.predictor import Predictor
from core.settings import reports_dir, weights_dir

OP_LABELS = wording.OP_LABELS


@st.cache_resource(show_spinner="Loading the models…")
def predictor(folder: str) -> Predictor:
    """Every model in a weights folder, loaded once for the whole server process."""
    return Predictor(Path(folder))


def get_predictor() -> Predictor | None:
    """The predictor, or None after showing why the models could not be loaded."""
    try:
        return predictor(str(weights_dir()))
    except WeightsError as exc:
        st.error(f"The models could not be loaded: {exc}")
        return None


@st.cache_data(show_spinner=False)
def _cards(folder: str) -> Reports:
    return load_cards(Path(folder))


def cards() -> Reports:
    """Model cards and per-image predictions from reports/ (no model is run)."""
    return _cards(str(reports_dir()))


def notice() -> None:
    """The always-visible decision-support notice."""
    head, _, rest = wording.NOTICE.partition(". ")
    st.warning(f"**{head}.** {rest}", icon=":material/info:")


def digest(data: bytes) -> str:
    """Short content hash used to key per-image results in the session."""
    return hashlib.sha256(data).hexdigest()[:16]
