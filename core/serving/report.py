"""What leaves the app: a one-page PDF per image, a worklist CSV, and an opt-in audit log."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from core.serving import wording
from core.serving.findings import draw_findings
from core.serving.verdict import Result
from core.settings import audit_log


def _latin1(text: str) -> str:
    """The core PDF fonts speak Latin-1 only: replace what they cannot print."""
    table = {"—": "-", "–": "-", "≥": ">=", "≤": "<=", "·": "-", "×": "x", "…": "...", "✓": "yes", "✗": "no"}
    return "".join(table.get(c, c) for c in text).encode("latin-1", "replace").decode("latin-1")


def worklist_csv(results: list[Result]) -> bytes:
    """One row per file: verdict, probability, operating point, flags and every model's probability."""
    rows = []
    for r in results:
        row = {"file": r.file, "error": r.error or "", "verdict": "" if r.error else wording.WORKLIST[bool(r.fractured)],
               "probability": r.probability, "operating_point": r.operating_point, "threshold": r.threshold,
               "uncertain": r.uncertain, "decided_by": r.decided_by, "verdict_uses_boxes": r.uses_boxes,
               "out_of_scope": r.out_of_scope,
               "scope_overridden": r.scope_overridden, "scope_reason": r.scope_reason or "",
               "boxes": len(r.shown_boxes()) if r.localized else "",
               "top_box_score": r.boxes[0].score if r.boxes else "",
               "quality_flags": " ".join(r.image.get("quality", {}).get("flagged", []))}
        row.update({f"p_{m.name}": round(m.probability, 4) for m in r.members})
        rows.append(row)
    return pd.DataFrame(rows).to_csv(index=False).encode()


def model_versions(predictor: Any) -> list[dict[str, str]]:
    """Name, architecture and weights sha256 of every loaded model (the localiser's too, when shipped)."""
    out = [{"name": m.name, "architecture": str(m.card.architecture), "sha256": m.card.weights.sha256,
            "created": m.card.created} for m in predictor.members]
    finder = getattr(predictor, "localizer", None)
    if finder is not None:
        card = finder.card
        out.append({"name": "localizer", "architecture": f"centre heads on {card.trunk}",
                    "sha256": card.weights.sha256, "created": card.created})
    return out


def pdf_report(result: Result, gray: np.ndarray, overlays: dict[str, np.ndarray], summary: dict,
               versions: list[dict[str, str]], image_sha256: str) -> bytes:
    """A one-page PDF: image, overlays, verdicts, operating point with its test figures, versions."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, "Fracture X-ray decision support - report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pdf.cell(0, 5, _latin1(f"File: {result.file}   sha256: {image_sha256[:16]}...   {when}"),
             new_x="LMARGIN", new_y="NEXT")
    _verdict_block(pdf, result, summary)
    if result.shown_boxes():
        overlays = {"Fracture boxes": draw_findings(gray, result.shown_boxes())} | overlays
    _images(pdf, gray, overlays)
    _members(pdf, result)
    if result.localized:
        _boxes(pdf, result)
    pdf.set_font("Helvetica", "", 7)
    for v in versions:
        pdf.cell(0, 4, _latin1(f"{v['name']} ({v['architecture']}), weights sha256 {v['sha256']}"),
                 new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(0, 4.5, _latin1(wording.NOTICE))
    return bytes(pdf.output())


def _verdict_block(pdf: Any, r: Result, s: dict) -> None:
    pdf.set_font("Helvetica", "B", 14)
    title = wording.HEADLINE[bool(r.fractured)]
    if r.uncertain:
        title += "  (" + wording.UNCERTAIN.split(".")[0] + ")"
    if r.scope_overridden:
        title += f"  [{wording.OVERRIDDEN}]"
    pdf.cell(0, 9, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    if r.scope_overridden:
        why = r.scope_reason or "no reason given"
        pdf.multi_cell(0, 5, _latin1(f"The out-of-scope gate refused this image ({why}); the user confirmed "
                                     "it is a radiograph and asked for the analysis."),
                       new_x="LMARGIN", new_y="NEXT")
    for caution in r.warnings:
        pdf.multi_cell(0, 5, _latin1(f"Caution: {caution}"), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, _latin1(
        f"Probability of fracture {r.probability:.1%} ({wording.decided_by(r.decided_by, r.uses_boxes)}); operating point "
        f"{wording.op_label(r.operating_point).lower()}, threshold {r.threshold:.3f}. "
        + wording.setting_summary(s).replace("In testing:", "On the held-out FracAtlas test split this setting gave")))


def _images(pdf: Any, gray: np.ndarray, overlays: dict[str, np.ndarray]) -> None:
    pictures = [("Original", Image.fromarray(gray))] + [(n, Image.fromarray(o)) for n, o in overlays.items()]
    width = min(60.0, 180.0 / len(pictures))
    y, x = pdf.get_y() + 2, 15.0
    height = 0.0
    for name, im in pictures:
        h = width * im.height / im.width
        pdf.image(im, x=x, y=y, w=width, h=h)
        pdf.set_xy(x, y + h + 1)
        pdf.set_font("Helvetica", "", 8)
        pdf.cell(width, 4, _latin1(name))
        x, height = x + width + 2, max(height, h)
    pdf.set_xy(15, y + height + 7)


def _members(pdf: Any, r: Result) -> None:
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Each model", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for m in r.members:
        verdict = wording.SHORT[bool(m.fractured)]
        pdf.cell(0, 5, _latin1(f"{m.name}: p = {m.probability:.3f}, threshold {m.threshold:.3f} -> {verdict}"),
                 new_x="LMARGIN", new_y="NEXT")


def _boxes(pdf: Any, r: Result) -> None:
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Fracture localiser", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    shown = r.shown_boxes()
    lines = [wording.box_line(i, b) for i, b in enumerate(shown, 1)] or [wording.NO_BOXES]
    for line in lines[:6]:
        pdf.cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    if shown:
        pdf.set_font("Helvetica", "", 7)
        caption = wording.boxes_caption(r.uses_boxes).replace("**", "")
        pdf.multi_cell(0, 3.5, _latin1(caption), new_x="LMARGIN", new_y="NEXT")


def audit(result: Result, image_bytes: bytes, versions: list[dict[str, str]],
          path: str | Path | None = None) -> Path | None:
    """Append one JSON line (time, image sha256 — never the image —, versions, outputs) if enabled."""
    target = path or audit_log()
    if not target:
        return None
    entry = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             "image_sha256": hashlib.sha256(image_bytes).hexdigest(),
             "models": [{"name": v["name"], "sha256": v["sha256"]} for v in versions],
             "output": {k: v for k, v in result.to_dict().items() if k != "image"}}
    with open(target, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=float) + "\n")
    return Path(target)
