"""The PACS round trip against a real Orthanc (DICOMweb plugin, authentication on): scan, SR content and
references, idempotence, refusals, failures with a clear message and nothing written, resume, watch."""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import highdicom as hd
import pydicom
import pytest
import requests
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless

from core.errors import PacsConfigError
from core.serving import pacs, wording
from core.serving.dicom_sr import Box, build_sr, own_series, region_items, result_uids, verdict_sentence
from core.serving.pacs_client import PacsClient, load_config
from core.serving.predictor import Predictor
from core.serving.report import model_versions
from core.serving.verdict import Result
from scripts import orthanc_local
from tests.pacs_helpers import orthanc_server, study_of, undecodable

PASSWORD_ENV = ("FRACTURE_PACS_URL", "FRACTURE_PACS_USER", "FRACTURE_PACS_PASSWORD", "FRACTURE_PACS_CONFIG")


@pytest.fixture
def fresh(tmp_path):
    """An empty Orthanc for this test alone."""
    yield from orthanc_server(tmp_path / "orthanc")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One Orthanc for the tests that touch only their own studies (scan --study)."""
    yield from orthanc_server(tmp_path_factory.mktemp("orthanc"))


@pytest.fixture
def weights(trained) -> Path:
    return trained / "weights"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in PASSWORD_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.config/fracture-dash/pacs.toml


def configure(monkeypatch, tmp_path, server, password: str | None = None) -> Path:
    cfg = server.write_client_config(tmp_path / "pacs.json")
    if password is not None:
        cfg.write_text(json.dumps({"url": server.url, "user": server.user, "password": password}))
    monkeypatch.setenv("FRACTURE_PACS_CONFIG", str(cfg))
    return cfg


def run(capsys, *args: str) -> tuple[int, list[dict], str]:
    rc = pacs.main(list(args))
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.strip()], err


def all_instances(study_uids=None) -> list:
    client = PacsClient(load_config())
    uids = study_uids or [str(s.StudyInstanceUID) for s in client.all_studies()]
    return [i for uid in uids for i in client.instances(str(uid))]


def sr_items(ds, depth: int | None = None) -> list[tuple[str, str, object]]:
    """(concept meaning, value type, value) of every content item, depth first (or only the top `depth` levels)."""
    out = []
    for item in ds.get("ContentSequence", []):
        out.append((item.ConceptNameCodeSequence[0].CodeMeaning, item.ValueType, _value(item)))
        if depth is None or depth > 1:
            out += sr_items(item, None if depth is None else depth - 1)
    return out


def _value(item) -> object:
    if item.ValueType == "TEXT":
        return item.TextValue
    if item.ValueType == "NUM":
        return float(item.MeasuredValueSequence[0].NumericValue)
    if item.ValueType == "IMAGE":
        return item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    return None


def spy_on_http(monkeypatch) -> list[tuple[str, str]]:
    """Record (method, url) of every HTTP request, passing it through."""
    calls, real = [], requests.Session.request

    def request(self, method, url, *args, **kwargs):
        calls.append((method, url))
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    return calls


@pytest.mark.orthanc
def test_scan_writes_sr_and_capture_then_adds_nothing(fresh, weights, monkeypatch, tmp_path, capsys):
    server = fresh
    dx = [study_of(i, patient=f"TEST00{i:02d}") for i in range(3)]
    dx[1].compress(JPEG2000Lossless)
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    server.upload(dx + [mr])
    configure(monkeypatch, tmp_path, server)
    methods = spy_on_http(monkeypatch)

    rc, lines, _ = run(capsys, "--weights", str(weights), "scan")
    assert rc == 0
    by_instance = {line["instance"]: line for line in lines}
    analysed = [by_instance[str(d.SOPInstanceUID)] for d in dx]
    assert [a["status"] for a in analysed] == ["analysed"] * 3 and all(len(a["stored"]) == 2 for a in analysed)
    assert [a["body_part"] for a in analysed] == [str(d.BodyPartExamined) for d in dx]
    refused = by_instance[str(mr.SOPInstanceUID)]
    assert refused["status"] == "skipped" and "Modality MR" in refused["reason"] and "verdict" not in refused
    assert {m for m, _ in methods} == {"GET", "POST"}  # never PUT/DELETE: nothing is modified or deleted
    assert all(url.rstrip("/").rsplit("/", 2)[-2] == "studies" for m, url in methods if m == "POST")

    client = PacsClient(load_config())
    versions = model_versions(Predictor(weights))
    for source, line in zip(dx, analysed):
        check_sr(client, source, line, versions)
        check_capture(client, source)
    mr_study = [str(i.SOPInstanceUID) for i in client.instances(str(mr.StudyInstanceUID))]
    assert mr_study == [str(mr.SOPInstanceUID)]  # the MR got no verdict

    before = len(all_instances())
    rc, again, _ = run(capsys, "--weights", str(weights), "scan")
    assert rc == 0 and {line["status"] for line in again} == {"skipped"}
    assert not any("stored" in line for line in again)
    assert len(all_instances()) == before == 4 + 2 * 3


def check_sr(client: PacsClient, source, line: dict, versions: list[dict]) -> None:
    uids = result_uids(source)
    ds = client.retrieve(str(source.StudyInstanceUID), own_series(str(source.StudyInstanceUID))["sr"], uids["sr"])
    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    assert sr.Modality == "SR" and sr.StudyInstanceUID == source.StudyInstanceUID
    assert sr.PatientID == source.PatientID and sr.VerificationFlag == "UNVERIFIED"
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    items = sr_items(sr)
    values = {(name, kind): value for name, kind, value in sr_items(sr, depth=1)}
    assert values[("Finding", "TEXT")].startswith(line["verdict"] + ":")
    assert values[("Probability of fracture", "NUM")] == pytest.approx(line["probability"], abs=1e-4)
    assert values[("Decision threshold (probability)", "NUM")] == pytest.approx(line["threshold"], abs=1e-4)
    assert values[("Operating point", "TEXT")] == wording.op_label(line["operating_point"])
    assert values[("Source", "IMAGE")] == source.SOPInstanceUID
    assert values[("Decision-support notice", "TEXT")] == wording.NOTICE
    names = [v for n, _, v in items if n == "Algorithm Name"]
    shas = [v for n, _, v in items if n == "Algorithm Version"]
    assert names == [v["name"] for v in versions] and shas == [f"sha256:{v['sha256']}" for v in versions]
    assert not any(kind == "SCOORD" for _, kind, _ in items)  # no localiser yet: no boxes, none faked


def check_capture(client: PacsClient, source) -> None:
    uids = result_uids(source)
    sc = client.retrieve(str(source.StudyInstanceUID), own_series(str(source.StudyInstanceUID))["sc"], uids["sc"])
    assert sc.BurnedInAnnotation == "YES" and sc.StudyInstanceUID == source.StudyInstanceUID
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert sc.Rows > source.Rows and sc.Columns == source.Columns  # the verdict band sits above the image
    band = sc.pixel_array[: sc.Rows - source.Rows]
    assert band.max() == 255 and (band == 0).mean() > 0.5  # white words on black


def test_server_down_is_a_clear_error(weights, monkeypatch, capsys):
    monkeypatch.setenv("FRACTURE_PACS_URL", f"http://127.0.0.1:{orthanc_local.free_port()}/dicom-web")
    rc, lines, _ = run(capsys, "--weights", str(weights), "scan")
    assert rc == 2 and len(lines) == 1 and lines[0]["status"] == "error"
    assert "Cannot reach the PACS" in lines[0]["reason"] and "refused" in lines[0]["reason"]


@pytest.mark.orthanc
def test_wrong_credentials_are_a_clear_error_and_write_nothing(shared, weights, monkeypatch, tmp_path, capsys,
                                                               caplog):
    study = study_of(0)
    shared.upload([study])
    configure(monkeypatch, tmp_path, shared, password="not-the-password")
    rc, lines, err = run(capsys, "--weights", str(weights), "scan", "--study", str(study.StudyInstanceUID))
    assert rc == 2 and len(lines) == 1 and lines[0]["status"] == "error"
    assert "refused the credentials" in lines[0]["reason"] and "401" in lines[0]["reason"]
    assert "not-the-password" not in json.dumps(lines) + err + caplog.text
    configure(monkeypatch, tmp_path, shared)
    assert len(all_instances([study.StudyInstanceUID])) == 1


@pytest.mark.orthanc
def test_undecodable_instance_is_reported_and_nothing_written(shared, weights, monkeypatch, tmp_path, capsys):
    broken, fine = undecodable(study_of(0)), study_of(1)
    shared.upload([broken, fine])
    configure(monkeypatch, tmp_path, shared)
    rc, lines, _ = run(capsys, "--weights", str(weights), "scan", "--study", str(broken.StudyInstanceUID),
                       "--study", str(fine.StudyInstanceUID))
    by_instance = {line["instance"]: line for line in lines}
    assert rc == 0
    bad = by_instance[str(broken.SOPInstanceUID)]
    assert bad["status"] == "error" and "cannot be decoded" in bad["reason"] and "stored" not in bad
    assert by_instance[str(fine.SOPInstanceUID)]["status"] == "analysed"
    assert [str(i.SOPInstanceUID) for i in all_instances([broken.StudyInstanceUID])] == [broken.SOPInstanceUID]


@pytest.mark.orthanc
def test_interrupted_scan_resumes_without_duplicates(shared, weights, monkeypatch, tmp_path, capsys, caplog):
    studies = [study_of(i, patient=f"TEST00{i:02d}") for i in range(3)]
    shared.upload(studies)
    configure(monkeypatch, tmp_path, shared)
    real_store, calls = PacsClient.store, []

    def store_then_interrupt(self, datasets, study_uid):
        calls.append(study_uid)
        if len(calls) == 4:  # the second image's capture is stored, its SR is not: interrupted in between
            raise KeyboardInterrupt
        return real_store(self, datasets, study_uid)

    monkeypatch.setattr(PacsClient, "store", store_then_interrupt)
    args = ["--weights", str(weights), "scan"] + [a for s in studies for a in ("--study", str(s.StudyInstanceUID))]
    rc, first, _ = run(capsys, *args)
    assert rc == 130 and [line["status"] for line in first] == ["analysed"] and "to resume" in caplog.text
    monkeypatch.setattr(PacsClient, "store", real_store)
    rc, second, _ = run(capsys, *args)
    by_instance = {line["instance"]: line for line in second}
    assert rc == 0 and [by_instance[str(s.SOPInstanceUID)]["status"] for s in studies] == \
        ["skipped", "analysed", "analysed"]
    assert [len(by_instance[str(s.SOPInstanceUID)]["stored"]) for s in studies[1:]] == [1, 2]
    sops = [str(i.SOPInstanceUID) for i in all_instances([s.StudyInstanceUID for s in studies])]
    assert len(sops) == len(set(sops)) == 3 + 2 * 3
    assert {u for s in studies for u in result_uids(s).values()} <= set(sops)


@pytest.mark.orthanc
def test_watch_scans_new_studies_only(fresh, weights, monkeypatch, tmp_path):
    first, later = study_of(0), study_of(1)
    fresh.upload([first])
    configure(monkeypatch, tmp_path, fresh)
    clock = SimpleNamespace(perf_counter=time.perf_counter, sleep=lambda seconds: fresh.upload([later]))
    monkeypatch.setattr(pacs, "time", clock)  # a new study arrives while watch waits
    lines = []
    pacs.watch(pacs.Scanner(PacsClient(load_config()), Predictor(weights)), 5, lines.append, polls=2)
    sources = [(o.instance, o.status) for o in lines if o.modality == "DX"]
    assert sources == [(first.SOPInstanceUID, "analysed"), (later.SOPInstanceUID, "analysed")]  # first: once


def test_config_from_file_and_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "pacs.toml"
    cfg.write_text('[pacs]\nurl = "https://pacs.example/dicom-web"\nuser = "ai"\npassword = "s3cret"\n')
    cfg.chmod(0o600)
    monkeypatch.setenv("FRACTURE_PACS_CONFIG", str(cfg))
    config = load_config()
    assert (config.url, config.user, config.password) == ("https://pacs.example/dicom-web", "ai", "s3cret")
    assert "s3cret" not in repr(config)
    monkeypatch.setenv("FRACTURE_PACS_USER", "other")
    assert load_config(url="http://127.0.0.1:1/dicom-web").user == "other"


@pytest.mark.parametrize("values, message", [
    ({}, "No PACS is configured"),
    ({"FRACTURE_PACS_URL": "http://ai:pw@pacs.example/dicom-web"}, "user or password in the URL"),
    ({"FRACTURE_PACS_URL": "ftp://pacs.example"}, "http(s)"),
    ({"FRACTURE_PACS_URL": "http://pacs.example", "FRACTURE_PACS_PASSWORD": "pw"}, "without a user")])
def test_unsafe_or_missing_config_is_refused(values, message, monkeypatch):
    for var, value in values.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(PacsConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config()


def test_no_credentials_on_the_command_line(capsys):
    options = [o for action in pacs._parser()._actions for o in action.option_strings]
    assert "--url" in options and not [o for o in options if "pass" in o or "user" in o]
    with pytest.raises(SystemExit):
        pacs.main(["--url", "http://127.0.0.1:1/dicom-web", "--password", "pw", "scan"])
    assert "error" in capsys.readouterr().err


def test_localiser_hook_turns_boxes_into_coordinates_on_the_source():
    source = study_of(0)
    [item] = region_items([Box(10, 20, 30, 40)], source)
    assert item.ValueType == "SCOORD" and item.GraphicType == "POLYLINE"
    assert list(item.GraphicData) == [10, 20, 40, 20, 40, 60, 10, 60, 10, 20]
    assert item.ContentSequence[0].RelationshipType == "SELECTED FROM"
    assert item.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    result = Result("x", probability=0.7, fractured=True, operating_point="balanced", threshold=0.5,
                    decided_by="ensemble", agreement=1.0)
    sr = build_sr(source, result, [{"name": "m", "sha256": "0" * 64}], boxes=[Box(1, 2, 3, 4)])
    assert sum(kind == "SCOORD" for _, kind, _ in sr_items(sr)) == 1
    assert verdict_sentence(result).startswith(wording.HEADLINE[True])



def test_sr_builds_from_a_header_missing_patient_attributes():
    source = study_of(0)
    for keyword in ("PatientName", "PatientID", "StudyDate"):
        delattr(source, keyword)
    result = Result("x", probability=0.2, fractured=False, operating_point="balanced", threshold=0.5,
                    decided_by="ensemble", agreement=1.0, warnings=["Body part CHEST is outside …"])
    sr = build_sr(source, result, [{"name": "m", "sha256": "0" * 64}])
    assert sr.PatientID == "" and "PatientID" not in source  # the source is left untouched
    texts = [v for _, kind, v in sr_items(sr) if kind == "TEXT"]
    assert texts[0].startswith(wording.HEADLINE[False]) and "Body part CHEST is outside …" in texts
