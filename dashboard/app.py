"""Fracture X-ray dashboard: `make run` (or `streamlit run dashboard/app.py`)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="Fracture X-ray dashboard", page_icon=":material/radiology:", layout="wide")
HERE = Path(__file__).parent
pages = [
    st.Page(HERE / "views" / "diagnose.py", title="Diagnose", icon=":material/radiology:", default=True),
    st.Page(HERE / "views" / "compare.py", title="Model comparison", icon=":material/bar_chart:"),
    st.Page(HERE / "views" / "explore.py", title="Dataset explorer", icon=":material/photo_library:"),
    st.Page(HERE / "views" / "pacs.py", title="PACS", icon=":material/dns:"),
]
st.navigation(pages).run()
