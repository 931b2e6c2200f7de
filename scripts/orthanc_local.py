"""A throwaway local Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) for the demo, the benchmark and the tests.

It listens on loopback only, keeps its storage in the folder it is given, requires a user and a
password (HTTP basic authentication), and has its DICOM (DIMSE) server switched off.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass
from pydicom.dataset import Dataset

from core.serving.pacs_client import part10

log = logging.getLogger(__name__)

BINARY_CANDIDATES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                     "/usr/lib/orthanc/libOrthancDicomWeb.so")
START_TIMEOUT_S = 30.0


class OrthancUnavailable(RuntimeError):
    """Orthanc or its DICOMweb plugin is not installed, or it did not start."""


def orthanc_binary() -> Path | None:
    """The Orthanc executable, or None when it is not installed."""
    found = shutil.which("Orthanc")
    paths = [found] if found else []
    return next((Path(p) for p in [*paths, *BINARY_CANDIDATES] if p and Path(p).is_file()), None)


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin library, or None when `orthanc-dicomweb` is not installed."""
    return next((Path(p) for p in PLUGIN_CANDIDATES if Path(p).is_file()), None)


def missing() -> str | None:
    """Why a local Orthanc cannot be started here, or None when it can."""
    if orthanc_binary() is None:
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if dicomweb_plugin() is None:
        return "the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return None


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalOrthanc:
    """A running Orthanc started by `start`; `stop()` ends it (and only it)."""

    root: Path
    port: int
    user: str
    password: str
    process: subprocess.Popen

    @property
    def url(self) -> str:
        """The DICOMweb root."""
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def client(self) -> DICOMwebClient:
        """A DICOMweb client logged in as the configured user."""
        return DICOMwebClient(self.url, session=create_session_from_user_pass(self.user, self.password))

    def upload(self, datasets: Sequence[Dataset]) -> None:
        """Store datasets through STOW-RS."""
        self.client().store_instances([part10(ds) for ds in datasets])

    def write_client_config(self, path: Path) -> Path:
        """A PACS config file (url, user, password; mode 600) for `python -m core.pacs`."""
        path.write_text(json.dumps({"url": self.url, "user": self.user, "password": self.password}))
        path.chmod(0o600)
        return path

    def stop(self, graceful: bool = True) -> None:
        """End the Orthanc process this object started (SIGTERM, or SIGKILL for throwaway test storage)."""
        if self.process.poll() is not None:
            return
        (self.process.terminate if graceful else self.process.kill)()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _config(root: Path, port: int, user: str, password: str, plugin: Path) -> dict:
    storage = root / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    return {"Name": "fracture-dash-local", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "HttpPort": port, "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
            "RegisteredUsers": {user: password}, "DicomServerEnabled": False,
            "DicomPort": free_port(), "HttpCompressionEnabled": False, "ConcurrentJobs": 1,
            "Plugins": [str(plugin)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}


def start(root: Path, user: str = "fracture", password: str | None = None,
          port: int | None = None, extra: dict | None = None) -> LocalOrthanc:
    """Start Orthanc with storage under `root` (`extra` merged into its config); wait until DICOMweb
    answers; raise OrthancUnavailable."""
    reason = missing()
    if reason:
        raise OrthancUnavailable(reason)
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    password = password or secrets.token_urlsafe(16)
    cfg = root / "orthanc.json"
    cfg.write_text(json.dumps(_config(root, port, user, password, dicomweb_plugin()) | (extra or {}), indent=1))
    cfg.chmod(0o600)
    with open(root / "orthanc.log", "wb") as logfile:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([str(orthanc_binary()), str(cfg)], stdout=logfile, stderr=subprocess.STDOUT,
                                cwd=root, env={**os.environ, "LANG": "C"})
    server = LocalOrthanc(root, port, user, password, proc)
    _wait_ready(server)
    return server


def _wait_ready(server: LocalOrthanc) -> None:
    """Poll the DICOMweb root until it answers; stop the server and raise when it never does."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            server.client().search_for_studies(limit=1)
            return
        except (requests.ConnectionError, requests.HTTPError):
            time.sleep(0.2)
    server.stop()
    tail = (server.root / "orthanc.log").read_text(errors="replace")[-2000:]
    raise OrthancUnavailable(f"Orthanc did not start within {START_TIMEOUT_S:.0f} s:\n{tail}")
