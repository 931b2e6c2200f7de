"""Model comparison: every figure comes from reports/cards and reports/predictions."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.evaluation.tables import agreement_matrix, canny_ablation, metrics_table, pointing_table, region_table, stale_note
from dashboard.charts import curves, reliability
from dashboard.common import OP_LABELS, cards, notice
from dashboard.localizer import fusion_section, localizer_section
from dashboard.robustness import robustness_section

st.title("Model comparison")
notice()
data = cards()
all_cards, preds = data.cards, data.predictions
if not all_cards:
    st.info("No model cards in `reports/cards/` yet: train a model (`make train`) to fill this page.")
    st.stop()
split = st.radio("Data split", ["test", "val"], horizontal=True,
                 help="Thresholds and calibration were chosen on val; test is the held-out figure.")
st.caption(f"FracAtlas {split} split · 95% CIs from 1,000 bootstrap resamples · "
           "HS = high-sensitivity operating point, bal = balanced (Youden) point.")
shown = st.multiselect("Models", list(all_cards), default=list(all_cards),
                       help="Every trained model has a card; only the shipped ones run on the Diagnose page.")
all_cards = {n: c for n, c in all_cards.items() if n in shown}
preds = {n: p for n, p in preds.items() if n in shown}
if not all_cards:
    st.info("Choose at least one model.")
    st.stop()
st.dataframe(metrics_table(all_cards, split), hide_index=True, width="stretch")


left, right = st.columns(2)
left.subheader("ROC curves")
left.plotly_chart(curves(all_cards, split, "roc"), width="stretch")
right.subheader("Precision–recall curves")
right.plotly_chart(curves(all_cards, split, "pr"), width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Confusion matrix")
    name = st.selectbox("Model", list(all_cards), index=len(all_cards) - 1)
    op = st.radio("Operating point", list(OP_LABELS), format_func=OP_LABELS.get, horizontal=True)
    c = all_cards[name].point(op, split)
    cm = pd.DataFrame([[c["tn"], c["fp"]], [c["fn"], c["tp"]]], index=["truly normal", "truly fractured"],
                      columns=["called normal", "called fracture"])
    st.plotly_chart(px.imshow(cm, text_auto=True, color_continuous_scale="Blues"), width="stretch")
with right:
    st.subheader("Calibration (reliability)")
    st.plotly_chart(reliability(all_cards, split), width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("ROC-AUC by body region")
    regions = region_table(all_cards, split)
    st.plotly_chart(px.imshow(regions, text_auto=".2f", zmin=0.5, zmax=1.0, color_continuous_scale="RdYlGn",
                              aspect="auto"), width="stretch")
with right:
    st.subheader("How often two models agree")
    agree = agreement_matrix(preds, all_cards, "balanced", split)
    st.plotly_chart(px.imshow(agree, text_auto=".2f", zmin=0.5, zmax=1.0, color_continuous_scale="Blues",
                              aspect="auto"), width="stretch")
    st.caption("Share of images with the same verdict, each model at its balanced threshold.")

st.subheader("Canny edge enhancement: ablation")
ablation = canny_ablation(all_cards)
if ablation.empty:
    st.info("No architecture has been trained both with and without Canny yet.")
else:
    st.dataframe(ablation, hide_index=True, width="stretch")
pointing = data.get("pointing")
if pointing:
    st.subheader("Do the heat maps point at the fracture? (pointing game)")
    st.dataframe(pointing_table(pointing), hide_index=True, width="stretch")
    st.caption(f"Share of the {pointing['n_images']} fractured {pointing['split']} images with boxes whose "
               "heat-map maximum falls inside a radiologist's box (grown by "
               f"{pointing['tolerance']:.0%} of the longer side); 'random point' is the chance rate. "
               "`make pointing`.")
localizer_section(data.get("localizer"), pointing)
fusion_section(data.cards.get("ensemble"), data.get("localizer_fusion"))
robustness_section(data.get("robustness"), stale_note(data.get("robustness"), data, "make robustness"))
bench = data.get("bench")
if bench:
    st.subheader("Size and CPU speed")
    rows = [r | {"shipped": True} for r in bench["models"]] + [r | {"shipped": False} for r in bench.get("other_models", [])]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(f"Median of {bench['runs']} runs on {bench['threads']} CPU threads, one "
               f"{bench['image_px']}-px image (`make bench`).")
