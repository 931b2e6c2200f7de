"""PACS: recent studies from the configured server, open one, read the verdicts, send a result back."""
from __future__ import annotations

import streamlit as st

from core.errors import PacsConfigError, PacsError
from core.serving import wording
from core.serving.pacs_client import PacsClient, load_config
from core.serving.pacs_study import open_study, recent_studies
from dashboard.common import OP_LABELS, get_predictor, notice
from dashboard.components import heatmap_gallery, members_table, verdict_banner
from dashboard.pacs_components import image_label, send_button, study_label, study_table

KEEP = 3  # opened studies kept in this browser session's memory (never on disk)

st.title("PACS")
notice()
try:
    config = load_config()
except PacsConfigError as exc:
    st.info(f"{exc}\n\nSet `FRACTURE_PACS_URL` (and `FRACTURE_PACS_USER` / `FRACTURE_PACS_PASSWORD`) in the "
            "server's environment, or point `FRACTURE_PACS_CONFIG` at a file with url, user and password, "
            "then restart the dashboard.", icon=":material/settings:")
    st.stop()
pred = get_predictor()
if pred is None or not pred.members:
    st.error("No models are installed, so nothing can be analysed.")
    st.stop()
client = PacsClient(config)

with st.sidebar:
    op = st.radio("Operating point", list(OP_LABELS), format_func=OP_LABELS.get, help=wording.OP_HELP, key="pacs_op")
    summary = pred.operating_summary(op)
    st.caption(wording.setting_summary(summary))
    days = st.number_input("Studies from the last … days", 1, 3650, 30, key="pacs_days")
    reveal = st.toggle("Reveal patient names and IDs", key="pacs_reveal")

st.caption(f"Server: {config.url}" + (f" (user {config.user})" if config.user else ""))
try:
    rows = recent_studies(client, int(days))
except PacsError as exc:
    st.error(str(exc), icon=":material/cloud_off:")
    st.stop()
if not rows:
    st.info(f"The PACS holds no study from the last {days} days.")
    st.stop()
st.dataframe(study_table(rows, reveal), hide_index=True, width="stretch")
by_uid = {str(r["study"]): r for r in rows}
chosen = st.selectbox("Open a study", list(by_uid), index=None, key="pacs_study",
                      format_func=lambda uid: study_label(by_uid[uid], reveal), placeholder="Choose a study…")
if chosen is None:
    st.stop()


def opened(study_uid: str):
    """The study's instances, retrieved and analysed once per session and operating point."""
    cache = st.session_state.setdefault("pacs_opened", {})
    if (study_uid, op) not in cache:
        with st.spinner("Retrieving and analysing the study's images…"):
            cache[(study_uid, op)] = open_study(client, pred, study_uid, op)
        while len(cache) > KEEP:
            cache.pop(next(iter(cache)))
    return cache[(study_uid, op)]


try:
    items = opened(chosen)
except PacsError as exc:
    st.error(str(exc), icon=":material/cloud_off:")
    st.stop()
if not items:
    st.info("This study holds no images.")
    st.stop()
pick = st.radio("Image", range(len(items)), format_func=lambda i: image_label(items[i]), key="pacs_image",
                horizontal=True) if len(items) > 1 else 0
item = items[pick]
verdict_banner(item.result, summary)
if item.result.error:
    st.stop()
send_button(client, pred, item)
st.subheader("Every model's verdict")
members_table(item.result)
st.subheader("Where each model looked")
key = f"pacs-{item.record.SOPInstanceUID}"
heatmap_gallery(pred, key, item.image.pixels, [m.name for m in item.result.members])
st.caption(wording.HEATMAP_CAPTION)
