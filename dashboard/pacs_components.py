"""Pieces of the PACS page: the study list (patients masked until revealed), image labels, the send button."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import PacsError
from core.serving.pacs_client import PacsClient
from core.serving.pacs_study import StudyImage, store_result
from core.serving.predictor import Predictor
from core.serving.report import model_versions

MASK = "••••••"


def masked(value: str, reveal: bool) -> str:
    """The value when revealed, else a fixed mask (its length gives nothing away)."""
    return value if reveal else MASK


def study_table(rows: list[dict], reveal: bool) -> pd.DataFrame:
    """Recent studies with patient name and ID masked unless `reveal`."""
    return pd.DataFrame([{"Date": r["date"], "Time": r["time"], "Patient": masked(r["patient_name"], reveal),
                          "Patient ID": masked(r["patient_id"], reveal), "Description": r["description"],
                          "Modalities": r["modalities"], "Images": r["instances"]} for r in rows])


def study_label(row: dict, reveal: bool) -> str:
    """'2026-11-25 12:00 · Radiograph HAND · ••••••' for the study picker."""
    return " · ".join(p for p in (f"{row['date']} {row['time']}".strip(), row["description"] or "(no description)",
                                  masked(row["patient_name"], reveal)) if p)


def image_label(item: StudyImage) -> str:
    """'Series 1, image 2 · DX · HAND AP' for the image picker."""
    rec = item.record
    parts = [f"Series {rec.get('SeriesNumber', '?')}, image {rec.get('InstanceNumber', '?')}",
             str(rec.get("Modality", "")), f"{rec.get('BodyPartExamined', '')} {rec.get('ViewPosition', '')}".strip()]
    return " · ".join(p for p in parts if p)


def send_button(client: PacsClient, pred: Predictor, item: StudyImage) -> None:
    """'Send result to PACS': stores the SR and the verdict image; reports success or the server's own error."""
    if item.has_result:
        st.info("This image already has a result from this tool in the PACS.", icon=":material/cloud_done:")
    if not st.button("Send result to PACS", key="pacs_send", icon=":material/cloud_upload:",
                     disabled=item.source is None or item.result.error is not None):
        return
    try:
        stored = store_result(client, item.source, item.result, item.image.pixels, model_versions(pred))
    except PacsError as exc:
        st.error(f"The PACS did not accept the result. {exc}", icon=":material/error:")
        return
    item.has_result = True
    if stored:
        st.success(f"Sent to the PACS: a structured report and a verdict image ({len(stored)} new instance(s)) "
                   "in the same study.", icon=":material/check_circle:")
    else:
        st.info("Nothing sent: the PACS already holds this tool's result for this image.")
