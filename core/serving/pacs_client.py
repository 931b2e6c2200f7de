"""The PACS connection: its configuration (environment or a config file, never the command line) and a
small DICOMweb client on dicomweb-client: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

There is no delete or update call here: this tool only reads from the PACS and adds new instances.
"""
from __future__ import annotations

import io
import json
import logging
import re
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError

from core.errors import PacsAuthError, PacsConfigError, PacsError, PacsUnreachableError
from core.settings import PACS_ENV, pacs_config_file, pacs_env

log = logging.getLogger(__name__)

CONFIG_KEYS = {"url", "user", "password", "timeout_s"}
INSTANCE_FIELDS = ("BodyPartExamined", "ViewPosition", "SeriesDescription", "StudyDescription")
STUDY_FIELDS = ("StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances")
ORIGINAL_SYNTAX = (("application/dicom", "*"),)  # ask for the stored transfer syntax, no transcoding


@dataclass(frozen=True)
class PacsConfig:
    """Where the PACS is and how to log in; the password is never printed."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0


def load_config(url: str | None = None, path: Path | None = None) -> PacsConfig:
    """Config file (`path`, else FRACTURE_PACS_CONFIG), then environment, then `url`; PacsConfigError."""
    values = _read_file(path if path is not None else pacs_config_file())
    values.update(pacs_env())
    if url:
        values["url"] = url
    return _validated(values)


def _read_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        raise PacsConfigError(f"The PACS config file {path} does not exist.")
    if path.stat().st_mode & 0o077:
        log.warning("the PACS config file %s is readable by other users; chmod 600 it", path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise PacsConfigError(f"The PACS config file {path} cannot be read: {exc}") from exc
    data = data.get("pacs", data) if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) - CONFIG_KEYS:
        raise PacsConfigError(f"The PACS config file {path} must hold only {sorted(CONFIG_KEYS)} "
                              "(optionally under a [pacs] table).")
    return dict(data)


def _validated(values: dict[str, Any]) -> PacsConfig:
    url = str(values.get("url") or "").rstrip("/")
    if not url:
        raise PacsConfigError(f"No PACS is configured: set {PACS_ENV['url']} (or pass --url), or write "
                              "url/user/password into a config file (FRACTURE_PACS_CONFIG).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PacsConfigError(f"The PACS URL must be an http(s) DICOMweb root, got {url!r}.")
    if parts.username or parts.password:
        raise PacsConfigError("Do not put the PACS user or password in the URL (it ends up in shell history "
                              f"and logs): use {PACS_ENV['user']} / {PACS_ENV['password']} or the config file.")
    if values.get("password") and not values.get("user"):
        raise PacsConfigError(f"A PACS password is set without a user ({PACS_ENV['user']}).")
    return PacsConfig(url, values.get("user") or None, values.get("password") or None,
                      float(values.get("timeout_s", 30.0)))


def part10(ds: Dataset) -> FileDataset:
    """The dataset as a DICOM Part 10 file (preamble, 'DICM', file meta), which every PACS stores as such."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


