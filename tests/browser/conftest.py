"""A real server and a real browser: uvicorn in a thread over a seeded SQLite, Chromium.

The server is the production app (``create_app``) with John's demo journey seeded, plus a
second clinic whose clinician must never see John. Screenshots and the PDF's pages go to
``test-artifacts/`` (ignored by git) for a human to look at.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from hipspine.config import Settings
from hipspine.store.db import Database
from hipspine.store.migrate import upgrade
from hipspine.web import WebOptions, create_app
from hipspine.web.demo import DEMO_EMAIL, DEMO_PASSWORD, open_demo_clinic, seed_john
from tests.support.chromium import ARGS, chromium_path, playwright_available
from tests.web.conftest import CHEAP

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
OTHER_EMAIL = "clinician@other.example.org"

pytestmark = pytest.mark.browser


@dataclass
class Server:
    url: str
    db: Database
    john: str
    demo_actor: Any
    other_actor: Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(folder: Path, cohort: int = 0) -> Iterator[Server]:
    """The production app over a fresh SQLite seeded like the demo (John, plus ``cohort``
    synthetic patients in his clinic) and a second clinic, served by uvicorn in a thread."""
    db = Database(f"sqlite:///{folder / 'hipspine.sqlite3'}")
    upgrade(db)
    options = WebOptions(secure_cookies=False, hasher=CHEAP)
    app = create_app(db, Settings(folder, str(db.url), "browser-test-secret-key"), options)
    password_hash = app.state.web.passwords.hash(DEMO_PASSWORD)
    demo = open_demo_clinic(db, password_hash)
    john = seed_john(db, demo.actor)
    if cohort:
        from hipspine.analytics import synth

        synth.write(db, cohort, seed=7, into=[demo.clinic_id])
    other = open_demo_clinic(db, password_hash, email=OTHER_EMAIL, name="Dr Other")
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", db, john, demo.actor, other.actor)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        db.dispose()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("browser")) as found:
        yield found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    playwright_available()
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def laptop(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def sign_in(page: Any, url: str, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{url}/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/patients")
