"""What goes back into the PACS for one analysed radiograph, built with highdicom:

* a Comprehensive SR (Modality SR) stating the verdict in words, the calibrated probability of fracture,
  the operating point and its threshold, every model's name and weights sha256, the source image it was
  inferred from and the decision-support notice (boxes as spatial coordinates once a localiser exists);
* a secondary-capture image with the verdict burned in, for viewers that cannot show an SR.

Their UIDs are derived from the source instance (and their series from the study), so the same source
always maps to the same result instances: a second scan finds them and adds nothing.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.sr import (
    CodedConcept,
    ContainerContentItem,
    ContentSequence,
    ImageContentItem,
    NumContentItem,
    ScoordContentItem,
    TextContentItem,
)
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from core.serving import wording
from core.serving.verdict import Result

TOOL = "fracture-dash"
UID_NAMESPACE = uuid.UUID("6f1d3c52-8a57-4d6e-9d0b-3c1f1b7e2a90")
SR_SERIES_NUMBER, SC_SERIES_NUMBER = 9901, 9902
SERIES_DESCRIPTION = {"sr": "AI fracture decision support (report)",
                      "sc": "AI fracture decision support (verdict image)"}
SCHEME = "99FRACDASH"  # private coding scheme (PS3.16: designators beginning with 99 are local)
CODING_SCHEME = CodingSchemeIdentificationItem(SCHEME, name=f"{TOOL} local codes")


def _local(code: str, meaning: str) -> CodedConcept:
    return CodedConcept(code, SCHEME, meaning)


CODES = {
    "report": CodedConcept("18748-4", "LN", "Diagnostic imaging report"),
    "finding": CodedConcept("121071", "DCM", "Finding"),
    "source": CodedConcept("260753009", "SCT", "Source"),
    "region": CodedConcept("111030", "DCM", "Image Region"),
    "algorithm_name": CodedConcept("111001", "DCM", "Algorithm Name"),
    "algorithm_version": CodedConcept("111003", "DCM", "Algorithm Version"),
    "probability": _local("P_FRACTURE", "Probability of fracture"),
    "operating_point": _local("OPERATING_POINT", "Operating point"),
    "threshold": _local("THRESHOLD", "Decision threshold (probability)"),
    "decided_by": _local("DECIDED_BY", "Verdict decided by"),
    "agreement": _local("AGREEMENT", "Fraction of models agreeing with the verdict"),
    "uncertain": _local("UNCERTAIN", "Uncertain verdict"),
    "caution": _local("CAUTION", "Caution"),
    "model": _local("MODEL", "Model"),
    "notice": _local("NOTICE", "Decision-support notice"),
}
UNITLESS = CodedConcept("1", "UCUM", "no units")
TYPE2_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                       "StudyID", "AccessionNumber", "ReferringPhysicianName")
UTF8 = "ISO_IR 192"  # the clinical words hold dashes that Latin-1 cannot encode


@dataclass(frozen=True)
class Box:
    """An axis-aligned box on the source image, in pixels (column x, row y from the top-left corner)."""

    x: float
    y: float
    width: float
    height: float


def derived_uid(kind: str, source_uid: str) -> str:
    """A UID that is always the same for (kind, source UID): '2.25.' + a name-based UUID (PS3.5 B.2)."""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, f'{TOOL}:{kind}:{source_uid}').int}"


def result_uids(source: Dataset) -> dict[str, str]:
    """SOP Instance UIDs of the SR ('sr') and the secondary capture ('sc') for one source instance."""
    return {kind: derived_uid(kind, str(source.SOPInstanceUID)) for kind in ("sr", "sc")}


def own_series(study_uid: str) -> dict[str, str]:
    """Series Instance UIDs this tool writes into a study: {'sr': ..., 'sc': ...}."""
    return {kind: derived_uid(f"{kind}-series", study_uid) for kind in ("sr", "sc")}


def with_type2(source: Dataset) -> Dataset:
    """A shallow copy of the source with the patient/study attributes an SR must carry (empty when absent)."""
    copy = Dataset()
    copy.update(source)  # a new element mapping: the source itself is left as it was
    for keyword in TYPE2_PATIENT_STUDY:
        if keyword not in copy:
            setattr(copy, keyword, "")
    return copy


def verdict_sentence(result: Result) -> str:
    """'FRACTURE SUSPECTED: probability of fracture 83 % (the ensemble), at or above the threshold …'."""
    side = "at or above" if result.fractured else "below"
    prob, thr = wording.probability_and_threshold(result.probability, result.threshold)
    return (f"{wording.HEADLINE[bool(result.fractured)]}: probability of fracture {prob} "
            f"({wording.decided_by(result.decided_by, result.uses_boxes)}), {side} the alarm threshold of {thr} "
            f"for the {wording.op_label(result.operating_point).lower()} setting.")


def _text(key: str, value: str, rel: str = "CONTAINS") -> TextContentItem:
    return TextContentItem(CODES[key], value, relationship_type=rel)


def _num(key: str, value: float, rel: str = "CONTAINS") -> NumContentItem:
    return NumContentItem(CODES[key], round(float(value), 6), UNITLESS, relationship_type=rel)


def _source_ref(source: Dataset, name: str = "source", rel: str = "CONTAINS") -> ImageContentItem:
    return ImageContentItem(CODES[name], str(source.SOPClassUID), str(source.SOPInstanceUID),
                            relationship_type=rel)


def region_items(boxes: Sequence[Box], source: Dataset) -> list[ScoordContentItem]:
    """Each box as a closed POLYLINE (SCOORD) on the source image, with the image it was selected from.

    The fracture localiser's boxes (`pacs_study.result_boxes`) arrive here."""
    items = []
    for b in boxes:
        corners = np.array([[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height],
                            [b.x, b.y + b.height], [b.x, b.y]], dtype=float)
        item = ScoordContentItem(CODES["region"], "POLYLINE", corners, relationship_type="INFERRED FROM")
        item.ContentSequence = ContentSequence([_source_ref(source, "source", "SELECTED FROM")])
        items.append(item)
    return items


