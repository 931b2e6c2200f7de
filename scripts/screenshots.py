"""Screenshot every dashboard page in headless Chromium: `python scripts/screenshots.py [OUT_DIR]`.

Starts the app on a free localhost port (with the environment it is given, e.g. FRACTURE_WEIGHTS_DIR),
drops a sample X-ray on Diagnose, and saves one full-page PNG per page.
"""
from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"]
DROP_JS = """async (files) => {
  const dt = new DataTransfer();
  for (const [name, b64] of files)
    dt.items.add(new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, {type: 'image/jpeg'}));
  const zone = document.querySelector('[data-testid="stFileUploaderDropzone"]');
  for (const t of ['dragenter', 'dragover', 'drop'])
    zone.dispatchEvent(new DragEvent(t, {bubbles: true, cancelable: true, dataTransfer: dt}));
}"""


def _b64(path: Path) -> list[str]:
    return [path.name, base64.b64encode(path.read_bytes()).decode()]


def start_server(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The app on a free localhost port; returns the process and its URL once it is healthy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                             "--server.port", str(port), "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    return proc, url


def shoot(page, path: Path) -> None:
    """Grow the viewport to the page's height (Streamlit scrolls inside its main area), then capture."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 2000")
    page.set_viewport_size({"width": 1440, "height": max(900, int(height) + 40)})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(path), full_page=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    xray = Path(os.environ.get("SCREENSHOT_XRAY", sorted((ROOT / "data/sample/images").glob("*.jpg"))[0]))
    proc, url = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(url, wait_until="networkidle")
            page.wait_for_selector('[data-testid="stFileUploaderDropzone"]', timeout=120_000)
            page.evaluate(DROP_JS, [_b64(xray)])
            page.get_by_text("Where each model looked").wait_for(timeout=120_000)
            page.wait_for_timeout(4000)
            shoot(page, out / "1_diagnose.png")
            page.reload(wait_until="networkidle")
            page.wait_for_selector('[data-testid="stFileUploaderDropzone"]', timeout=60_000)
            several = sorted((ROOT / "data/sample/images").glob("*.jpg"))[1:5] + [ROOT / "README.md"]
            page.evaluate(DROP_JS, [_b64(f) for f in several])
            page.wait_for_selector('[data-testid="stDataFrame"]', timeout=120_000)
            page.wait_for_timeout(8000)
            shoot(page, out / "4_diagnose_worklist.png")
            for name, slug in (("2_compare.png", "compare"), ("3_explore.png", "explore")):
                page.goto(f"{url}/{slug}", wait_until="networkidle")
                page.wait_for_timeout(6000)
                shoot(page, out / name)
            browser.close()
    finally:
        proc.terminate()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
