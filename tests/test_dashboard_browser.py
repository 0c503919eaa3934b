"""The dashboard in a real headless browser (Debian's ``chromium``), skipped when none is installed.

A real server (werkzeug, threaded, port 0 on 127.0.0.1) serves a store of 200 alphas; chromium loads
the table (sorted, filtered), an alpha page and a compare page, and the test reads back the DOM it
built: rows in the right order, charts drawn as SVG paths, no console errors. A screenshot of each page
lands in ``$ALPHA_ENV_SCREENSHOTS`` (default: the test's tmp_path).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

pytest.importorskip("flask")

from dashboard_support import make_result  # noqa: E402

from alpha_env.ace import AlphaStore  # noqa: E402
from alpha_env.dashboard import create_app  # noqa: E402

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH")


@pytest.fixture
def server(tmp_path):
    from werkzeug.serving import make_server

    path = tmp_path / "store.db"
    results = [make_result(i, dataset="ds-a" if i % 2 else "ds-b") for i in range(200)]
    with AlphaStore(path) as s:
        for r in results:
            s.save(r)
    srv = make_server("127.0.0.1", 0, create_app(path), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", results
    srv.shutdown()
    thread.join(10)


def _browse(url: str, shot: Path) -> str:
    """The DOM chromium built for ``url``; saves a screenshot; fails on a console error."""
    base = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1200",
            "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and "rror" in line]
    assert not errors, errors
    subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 1000
    return dom.stdout


def test_pages_render_in_chromium(server, tmp_path):
    url, results = server
    shots = Path(os.environ.get("ALPHA_ENV_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    html = _browse(f"{url}/?sort=valid.sharpe&dir=asc&dataset=ds-a&per_page=25", shots / "alphas.png")
    ids = re.findall(r'<tr data-alpha="([0-9a-f]+)">', html)
    expected = sorted((r for r in results if r.dataset_id == "ds-a"),
                      key=lambda r: r.metrics["valid"]["sharpe"])
    assert ids == [r.alpha_id for r in expected[:25]]
    html = _browse(f"{url}/alpha/{results[7].alpha_id}", shots / "alpha.png")
    assert re.search(r'id="pnl-chart">\s*<svg', html) and len(re.findall(r"<path[^>]* d=\"M", html)) > 2
    html = _browse(f"{url}/compare?ids={results[1].alpha_id},{results[2].alpha_id}", shots / "compare.png")
    assert "<svg" in html and "+1.000" in html
