"""DICOM headers are respected: only projection radiographs are analysed, body parts outside FracAtlas warn."""
from __future__ import annotations

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from core.data.dicom_header import body_part_warning, check_modality, is_projection_radiograph, modality_problem
from core.data.loading import load_image
from core.errors import InputError, ModalityError
from scripts.sample_dicom import to_bytes
from tests.badfiles import png
from tests.pacs_helpers import study_of


@pytest.mark.parametrize("modality", ["CR", "DX", "RG", " dx "])
def test_projection_radiographs_pass(modality):
    assert modality_problem(modality) is None and is_projection_radiograph(modality)
    check_modality(modality)


@pytest.mark.parametrize("modality, words", [("CT", "CT scan"), ("MR", "MRI"), ("US", "ultrasound"),
                                             ("NM", "nuclear"), ("PT", "PET"), ("MG", "mammogram"),
                                             ("XA", "angiogram"), ("OT", "other"), ("ZZ", "not a projection")])
def test_other_modalities_are_refused_by_name(modality, words):
    with pytest.raises(ModalityError) as err:
        check_modality(modality)
    assert f"Modality {modality}" in str(err.value) and words in str(err.value)
    assert isinstance(err.value, InputError)


def test_missing_modality_is_refused():
    assert "does not state its modality" in modality_problem("")


@pytest.mark.parametrize("name, modality", [("MR_small.dcm", "MR"), ("CT_small.dcm", "CT")])
def test_pydicom_test_files_are_refused_when_loaded(name, modality):
    with pytest.raises(ModalityError, match=f"Modality {modality}"):
        load_image(get_testdata_file(name))


@pytest.mark.parametrize("part", ["CHEST", "SKULL", "SPINE", "ABDOMEN", "head"])
def test_untrained_body_part_warns_by_name(part):
    warning = body_part_warning(part)
    assert part.upper() in warning and "hand, leg, hip and shoulder" in warning


@pytest.mark.parametrize("part", ["HAND", "WRIST", "LEG", "KNEE", "ANKLE", "FOOT", "HIP", "PELVIS", "SHOULDER",
                                  "LOWER LIMB", "UPPER_LIMB", "", None])
def test_trained_or_unstated_body_part_is_quiet(part):
    assert body_part_warning(part) is None


def test_load_reads_body_part_and_view_and_warns():
    chest = load_image(to_bytes(study_of(0, body_part="CHEST")))
    assert chest.meta["body_part"] == "CHEST" and chest.meta["view_position"] in ("AP", "LL", "")
    assert len(chest.meta["warnings"]) == 1 and "CHEST" in chest.meta["warnings"][0]
    hand = load_image(to_bytes(study_of(0, body_part="HAND")))
    assert hand.meta["warnings"] == []


def test_images_without_dicom_headers_are_unaffected(xray_gray):
    meta = load_image(png(xray_gray), "x.png").meta
    assert "modality" not in meta and not meta.get("warnings")


def test_predict_cli_refuses_mr_and_warns_on_chest(trained, tmp_path, capsys):
    from core.serving.predictor import main

    chest = tmp_path / "chest.dcm"
    chest.write_bytes(to_bytes(study_of(0, body_part="CHEST")))
    assert main([get_testdata_file("MR_small.dcm"), str(chest), "--weights", str(trained / "weights")]) == 0
    lines = capsys.readouterr().out
    assert "MR_small.dcm: REJECTED" in lines and "Modality MR" in lines and "FRACTURED" not in lines
    assert "WARNING: Body part CHEST is outside what the models were trained on" in lines
    assert "DICOM DX · body part CHEST · view " in lines


def test_result_and_pdf_carry_the_warning(trained):
    import io

    from pypdf import PdfReader

    from core.serving.predictor import Predictor
    from core.serving.report import model_versions, pdf_report

    pred = Predictor(trained / "weights")
    result, image = pred.analyse(to_bytes(study_of(1, body_part="SKULL")), "skull.dcm")
    assert result.error is None and any("SKULL" in w for w in result.warnings)
    assert result.to_dict()["warnings"] == result.warnings
    assert np.isfinite(result.probability)
    data = pdf_report(result, image.pixels, {}, pred.operating_summary(result.operating_point),
                      model_versions(pred), "0" * 64)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "Caution: Body part SKULL is outside" in " ".join(text.split())
