"""Open a page in headless Chromium (Debian's `chromium` package, which .ci/run installs):
the DOM after rendering, a screenshot, and every console message the page caused."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)")
FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # the page must need no network
    "--window-size=1200,3200",
]


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]  # every console message: errors, failed loads, logs


def chromium() -> str:
    """The browser, or a failure in CI (where .ci/run installs it) and a skip elsewhere."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI must provide chromium (see .ci/chromium)")
    pytest.skip("no chromium: apt-get install chromium (see .ci/chromium)")


def render(page: Path, screenshot: Path) -> Rendered:
    """The page's DOM after rendering and its console messages; a screenshot beside."""
    url = page.resolve().as_uri()
    dumped = _run([f"--user-data-dir={screenshot.parent / 'profile-dom'}", "--dump-dom", url])
    shot = _run(
        [f"--user-data-dir={screenshot.parent / 'profile-shot'}", f"--screenshot={screenshot}", url]
    )
    console = [m.group(1) for m in CONSOLE.finditer(dumped.stderr + shot.stderr)]
    return Rendered(dumped.stdout, console)


def _run(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
