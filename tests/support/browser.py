"""Headless Chromium, cut off from the network, for tests that a page renders offline.

The browser is Debian's `chromium` (CI installs it: .ci/run's ensure_chromium), driven by its
command line only: `--dump-dom` prints the DOM once the page's scripts have run (a virtual time
budget lets timers, fonts and promises settle first). Every host name resolves to nothing and
every request goes to a dead proxy, so a page that still needs a CDN shows up broken here as on
a clinic's machine without internet. `probe` appends a script to a copy of the page that writes
what only a rendered page has (computed styles, loaded fonts, library globals) into the DOM as
JSON in `<pre id="probe">`.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: No DNS and a proxy on the discard port: nothing leaves the machine.
OFFLINE_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
)
_PROBE = re.compile(r'<pre id="probe">(.*?)</pre>', re.S)


def chromium() -> str:
    """The Chromium executable; fails (not skips) without one: CI installs it."""
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium not found; .ci/run installs it (apt-get install chromium)")


def dump_dom(page: Path, *, budget_ms: int = 10_000) -> str:
    """The DOM of `page` after its scripts ran, loaded offline."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *OFFLINE_FLAGS,
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc.stdout


def probe(page: Path, script: str) -> tuple[str, Any]:
    """Load a copy of `page` (same folder, so its relative links hold) with `script` added.

    `script` is the body of a function run once the page and its fonts have loaded; what it
    returns comes back as JSON. Returns the DOM and that value.
    """
    copy = page.with_name(f"probe-{page.name}")
    wrapper = (
        "<script>window.addEventListener('load', function () {"
        " document.fonts.ready.then(function () {"
        f" var value = (function () {{ {script} }})();"
        " var out = document.createElement('pre'); out.id = 'probe';"
        " out.textContent = JSON.stringify(value); document.body.appendChild(out);"
        " }); });</script>"
    )
    text = page.read_text(encoding="utf-8")
    copy.write_text(text.replace("</body>", wrapper + "</body>"), encoding="utf-8")
    try:
        dom = dump_dom(copy)
    finally:
        copy.unlink()
    found = _PROBE.search(dom)
    assert found, f"the probe did not run: the page's scripts failed?\n{dom[-2000:]}"
    return dom, json.loads(html.unescape(found.group(1)))
