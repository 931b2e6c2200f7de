"""The PACS page through AppTest against a real Orthanc: masked study list, open a study, send the result."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.serving.dicom_sr import result_uids
from core.serving.pacs_client import PacsClient, PacsConfig
from core.serving.wording import HEADLINE
from dashboard.pacs_components import MASK
from tests.pacs_helpers import orthanc_server, study_of

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 120
READER, WRITER = ("reader", "read-only-pw"), ("fracture", "writer-pw")
RULES = """
function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)
  return not (method == 'POST' and username == 'reader')
end
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Orthanc with a writer and a read-only user (a Lua rule forbids the reader any POST)."""
    root = tmp_path_factory.mktemp("orthanc")
    (root / "rules.lua").write_text(RULES)
    yield from orthanc_server(root / "server", user=WRITER[0], password=WRITER[1],
                              extra={"RegisteredUsers": dict([READER, WRITER]),
                                     "LuaScripts": [str(root / "rules.lua")]})


@pytest.fixture
def app(trained, monkeypatch, tmp_path):
    monkeypatch.setenv("FRACTURE_WEIGHTS_DIR", str(trained / "weights"))
    monkeypatch.setenv("FRACTURE_REPORTS_DIR", str(trained / "reports"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("FRACTURE_PACS_URL", "FRACTURE_PACS_USER", "FRACTURE_PACS_PASSWORD", "FRACTURE_PACS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def use(monkeypatch, tmp_path, server, login: tuple[str, str]) -> None:
    cfg = tmp_path / "pacs.json"
    cfg.write_text(json.dumps({"url": server.url, "user": login[0], "password": login[1]}))
    monkeypatch.setenv("FRACTURE_PACS_CONFIG", str(cfg))


def open_page(app: AppTest) -> AppTest:
    at = app.run()
    at.switch_page("views/pacs.py").run()
    assert not at.exception
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_unconfigured_page_says_how_to_configure(app):
    at = open_page(app)
    assert "No PACS is configured" in at.info[0].value and "FRACTURE_PACS_URL" in at.info[0].value


@pytest.mark.orthanc
def test_studies_masked_until_revealed_then_open_and_send(app, server, monkeypatch, tmp_path):
    study = study_of(0, patient="PAGE0001")
    server.upload([study])
    use(monkeypatch, tmp_path, server, WRITER)
    at = open_page(app)
    table = at.dataframe[0].value
    assert "PAGE0001" not in table.to_string() and "Test" not in table.to_string()
    assert (table["Patient ID"] == MASK).all() and (table["Patient"] == MASK).all()
    assert all("PAGE0001" not in o for o in at.selectbox(key="pacs_study").options)

    at.toggle(key="pacs_reveal").set_value(True).run()
    assert "PAGE0001" in at.dataframe[0].value["Patient ID"].tolist()
    at.selectbox(key="pacs_study").set_value(str(study.StudyInstanceUID)).run()
    assert not at.exception
    assert any(HEADLINE[v] in markdown(at) for v in (True, False))
    assert any(f"body part {study.BodyPartExamined}" in c.value for c in at.caption)
    assert len(at.image) == 1 + 2  # the original + one overlay per model, as on Diagnose

    at.button(key="pacs_send").click().run()
    assert not at.exception and "Sent to the PACS" in at.success[0].value
    client = PacsClient(PacsConfig(server.url, *WRITER))
    assert all(client.has_instance(str(study.StudyInstanceUID), uid) for uid in result_uids(study).values())
    at.button(key="pacs_send").click().run()
    assert any("already" in i.value for i in at.info)


@pytest.mark.orthanc
def test_send_reports_the_servers_refusal(app, server, monkeypatch, tmp_path):
    study = study_of(1, patient="PAGE0002")
    server.upload([study])
    use(monkeypatch, tmp_path, server, READER)
    at = open_page(app)
    at.selectbox(key="pacs_study").set_value(str(study.StudyInstanceUID)).run()
    at.button(key="pacs_send").click().run()
    assert not at.exception
    assert "HTTP 403 Forbidden" in at.error[0].value and "does not allow user 'reader'" in at.error[0].value
    client = PacsClient(PacsConfig(server.url, *WRITER))
    assert not client.has_instance(str(study.StudyInstanceUID), result_uids(study)["sr"])


@pytest.mark.orthanc
def test_wrong_credentials_show_the_servers_answer(app, server, monkeypatch, tmp_path):
    use(monkeypatch, tmp_path, server, (WRITER[0], "wrong"))
    at = open_page(app)
    assert "refused the credentials" in at.error[0].value and "401" in at.error[0].value


def test_diagnose_shows_the_dicom_header_and_the_body_part_warning(app):
    from scripts.sample_dicom import to_bytes

    at = app.run()
    chest = to_bytes(study_of(0, body_part="CHEST"))
    at.file_uploader(key="uploads").set_value(("chest.dcm", chest, "application/dicom")).run()
    assert not at.exception
    assert any("DICOM DX · body part CHEST" in c.value for c in at.caption)
    assert any("Body part CHEST is outside what the models were trained on" in w.value for w in at.warning)
