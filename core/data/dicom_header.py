"""What a DICOM header says the image is: only projection radiographs are analysed, and a body part
outside what the models were trained on (FracAtlas: hand, leg, hip, shoulder) gets a warning."""
from __future__ import annotations

from core.errors import ModalityError

PROJECTION_MODALITIES = {"CR": "computed radiography", "DX": "digital radiography",
                         "RG": "radiographic imaging (film/screen)"}
OTHER_MODALITIES = {
    "CT": "a CT scan", "MR": "an MRI scan", "US": "an ultrasound image", "NM": "a nuclear-medicine image",
    "PT": "a PET scan", "MG": "a mammogram", "XA": "an X-ray angiogram", "RF": "a fluoroscopy image",
    "IO": "an intra-oral dental X-ray", "PX": "a panoramic dental X-ray", "ES": "an endoscopy image",
    "XC": "a photograph", "OT": "an image of unspecified kind ('other')", "SC": "a secondary capture",
    "SR": "a structured report", "DOC": "a document", "SEG": "a segmentation", "PR": "a presentation state",
    "KO": "a key-object selection", "ECG": "an ECG", "OP": "an ophthalmic photograph", "OCT": "an OCT scan",
    "BMD": "a bone-density scan", "PET": "a PET scan"}
FRACATLAS_REGIONS = "hand, leg, hip and shoulder"
TRAINED_BODY_PARTS = frozenset({
    "HAND", "FINGER", "THUMB", "WRIST", "FOREARM", "RADIUS", "ULNA", "ELBOW", "ARM", "UPPERARM", "HUMERUS",
    "SHOULDER", "CLAVICLE", "SCAPULA", "ACJOINT", "UPPERLIMB", "UPPEREXTREMITY",
    "HIP", "PELVIS", "FEMUR", "THIGH", "KNEE", "PATELLA", "LEG", "LOWERLEG", "TIBIA", "FIBULA", "ANKLE",
    "FOOT", "HEEL", "CALCANEUS", "TOE", "LOWERLIMB", "LOWEREXTREMITY", "EXTREMITY"})


def modality_problem(modality: str | None) -> str | None:
    """Why a DICOM of this Modality is not analysed (a sentence naming it), or None for a radiograph."""
    code = (modality or "").strip().upper()
    if code in PROJECTION_MODALITIES:
        return None
    accepted = ", ".join(PROJECTION_MODALITIES)
    if not code:
        return ("This DICOM does not state its modality; only projection radiographs "
                f"(Modality {accepted}) are analysed.")
    what = OTHER_MODALITIES.get(code, "not a projection radiograph")
    return (f"This DICOM is {what} (Modality {code}); only projection radiographs "
            f"(Modality {accepted}) are analysed.")


def check_modality(modality: str | None) -> None:
    """Raise ModalityError, naming the modality, unless it is a projection radiograph."""
    problem = modality_problem(modality)
    if problem:
        raise ModalityError(problem)


def is_projection_radiograph(modality: str | None) -> bool:
    """True for CR, DX and RG."""
    return modality_problem(modality) is None


def body_part_warning(body_part: str | None) -> str | None:
    """A warning for a BodyPartExamined outside FracAtlas's regions; None when trained on or not stated."""
    code = (body_part or "").strip().upper()
    if not code or _normalise(code) in TRAINED_BODY_PARTS:
        return None
    return (f"Body part {code} is outside what the models were trained on (FracAtlas: {FRACATLAS_REGIONS} "
            "radiographs); this verdict may not be reliable.")


def _normalise(code: str) -> str:
    return "".join(ch for ch in code if ch.isalnum())


def header_summary(meta: dict) -> str | None:
    """'DICOM DX · body part HAND · view AP' from a loaded image's metadata; None for non-DICOM files."""
    if meta.get("format") != "DICOM":
        return None
    parts = [f"DICOM {meta.get('modality') or '(no modality)'}",
             f"body part {meta.get('body_part') or 'not stated'}", f"view {meta.get('view_position') or 'not stated'}"]
    return " · ".join(parts)
