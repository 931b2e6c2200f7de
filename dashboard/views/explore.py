"""Dataset explorer: what the models were trained and tested on."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.data.fracatlas import REGIONS, draw_boxes, read_boxes
from core.data.loading import load_image
from core.settings import SAMPLE_DIR, explorer_dir

DATA = explorer_dir()
PAGE = 12

st.title("Dataset explorer")
if not (DATA / "labels.csv").is_file():
    st.error(f"No `labels.csv` in {DATA}. Set `FRACATLAS_DIR` to a FracAtlas folder.")
    st.stop()
df = pd.read_csv(DATA / "labels.csv")
boxes = read_boxes(DATA / "fracture_boxes_coco.json") if (DATA / "fracture_boxes_coco.json").is_file() else {}
bundled = DATA.resolve() == SAMPLE_DIR.resolve()
st.caption(("Showing the **bundled sample** (42 test-split images). For the full set run "
            "`FRACATLAS_DIR=/path/to/fracatlas make run`." if bundled else f"Data folder: `{DATA}`") +
           " · FracAtlas, Abedeen et al., *Scientific Data* 10, 521 (2023), CC BY 4.0.")

df["label"] = df["fractured"].map({1: "fractured", 0: "not fractured"})
df["region"] = df[list(REGIONS)].idxmax(axis=1).where(df[list(REGIONS)].sum(axis=1) > 0, "unknown")
c1, c2, c3 = st.columns(3)
c1.plotly_chart(px.histogram(df, x="split", color="label", barmode="group", title="Images by split"),
                width="stretch")
c2.plotly_chart(px.histogram(df, x="region", color="label", barmode="group", title="By region"),
                width="stretch")
views = df[["frontal", "lateral", "oblique"]].sum().rename_axis("view").reset_index(name="images")
c3.plotly_chart(px.bar(views, x="view", y="images", title="By view"), width="stretch")

hw = df[df["hardware"] == 1]
st.warning(f"**Shortcut to watch:** {int(hw['fractured'].sum())} of {len(hw)} images with surgical hardware "
           "(plates, screws) are labelled fractured, so a model can score by spotting metal. The model "
           "comparison page reports ROC-AUC on hardware-free images for this reason.", icon=":material/warning:")
st.plotly_chart(px.scatter(df, x="orig_w", y="orig_h", color="label", opacity=0.5, height=350,
                           title="Original image sizes (pixels)"), width="stretch")

st.subheader("Gallery")
f1, f2, f3, f4 = st.columns(4)
splits = f1.multiselect("Split", sorted(df["split"].unique()), default=sorted(df["split"].unique()))
labels = f2.multiselect("Label", ["fractured", "not fractured"], default=["fractured", "not fractured"])
regions = f3.multiselect("Region", list(REGIONS) + ["unknown"], default=list(REGIONS) + ["unknown"])
hardware = f4.selectbox("Hardware", ["any", "with hardware", "without hardware"])
view = df[df["split"].isin(splits) & df["label"].isin(labels) & df["region"].isin(regions)]
if hardware != "any":
    view = view[view["hardware"] == (1 if hardware == "with hardware" else 0)]
pages = max(1, -(-len(view) // PAGE))
page = st.number_input(f"Page (of {pages}; {len(view)} images)", 1, pages, 1)
cols = st.columns(4)
for i, row in enumerate(view.iloc[(page - 1) * PAGE: page * PAGE].itertuples()):
    gray = load_image(DATA / "images" / row.image).pixels
    picture = draw_boxes(gray, boxes.get(row.image, [])) if row.fractured else gray
    cols[i % 4].image(picture, width="stretch", caption=f"{row.image} · {row.label} · {row.region}"
                      + (" · hardware" if row.hardware else ""))
st.caption("Red boxes: the radiologists' fracture boxes.")