def _model_item(version: dict[str, str], result: Result) -> ContainerContentItem:
    box = ContainerContentItem(CODES["model"], relationship_type="CONTAINS")
    children = [_text("algorithm_name", version["name"]), _text("algorithm_version", f"sha256:{version['sha256']}")]
    member = next((m for m in result.members if m.name == version["name"]), None)
    if member is not None:
        children.append(_num("probability", member.probability))
    box.ContentSequence = ContentSequence(children)
    return box


def report_items(result: Result, source: Dataset, versions: list[dict[str, str]],
                 boxes: Sequence[Box] = ()) -> list:
    """The SR's content under its title: verdict, probability, setting, cautions, models, source, notice."""
    items = [_text("finding", verdict_sentence(result)), _num("probability", result.probability),
             _text("operating_point", wording.op_label(result.operating_point)),
             _num("threshold", result.threshold), _text("decided_by", wording.decided_by(result.decided_by, result.uses_boxes))]
    if result.agreement is not None:
        items.append(_num("agreement", result.agreement))
    if result.uncertain:
        items.append(_text("uncertain", wording.UNCERTAIN))
    items += [_text("caution", w) for w in result.warnings]
    items += [_model_item(v, result) for v in versions]
    items += [_source_ref(source), *region_items(boxes, source), _text("notice", wording.NOTICE)]
    return items


def build_sr(source: Dataset, result: Result, versions: list[dict[str, str]],
             boxes: Sequence[Box] = ()) -> hd.sr.ComprehensiveSR:
    """The Comprehensive SR for one analysed source instance, in the source's study (preliminary, unverified)."""
    root = ContainerContentItem(CODES["report"])
    root.ContentSequence = ContentSequence(report_items(result, source, versions, boxes))
    return hd.sr.ComprehensiveSR(
        evidence=[with_type2(source)], content=root, series_instance_uid=own_series(source.StudyInstanceUID)["sr"],
        series_number=SR_SERIES_NUMBER, sop_instance_uid=result_uids(source)["sr"],
        instance_number=int(source.get("InstanceNumber", 1) or 1), manufacturer=TOOL, is_complete=True,
        is_final=False, is_verified=False, series_description=SERIES_DESCRIPTION["sr"],
        manufacturer_model_name=TOOL, software_versions=_software(versions), coding_schemes=[CODING_SCHEME],
        specific_character_set=UTF8)


def _software(versions: list[dict[str, str]]) -> str:
    return "; ".join(f"{v['name']} {v['sha256'][:12]}" for v in versions)[:64] or TOOL


def burned_lines(result: Result) -> list[str]:
    """The words burned into the secondary capture."""
    lines = [f"AI {wording.NOTICE.split('.')[0].upper()}", verdict_sentence(result)]
    if result.uncertain:
        lines.append(wording.UNCERTAIN.split(".")[0])
    return lines + [f"Caution: {w}" for w in result.warnings]


def _ascii(text: str) -> str:
    """What the built-in font prints: dashes and quotes made plain, anything else replaced."""
    table = {"—": "-", "–": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "≥": ">=", "≤": "<="}
    return "".join(table.get(c, c) for c in text).encode("ascii", "replace").decode()


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap to a pixel width."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            candidate = word
        line = candidate
    return lines + ([line] if line else [])


def burn_in(pixels: np.ndarray, lines: list[str]) -> np.ndarray:
    """The image with a black band on top holding `lines` in white (the anatomy is not covered)."""
    width = pixels.shape[1]
    font = ImageFont.load_default(size=max(11, width // 40))
    step = int(font.size * 1.3)
    wrapped = [part for line in lines for part in _wrap(_ascii(line), font, width - step)]
    band = step * len(wrapped) + step // 2
    canvas = Image.new("L", (width, pixels.shape[0] + band), 0)
    canvas.paste(Image.fromarray(np.asarray(pixels, dtype=np.uint8)), (0, band))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(wrapped):
        draw.text((step // 3, step // 4 + i * step), line, fill=255, font=font)
    return np.asarray(canvas, dtype=np.uint8)


def build_sc(source: Dataset, result: Result, pixels: np.ndarray) -> hd.sc.SCImage:
    """A secondary-capture image of the analysed pixels with the verdict burned in, in the source's study."""
    image = burn_in(pixels, burned_lines(result))
    orientation = [str(v) for v in source.get("PatientOrientation", None) or []]
    known = len(orientation) == 2 and all(orientation)
    sc = hd.sc.SCImage.from_ref_dataset(
        source, image, "MONOCHROME2", 8, "PATIENT", series_instance_uid=own_series(source.StudyInstanceUID)["sc"],
        series_number=SC_SERIES_NUMBER, sop_instance_uid=result_uids(source)["sc"],
        instance_number=int(source.get("InstanceNumber", 1) or 1), manufacturer=TOOL,
        patient_orientation=tuple(orientation) if known else ("L", "F"),
        series_description=SERIES_DESCRIPTION["sc"], transfer_syntax_uid="1.2.840.10008.1.2.1",
        specific_character_set=UTF8)
    if not known:  # highdicom needs a value to build; the source does not say, so neither do we (Type 2)
        sc.PatientOrientation = None
    sc.BurnedInAnnotation, sc.ImageComments = "YES", wording.NOTICE
    sc.DerivationDescription = f"{TOOL} verdict burned in above the image, {dt.date.today().isoformat()}"
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
    sc.SourceImageSequence = [ref]
    return sc
