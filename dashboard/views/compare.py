"""Model comparison: every figure comes from reports/cards and reports/predictions."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.reports import agreement_matrix, canny_ablation, metrics_table, pointing_table, region_table
from dashboard.common import OP_LABELS, cards, notice

st.title("Model comparison")
notice()
data = cards()
all_cards, preds = data["cards"], data["predictions"]
if not all_cards:
    st.info("No model cards in `reports/cards/` yet: train a model (`make train`) to fill this page.")
    st.stop()
split = st.radio("Data split", ["test", "val"], horizontal=True,
                 help="Thresholds and calibration were chosen on val; test is the held-out figure.")
st.caption(f"FracAtlas {split} split · 95% CIs from 1,000 bootstrap resamples · "
           "HS = high-sensitivity operating point, bal = balanced (Youden) point.")
st.dataframe(metrics_table(all_cards, split), hide_index=True, width="stretch")


def curves(kind: str) -> go.Figure:
    """ROC or precision–recall curves of every model on one chart."""
    fig = go.Figure()
    for name, card in all_cards.items():
        m = card["metrics"][split]
        x, y = (m["roc"]["fpr"], m["roc"]["tpr"]) if kind == "roc" else (m["pr"]["recall"], m["pr"]["precision"])
        label = f"{name} (AUC {m['roc_auc']:.3f})" if kind == "roc" else f"{name} (AP {m['average_precision']:.3f})"
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label,
                                 line={"width": 4 if name == "ensemble" else 2}))
    if kind == "roc":
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot"}))
    titles = ("False-positive rate", "Sensitivity") if kind == "roc" else ("Recall (sensitivity)", "Precision")
    fig.update_layout(xaxis_title=titles[0], yaxis_title=titles[1], height=480, margin={"t": 30},
                      legend={"orientation": "h", "y": -0.25})
    return fig


left, right = st.columns(2)
left.subheader("ROC curves")
left.plotly_chart(curves("roc"), width="stretch")
right.subheader("Precision–recall curves")
right.plotly_chart(curves("pr"), width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Confusion matrix")
    name = st.selectbox("Model", list(all_cards), index=len(all_cards) - 1)
    op = st.radio("Operating point", list(OP_LABELS), format_func=OP_LABELS.get, horizontal=True)
    c = all_cards[name]["metrics"][split]["operating_points"][op]
    cm = pd.DataFrame([[c["tn"], c["fp"]], [c["fn"], c["tp"]]], index=["truly normal", "truly fractured"],
                      columns=["called normal", "called fracture"])
    st.plotly_chart(px.imshow(cm, text_auto=True, color_continuous_scale="Blues"), width="stretch")
with right:
    st.subheader("Calibration (reliability)")
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"}))
    for n, card in all_cards.items():
        bins = [b for b in card["metrics"][split]["reliability"] if b["count"]]
        fig.add_trace(go.Scatter(x=[b["mean_p"] for b in bins], y=[b["frac_pos"] for b in bins],
                                 mode="lines+markers", name=f"{n} (ECE {card['metrics'][split]['ece']:.3f})"))
    fig.update_layout(xaxis_title="Predicted probability", yaxis_title="Observed fracture rate", height=480,
                      legend={"orientation": "h", "y": -0.25})
    st.plotly_chart(fig, width="stretch")

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
               "`python -m core.pointing`.")
bench = data.get("bench")
if bench:
    st.subheader("Size and CPU speed")
    st.dataframe(pd.DataFrame(bench["models"]), hide_index=True, width="stretch")
    st.caption(f"Median of {bench['runs']} runs on {bench['threads']} CPU threads, one "
               f"{bench['image_px']}-px image (`make bench`).")
