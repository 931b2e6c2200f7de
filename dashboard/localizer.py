"""The comparison page's localiser section, drawn from reports/localizer.json only."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.evaluation.tables import fusion_table
from core.models.cards import ModelCard
from core.serving import wording
from dashboard.charts import froc_chart


def localizer_table(card: dict, pointing: dict | None) -> pd.DataFrame:
    """AP50, FROC points and top-box pointing per split, with the heat maps' best pointing beside them."""
    rows = []
    for split, m in card["metrics"].items():
        f = m["froc"]
        rows.append({"split": split, "AP50": round(m["ap50"], 3), "FROC @0.5": round(f["0.5"], 3),
                     "FROC @1": round(f["1.0"], 3), "FROC @2": round(f["2.0"], 3),
                     "pointing (top box)": round(m["pointing"], 3),
                     "top-box score ROC-AUC": round(m["top_score_auc"], 3),
                     "fractured images / boxes": f"{m['n_fractured_with_boxes']} / {m['n_boxes']}"})
    df = pd.DataFrame(rows)
    if pointing:
        best = max(max(r.values()) for r in pointing["hit_rate"].values())
        df[f"best heat map pointing ({pointing['split']})"] = round(best, 3)
    return df


def fusion_section(ensemble: ModelCard | None, decision: dict | None) -> None:
    """Does the localiser's top box score improve the verdict? Val's decision and test before → after."""
    table = fusion_table(ensemble) if ensemble is not None else None
    if not decision:
        return
    st.markdown("**Does the localiser's evidence improve the verdict?**")
    gain = f"{decision['auc_gain_mean']:+.4f} ± {decision['auc_gain_sd']:.4f}"
    if table is None or table.empty:
        st.caption(f"Cross-validated on val, adding the top box score changes the ROC-AUC by {gain}: not fused.")
        return
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(f"Cross-validated on val, adding the top box score raised the ROC-AUC by {gain}, so the shipped "
               f"verdict adds {ensemble.box_fusion.weight:.2f} × logit(top box score) to the ensemble's log-odds, "
               "with calibration and thresholds refitted on val. Rows: the held-out test split.")


def localizer_section(card: dict | None, pointing: dict | None) -> None:
    """Where the boxes land: FROC curves, AP and pointing beside the heat maps'."""
    st.subheader("Does the localiser find the fracture? (boxes against the radiologists')")
    if not card:
        st.info("Not trained yet: `make train-localizer` writes `reports/localizer.json`.")
        return
    st.dataframe(localizer_table(card, pointing), hide_index=True, width="stretch")
    st.plotly_chart(froc_chart(card), width="stretch")
    ops = card["metrics"]["test"]["operating_points"]
    st.caption(
        "FROC: share of radiologist boxes found (IoU ≥ 0.5) against false boxes per image; diamonds are the "
        f"shipped box thresholds (high sensitivity {ops['high_sensitivity']['threshold']:.2f}, balanced "
        f"{ops['balanced']['threshold']:.2f}, chosen on val). Pointing: the top box's centre inside a "
        f"radiologist's box grown by {card['metrics']['test']['pointing_tolerance']:.0%} of the longer side, the "
        "heat maps' protocol. " + wording.localizer_summary(card["metrics"]["test"]))