def _os_reason(exc: Exception) -> str:
    """'Connection refused' from requests' long connection-error text."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found.group(1).strip() if found else type(exc).__name__


def _server_says(response: requests.Response | None) -> str:
    """The server's own error text (Orthanc's JSON 'Message'/'Details', else the body), shortened."""
    if response is None:
        return ""
    try:
        body = response.json()
        text = " — ".join(str(body[k]) for k in ("Message", "Details") if body.get(k)) if isinstance(body, dict) else ""
    except ValueError:
        text = ""
    return (text or response.text or "").strip()[:300]


class PacsClient:
    """QIDO-RS / WADO-RS / STOW-RS against one DICOMweb server; every failure is a PacsError."""

    def __init__(self, config: PacsConfig):
        self.config = config
        session = (create_session_from_user_pass(config.user, config.password or "")
                   if config.user else requests.Session())
        self._web = DICOMwebClient(config.url, session=session, timeout=config.timeout_s)
        self._web.set_http_retry_params(max_attempts=3, wait_exponential_multiplier=500)

    @contextmanager
    def _talking(self, what: str) -> Iterator[None]:
        """Turn requests' exceptions into PacsError subclasses with a message a user can act on."""
        try:
            yield
        except requests.HTTPError as exc:
            raise self._http_error(exc, what) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PacsUnreachableError(f"Cannot reach the PACS at {self.config.url} ({what}): "
                                       f"{_os_reason(exc)}.") from exc
        except requests.RequestException as exc:
            raise PacsError(f"The request to the PACS failed ({what}): {exc}") from exc

    def _http_error(self, exc: requests.HTTPError, what: str) -> PacsError:
        code = exc.response.status_code if exc.response is not None else 0
        reason = exc.response.reason if exc.response is not None else ""
        said = _server_says(exc.response)
        who = f"user {self.config.user!r}" if self.config.user else "no user (none configured)"
        if code == 401:
            return PacsAuthError(f"The PACS refused the credentials of {who} (HTTP {code} {reason}) while trying "
                                 f"to {what}" + (f": {said}" if said else "."))
        if code == 403:
            return PacsAuthError(f"The PACS does not allow {who} to {what} (HTTP {code} {reason})"
                                 + (f": {said}" if said else "."))
        return PacsError(f"The PACS answered HTTP {code} {reason} while trying to {what}"
                         + (f": {said}" if said else "."))

    def check(self) -> None:
        """One cheap QIDO query: raises PacsUnreachableError / PacsAuthError before any real work."""
        with self._talking("list studies"):
            self._web.search_for_studies(limit=1)

    def studies(self, limit: int | None = None, offset: int = 0,
                filters: dict[str, Any] | None = None) -> list[Dataset]:
        """QIDO-RS: one page of studies (patient, date, description, modalities, instance count)."""
        with self._talking("list studies"):
            found = self._web.search_for_studies(limit=limit, offset=offset or None, fields=list(STUDY_FIELDS),
                                                 search_filters=filters or None)
        return [Dataset.from_json(d) for d in found]

    def all_studies(self, page: int = 100, filters: dict[str, Any] | None = None) -> Iterator[Dataset]:
        """Every study, fetched `page` at a time."""
        offset = 0
        while True:
            batch = self.studies(limit=page, offset=offset, filters=filters)
            yield from batch
            if len(batch) < page:
                return
            offset += len(batch)

    def instances(self, study_uid: str) -> list[Dataset]:
        """QIDO-RS: every instance of a study with its series, modality, body part and view."""
        with self._talking(f"list the instances of study {study_uid}"):
            found = self._web.search_for_instances(study_uid, fields=list(INSTANCE_FIELDS))
        return [Dataset.from_json(d) for d in found]

    def has_instance(self, study_uid: str, sop_uid: str) -> bool:
        """QIDO-RS: whether the study holds an instance with this SOP Instance UID."""
        with self._talking(f"look for instance {sop_uid}"):
            return bool(self._web.search_for_instances(study_uid, search_filters={"SOPInstanceUID": sop_uid}))

    def retrieve(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        """WADO-RS: one instance in the transfer syntax it is stored in."""
        with self._talking(f"retrieve instance {sop_uid}"):
            try:
                return self._web.retrieve_instance(study_uid, series_uid, sop_uid, media_types=ORIGINAL_SYNTAX)
            except (InvalidDicomError, EOFError, ValueError) as exc:
                raise PacsError(f"The PACS sent instance {sop_uid} in a form that is not a DICOM file: {exc}") from exc

    def store(self, datasets: Sequence[Dataset], study_uid: str) -> None:
        """STOW-RS: add new instances to a study, then check the PACS holds them; PacsError otherwise."""
        with self._talking(f"store {len(datasets)} instance(s) in study {study_uid}"):
            answer = self._web.store_instances([part10(ds) for ds in datasets], study_uid)
        _check_stow_answer(answer, [str(ds.SOPInstanceUID) for ds in datasets])
        for ds in datasets:
            self._confirm_held(study_uid, str(ds.SOPInstanceUID))

    def _confirm_held(self, study_uid: str, sop_uid: str, tries: int = 4) -> None:
        """Some servers answer 'stored' and then drop the instance (a filter rule): look for it."""
        for attempt in range(tries):
            if self.has_instance(study_uid, sop_uid):
                return
            time.sleep(0.25 * (attempt + 1))
        raise PacsError(f"The PACS answered that instance {sop_uid} was stored but does not hold it: "
                        "a rule on the server refused it (ask the PACS administrator).")


def _check_stow_answer(answer: Dataset | None, sop_uids: list[str]) -> None:
    """Raise PacsError with the server's failure reasons when the STOW-RS answer does not confirm every instance."""
    answer = answer if answer is not None else Dataset()
    failed = answer.get("FailedSOPSequence", [])
    if failed:
        reasons = ", ".join(f"{item.get('ReferencedSOPInstanceUID', '?')}: failure reason "
                            f"0x{int(item.get('FailureReason', 0)):04X}" for item in failed)
        raise PacsError(f"The PACS refused to store {len(failed)} instance(s): {reasons}")
    confirmed = {str(item.get("ReferencedSOPInstanceUID", "")) for item in answer.get("ReferencedSOPSequence", [])}
    missing = [uid for uid in sop_uids if uid not in confirmed]
    if missing:
        raise PacsError(f"The PACS did not confirm storing {len(missing)} instance(s) ({', '.join(missing)}); "
                        "its log should say why.")
