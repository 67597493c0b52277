"""Debian's Chromium for the browser tests, driven by Playwright (never `playwright install`).

Under ``CI=true`` a missing Chromium or Playwright is a failure, never a skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.postgres import unavailable

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str:
    """The Chromium executable (fails under CI, skips elsewhere, when missing)."""
    for candidate in CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    unavailable("Chromium is not installed (apt-get install chromium)")
    raise AssertionError("unreachable")


def playwright_available() -> None:
    """Fail under CI, skip elsewhere, when the Playwright package is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright Python package is not installed")
