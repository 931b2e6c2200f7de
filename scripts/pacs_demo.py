"""`make pacs-demo`: the PACS round trip in one command, on a local Orthanc.

Starts Orthanc (Debian's `orthanc` + `orthanc-dicomweb`; loopback only, storage in a temporary folder,
a random password) with the bundled sample radiographs as DX studies (every fourth one JPEG 2000
compressed) plus pydicom's MR slice (which the scan refuses), writes the client config file (mode 600),
runs `python -m core.pacs scan` once and keeps the server up until Ctrl-C, printing how to look at the
results: Orthanc's own viewer and the dashboard's PACS page.

    python scripts/pacs_demo.py [--count 42] [--port 8042] [--no-scan] [--no-wait]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts import orthanc_local  # noqa: E402
from scripts.sample_dicom import sample_radiographs  # noqa: E402


def demo_datasets(count: int | None) -> list[Dataset]:
    """The samples as DX studies (every fourth JPEG 2000 compressed) and one MR slice."""
    radiographs = sample_radiographs(count)
    for ds in radiographs[::4]:
        ds.compress(JPEG2000Lossless)
    return radiographs + [pydicom.dcmread(get_testdata_file("MR_small.dcm"))]


def scan(config: Path) -> int:
    """Run the scan as a site would, with the credentials in the config file (never on the command line)."""
    env = {**os.environ, "FRACTURE_PACS_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core.pacs", "scan"], env=env, cwd=ROOT, check=False).returncode


def explain(server: orthanc_local.LocalOrthanc, config: Path) -> None:
    """What a newcomer can do with the running server."""
    print(f"\nOrthanc (DICOMweb) : {server.url}")
    print(f"Orthanc's viewer   : http://127.0.0.1:{server.port}/app/explorer.html "
          f"(user {server.user}; the password is in {config})")
    print(f"Scan again         : FRACTURE_PACS_CONFIG={config} .venv/bin/python -m core.pacs scan")
    print(f"Watch for new ones : FRACTURE_PACS_CONFIG={config} .venv/bin/python -m core.pacs watch --interval 30")
    print(f"Dashboard PACS page: FRACTURE_PACS_CONFIG={config} make run   (then open the PACS page)")


def main(argv: list[str] | None = None) -> int:
    """Start, fill, scan, wait for Ctrl-C, stop and remove the temporary storage."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=None, help="how many samples to upload (default: all 42)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    p.add_argument("--no-scan", action="store_true", help="only start and fill the server")
    p.add_argument("--no-wait", action="store_true", help="stop right after the scan")
    args = p.parse_args(argv)
    reason = orthanc_local.missing()
    if reason:
        print(f"Cannot start the demo: {reason}.", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fracture-pacs-demo-"))
    server = orthanc_local.start(workdir / "orthanc", port=args.port)
    try:
        datasets = demo_datasets(args.count)
        server.upload(datasets)
        config = server.write_client_config(workdir / "pacs.json")
        print(f"Uploaded {len(datasets)} instances ({len(datasets) - 1} radiographs, 1 MR) to {server.url}")
        rc = 0 if args.no_scan else scan(config)
        explain(server, config)
        while not args.no_wait:
            time.sleep(3600)
        return rc
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
