"""Pieces of the Diagnose page: verdict banner, members' table, heat-map gallery, worklist."""
from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from core.data.dicom_header import header_summary
from core.serving import wording
from core.serving.findings import draw_findings
from core.serving.predictor import HEATMAP_METHODS, Predictor
from core.serving.report import model_versions, pdf_report, worklist_csv
from core.serving.verdict import Result
from dashboard.common import OP_LABELS

COLOURS = {"fractured": "#8b1e1e", "clear": "#1d5e3a", "error": "#6b5a12"}


def verdict_banner(result: Result, summary: dict) -> None:
    """A large, colour-coded verdict with the probability and what the setting means in testing."""
    if result.error:
        _banner(COLOURS["error"], wording.CANNOT_ANALYSE, html.escape(result.error))
        return
    title = wording.HEADLINE[bool(result.fractured)]
    who = wording.decided_by(result.decided_by, result.uses_boxes)
    side = "at or above" if result.fractured else "below"
    prob, thr = wording.probability_and_threshold(result.probability, result.threshold)
    detail = (f"Probability of fracture <b>{prob}</b> ({who}), {side} the alarm threshold "
              f"of {thr} for the <b>{OP_LABELS[result.operating_point].lower()}</b> setting · "
              f"models agreeing: {result.agreement:.0%}")
    _banner(COLOURS["fractured" if result.fractured else "clear"], title, detail)
    header = header_summary(result.image)
    if header:
        st.caption(header)
    for caution in result.warnings:
        st.warning(caution, icon=":material/warning:")
    if result.uncertain:
        head, _, rest = wording.UNCERTAIN.partition(". ")
        st.warning(f"**{head}.** {rest}", icon=":material/help:")
    st.caption(wording.plain_words(summary, who))


def _banner(colour: str, title: str, detail: str) -> None:
    st.markdown(f"<div role='status' style='background:{colour};padding:0.9rem 1.3rem;border-radius:8px;"
                f"color:#fff'><div style='font-size:1.9rem;font-weight:700;letter-spacing:0.03em'>"
                f"{title}</div><div style='font-size:1.05rem'>{detail}</div></div>", unsafe_allow_html=True)


def members_table(result: Result) -> None:
    """Every model's probability, verdict and whether it agrees with the headline verdict."""
    rows = [{"Model": m.name, "Probability": m.probability,
             "Verdict": wording.SHORT[bool(m.fractured)], "Threshold": m.threshold,
             "Agrees": "✓ yes" if m.fractured == result.fractured else "✗ no",
             "In ensemble": "yes" if m.in_ensemble else "no"} for m in result.members]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "Probability": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f"),
        "Threshold": st.column_config.NumberColumn(format="%.2f")})


def findings_view(pred: Predictor, result: Result, gray) -> None:
    """The localiser's boxes on the original image (with a toggle), and the boxes as a list; the balanced
    setting shows only the solid (balanced) boxes, the high-sensitivity setting the dashed ones too."""
    if pred.localizer is None:
        st.caption(wording.NO_LOCALIZER)
        return
    boxes = result.shown_boxes()
    left, right = st.columns([3, 2])
    show = right.toggle("Show fracture boxes", value=True, key="show_boxes")
    left.image(draw_findings(gray, boxes) if show else gray, width="stretch",
               caption=("Original with the localiser's boxes" if boxes else "Original (no box above the threshold)")
               if show else "Original (unaltered)")
    if not boxes:
        right.info(wording.NO_BOXES.replace("high-sensitivity", OP_LABELS[result.operating_point].lower()))
    for rank, box in enumerate(boxes, 1):
        right.markdown(wording.box_line(rank, box))
    right.caption(wording.boxes_caption(result.uses_boxes))
    right.caption(wording.localizer_summary(pred.localizer.card.metrics["test"]))


@st.fragment
def heatmap_gallery(pred: Predictor, key: str, gray, names: list[str]) -> None:
    """Original image beside one overlay per model; controls re-run only this fragment."""
    c1, c2, c3 = st.columns([1, 1, 1])
    method = c1.selectbox("Heat-map method", list(HEATMAP_METHODS), key=f"m{key}",
                          help="Grad-CAM and Grad-CAM++ follow gradients; EigenCAM is gradient-free.")
    alpha = c2.slider("Overlay opacity", 0.0, 1.0, 0.45, 0.05, key=f"a{key}")
    pre = c3.toggle("Show what the model saw (CLAHE / Canny)", key=f"p{key}")
    cols = st.columns(len(names) + 1)
    cols[0].image(gray, caption="Original (unaltered)", width="stretch")
    heats = st.session_state.setdefault("heatmaps", {})
    for stale in [k for k in heats if k[0] != key]:  # keep only the open image's maps in memory
        del heats[stale]
    for col, name in zip(cols[1:], names):
        hk = (key, name, method)
        if hk not in heats:
            with col, st.spinner(f"{name}: computing {method}…"):
                heats[hk] = pred.heatmap(gray, name, method)
        col.image(pred.overlay(gray, heats[hk], name, alpha, pre), caption=f"{name} · {method}",
                  width="stretch")


def worklist(results: list[Result]) -> int:
    """A table of every uploaded file; returns the index of the row the user opened."""
    rows = [{"File": r.file, "Verdict": "⚠ cannot analyse" if r.error else
             (wording.HEADLINE[True] if r.fractured else wording.WORKLIST[False]),
             "Probability": None if r.error else r.probability,
             "Flag": "⚠ check file" if r.error else ("⚠ uncertain" if r.uncertain else
                                                      ("● fracture" if r.fractured else ""))} for r in results]
    event = st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key="worklist", column_config={
                             "Probability": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                                            format="%.2f")})
    chosen = event.selection.rows if event and event.selection else []
    return chosen[0] if chosen else 0


def downloads(pred: Predictor, key: str, result: Result, gray, image_sha: str, summary: dict,
              all_results: list[Result]) -> None:
    """PDF report of this image (built only when clicked) and, for several files, the worklist CSV."""
    def pdf() -> bytes:
        heats = st.session_state.setdefault("heatmaps", {})
        overlays = {}
        for m in result.members:
            hk = (key, m.name, "Grad-CAM")
            if hk not in heats:
                heats[hk] = pred.heatmap(gray, m.name, "Grad-CAM")
            overlays[m.name] = pred.overlay(gray, heats[hk], m.name, 0.45)
        return pdf_report(result, gray, overlays, summary, model_versions(pred), image_sha)

    stem = result.file.rsplit(".", 1)[0]
    c1, c2 = st.columns(2)
    c1.download_button("Download PDF report", data=pdf, file_name=f"{stem}_fracture_report.pdf",
                       mime="application/pdf", on_click="ignore", icon=":material/picture_as_pdf:")
    if len(all_results) > 1:
        c2.download_button("Download worklist CSV", data=worklist_csv(all_results), file_name="worklist.csv",
                           mime="text/csv", on_click="ignore", icon=":material/table:")
