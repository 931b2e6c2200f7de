"""Diagnose: drop X-rays, read the verdict, see where each model looked."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.serving import wording
from core.serving.report import audit, model_versions
from dashboard.common import OP_LABELS, digest, get_predictor, notice
from dashboard.components import downloads, findings_view, heatmap_gallery, members_table, verdict_banner, worklist

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "sample" / "images"
KEEP = 20  # analysed images kept in this browser session's memory (never on disk)

st.title("Diagnose")
notice()
pred = get_predictor()
if pred is None:
    st.stop()
if not pred.members:
    st.error("No models are installed: `weights/` holds no model card with its weights file. "
             "Train one (`make train MODEL=efficientnet_lite0`) or restore the shipped weights.")
    st.stop()

with st.sidebar:
    op = st.radio("Operating point", list(OP_LABELS), format_func=OP_LABELS.get,
                  help=wording.OP_HELP)
    s = pred.operating_summary(op)
    st.caption(wording.setting_summary(s))

uploads = st.file_uploader("Drop one or more X-rays here (PNG, JPEG, TIFF or DICOM)",
                           accept_multiple_files=True, key="uploads")
files = [(u.name, u.getvalue()) for u in uploads or []]
if not files:
    names = sorted(p.name for p in SAMPLES.glob("*.jpg"))
    choice = st.selectbox("…or try a bundled sample X-ray (FracAtlas, CC BY 4.0)", ["—"] + names)
    if choice == "—":
        st.info("Nothing uploaded yet. Uploaded images stay in memory for this session only; "
                "nothing is written to disk.")
        st.stop()
    files = [(choice, (SAMPLES / choice).read_bytes())]


overrides = st.session_state.setdefault("scope_overrides", set())


def analyse(name: str, data: bytes):
    """Result and image for one file, computed once per session, operating point and override."""
    cache = st.session_state.setdefault("analyses", {})
    key = (digest(data), op, digest(data) in overrides)
    if key not in cache:
        cache[key] = pred.analyse(data, name, op, override_scope=key[2])
        audit(cache[key][0], data, model_versions(pred))
        while len(cache) > KEEP:
            cache.pop(next(iter(cache)))
    return key[0], *cache[key]


progress = st.progress(0.0, text="Analysing…") if len(files) > 1 else None
analysed = []
for i, (name, data) in enumerate(files):
    analysed.append(analyse(name, data))
    if progress:
        progress.progress((i + 1) / len(files), text=f"Analysed {i + 1} of {len(files)}")
if progress:
    progress.empty()

index = worklist([r for _, r, _ in analysed]) if len(analysed) > 1 else 0
key, result, image = analysed[index]
if len(analysed) > 1:
    st.subheader(result.file)
verdict_banner(result, s)
if result.out_of_scope and st.button("Analyse anyway: I confirm this is a radiograph", icon=":material/warning:"):
    overrides.add(key)
    st.rerun()
if result.error:
    st.stop()
if result.scope_overridden:
    said = f" The gate said: {result.scope_reason}." if result.scope_reason else ""
    st.info(wording.OVERRIDE_CAUTION + said, icon=":material/warning:")
if image.meta.get("colour"):
    st.warning("This image has colour in it: radiographs are grayscale. Check it is an X-ray.")

st.subheader("Every model's verdict")
members_table(result)
st.subheader("Where the fracture may be")
findings_view(pred, result, image.pixels)
st.subheader("Where each model looked")
heatmap_gallery(pred, key, image.pixels, [m.name for m in result.members])
downloads(pred, key, result, image.pixels, key, s, [r for _, r, _ in analysed])
st.caption(wording.HEATMAP_CAPTION)
