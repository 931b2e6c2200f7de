"""The bundled sample JPEGs as DICOM radiographs (DX), for the PACS demo, the benchmark and the tests.

The patients are synthetic (DEMO0001, "Demo^Patient 1"); the pixels are the FracAtlas sample (CC BY 4.0).
"""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "sample"
DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
REGIONS = ("hand", "leg", "hip", "shoulder")
VIEWS = {"frontal": "AP", "lateral": "LL", "oblique": ""}


def radiograph(pixels: np.ndarray, *, patient_id: str, patient_name: str, study_uid: str,
               series_uid: str | None = None, instance: int = 1, body_part: str = "",
               view: str = "", modality: str = "DX") -> Dataset:
    """An uncompressed 8-bit MONOCHROME2 radiograph dataset (DX for presentation) of `pixels`."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = DX_FOR_PRESENTATION, generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    today = dt.date.today().strftime("%Y%m%d")
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = patient_id, patient_name, "", "O"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID = study_uid, today, "120000", "1"
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
    ds.StudyDescription = f"Radiograph {body_part}".strip()
    ds.SeriesInstanceUID, ds.SeriesNumber = series_uid or generate_uid(), 1
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = modality, body_part, view
    ds.InstanceNumber, ds.PresentationIntentType = instance, "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    return ds


def with_jpeg_baseline(ds: Dataset, jpeg_bytes: bytes) -> Dataset:
    """`ds` with its pixels replaced by an existing 8-bit grayscale baseline JPEG, encapsulated as is."""
    ds.PixelData = encapsulate([jpeg_bytes])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """The dataset as a DICOM Part 10 file."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def sample_table() -> pd.DataFrame:
    """labels.csv of the bundled sample with a DICOM body part and view position per image."""
    df = pd.read_csv(SAMPLES / "labels.csv")
    df["body_part"] = [next((r.upper() for r in REGIONS if row[r] == 1), "") for _, row in df.iterrows()]
    df["view"] = [next((v for k, v in VIEWS.items() if row[k] == 1), "") for _, row in df.iterrows()]
    return df


def sample_radiographs(count: int | None = None, per_study: int = 1) -> list[Dataset]:
    """The first `count` bundled samples as DX datasets, `per_study` images per synthetic patient's study."""
    rows = sample_table().head(count) if count else sample_table()
    out, study, series = [], "", ""
    for i, row in enumerate(rows.itertuples()):
        if i % per_study == 0:
            study, series, n = generate_uid(), generate_uid(), i // per_study + 1
        pixels = np.asarray(Image.open(SAMPLES / "images" / row.image).convert("L"))
        out.append(radiograph(pixels, patient_id=f"DEMO{n:04d}", patient_name=f"Demo^Patient {n}",
                              study_uid=study, series_uid=series, instance=i % per_study + 1, body_part=row.body_part,
                              view=row.view))
    return out
