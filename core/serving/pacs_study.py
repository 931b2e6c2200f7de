"""One study on the PACS: list recent studies, open one (retrieve and analyse its radiographs), and store
one image's result back (SR + secondary capture). Shared by `python -m core.pacs` and the PACS page."""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from core.data.dicom_header import modality_problem
from core.data.loading import LoadedImage
from core.errors import ResultBuildError
from core.serving.dicom_sr import Box, build_sc, build_sr, own_series, result_uids
from core.serving.pacs_client import PacsClient
from core.serving.predictor import Predictor
from core.serving.verdict import Result


def result_boxes(result: Result) -> list[Box]:
    """The localiser's boxes of a result as SR regions (pixels of the source image as loaded)."""
    return [Box(b.xyxy[0], b.xyxy[1], b.xyxy[2] - b.xyxy[0], b.xyxy[3] - b.xyxy[1]) for b in result.boxes]


@dataclass
class StudyImage:
    """One instance of an opened study: its QIDO record, the verdict (or why not) and the pixels analysed."""

    record: Dataset
    result: Result
    image: LoadedImage | None = None
    source: Dataset | None = None
    has_result: bool = False


def dicom_bytes(ds: Dataset) -> bytes:
    """A dataset as DICOM Part 10 bytes (what load_image reads)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def has_result(client: PacsClient, record: Dataset) -> bool:
    """Whether this tool's SR for the instance is in the PACS (the SR is stored last, so it marks 'done')."""
    return client.has_instance(str(record.StudyInstanceUID), result_uids(record)["sr"])


def is_own(study_uid: str, record: Dataset) -> bool:
    """Whether the instance is a result this tool wrote (its SR or secondary-capture series)."""
    return str(record.get("SeriesInstanceUID", "")) in own_series(study_uid).values()


def store_result(client: PacsClient, source: Dataset, result: Result, pixels: np.ndarray,
                 versions: list[dict[str, str]], boxes: Sequence[Box] | None = None) -> list[str]:
    """Add the secondary capture, then the SR, each unless already there; the UIDs stored (maybe none)."""
    if result.error or result.fractured is None:
        raise ValueError(f"there is no verdict to store for {result.file}: {result.error}")
    study, uids, stored = str(source.StudyInstanceUID), result_uids(source), []
    boxes = result_boxes(result) if boxes is None else boxes
    builders: dict[str, Callable[[], Dataset]] = {"sc": lambda: build_sc(source, result, pixels),
                                                  "sr": lambda: build_sr(source, result, versions, boxes)}
    for kind in ("sc", "sr"):
        if not client.has_instance(study, uids[kind]):
            client.store([_built(builders[kind], kind)], study)
            stored.append(uids[kind])
    return stored


def _built(builder: Callable[[], Dataset], kind: str) -> Dataset:
    """Run a builder; highdicom's complaints about the source header become a ResultBuildError."""
    try:
        return builder()
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        what = {"sr": "structured report", "sc": "secondary capture"}[kind]
        raise ResultBuildError(f"The {what} cannot be built from this image's DICOM header: {exc}") from exc


def analyse_instance(client: PacsClient, predictor: Predictor, record: Dataset,
                     operating_point: str) -> StudyImage:
    """Retrieve and analyse one radiograph; a non-radiograph gets a Result whose error says why (no retrieval)."""
    sop = str(record.get("SOPInstanceUID", ""))
    problem = modality_problem(str(record.get("Modality", "")))
    if problem:
        return StudyImage(record, Result(sop, error=problem))
    source = client.retrieve(str(record.StudyInstanceUID), str(record.SeriesInstanceUID), sop)
    result, image = predictor.analyse(dicom_bytes(source), sop, operating_point)
    return StudyImage(record, result, image, source, has_result(client, record))


def open_study(client: PacsClient, predictor: Predictor, study_uid: str, operating_point: str) -> list[StudyImage]:
    """Every instance of the study except this tool's own results, in series/instance order, analysed."""
    records = [r for r in client.instances(study_uid) if not is_own(study_uid, r)]
    records.sort(key=instance_order)
    return [analyse_instance(client, predictor, r, operating_point) for r in records]


def instance_order(record: Dataset) -> tuple[int, int]:
    """Sort key: series number, then instance number."""
    return int(record.get("SeriesNumber", 0) or 0), int(record.get("InstanceNumber", 0) or 0)


def recent_studies(client: PacsClient, days: int | None = 30, limit: int = 200) -> list[dict[str, object]]:
    """Studies of the last `days` days (all when None), newest first, as plain rows for a table."""
    filters = None
    if days is not None:
        filters = {"StudyDate": f"{(dt.date.today() - dt.timedelta(days=days)).strftime('%Y%m%d')}-"}
    rows = [_study_row(s) for s in client.studies(limit=limit, filters=filters)]
    return sorted(rows, key=lambda r: (r["date"], r["time"]), reverse=True)


def _study_row(s: Dataset) -> dict[str, object]:
    date, time = str(s.get("StudyDate", "") or ""), str(s.get("StudyTime", "") or "")
    modalities = s.get("ModalitiesInStudy", []) or []
    return {"study": str(s.StudyInstanceUID),
            "date": f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 else date,
            "time": f"{time[:2]}:{time[2:4]}" if len(time) >= 4 else time,
            "patient_name": str(s.get("PatientName", "") or "").replace("^", " ").strip(),
            "patient_id": str(s.get("PatientID", "") or ""), "description": str(s.get("StudyDescription", "") or ""),
            "modalities": ", ".join([modalities] if isinstance(modalities, str) else list(modalities)),
            "instances": int(s.get("NumberOfStudyRelatedInstances", 0) or 0)}
