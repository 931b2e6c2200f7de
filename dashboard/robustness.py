"""The comparison page's robustness section, drawn from reports/robustness.json only."""
from __future__ import annotations

import streamlit as st

from core.evaluation.tables import SEVERITY_ORDER, robustness_deltas, robustness_table
from dashboard.charts import robustness_heatmap


def robustness_section(report: dict | None, stale: str = "") -> None:
    """Which ordinary changes to an X-ray (turned, cropped, recompressed, ...) move the verdict."""
    st.subheader("Does the verdict survive how the X-ray arrives? (robustness)")
    if not report:
        st.info("Not measured yet: `make robustness` writes `reports/robustness.json`.")
        return
    if stale:
        st.warning(stale)
    c1, c2 = st.columns(2)
    models = report["models"]
    model = c1.selectbox("Model", models, index=models.index("ensemble") if "ensemble" in models else 0,
                         key="robustness_model")
    severity = c2.radio("Severity of the change", SEVERITY_ORDER, index=1, horizontal=True, key="robustness_severity")
    deltas = robustness_deltas(report, model, severity)
    if deltas.empty:
        st.info(f"No {severity} levels were measured in this run.")
        return
    limits = report["targets"]["max_abs_delta"]
    st.plotly_chart(robustness_heatmap(deltas, limits), width="stretch")
    st.caption(_caption(report, severity, limits))
    with st.expander("Figures per shift"):
        st.dataframe(robustness_table(report, model, severity), hide_index=True, width="stretch")


def _caption(report: dict, severity: str, limits: dict) -> str:
    """How to read the chart, on which images, and against which target."""
    sub = report["subsets"].get("subset")
    n = sub["n"] if sub and severity != "middle" else report["n_images"]
    partial = "" if report.get("complete") else " Partial run: not every shift has been measured yet."
    return (f"Change from the unshifted image on the same {n} {report['split']} images (out-of-scope check off), "
            "each model at its own thresholds; HS = high-sensitivity point, bal = balanced point. "
            "Red: the measure falls under the change; blue: it rises (a rise in one rate with a fall in the other "
            f"means the verdicts moved). * = outside the target (ROC-AUC ±{limits['roc_auc']}, sensitivity and "
            f"specificity ±{limits['sensitivity']}); worst shifts first. Before the models: "
            f"{report.get('input', 'the images as they are')}. `make robustness`.{partial}")
