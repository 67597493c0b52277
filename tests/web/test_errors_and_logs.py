"""A crash answers with a problem naming the request id and logs no patient data; errors
name the field at fault; the request id a client sends is kept only when it is safe."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from hipspine.store.models import TokenKind, User
from hipspine.store.records import Records
from hipspine.web import auth
from hipspine.web.context import WebContext
from hipspine.web.pages import clinic as clinic_pages
from tests.web.world import World

SECRET_NAME = "Zebediah Quux"
SECRET_EMAIL = "zebediah.quux@example.org"


def _locked(*_: Any, **__: Any) -> Any:
    """A database failure whose statement parameters hold patient data."""
    raise OperationalError(
        "INSERT INTO patient (name, email) VALUES (?, ?)",
        (SECRET_NAME, SECRET_EMAIL),
        Exception("database is locked"),
    )


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn, configured as ``hipspine serve`` runs it, logging to the root
    logger (so pytest's caplog sees uvicorn's own records too)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter()
    parts = []
    for record in caplog.records:
        parts.append(f"{record.name} {record.getMessage()}")
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
    return "\n".join(parts)


def _session_cookie(world: World, web: WebContext) -> str:
    with world.db.transaction() as session:
        user = session.get(User, world.clinics["A"].users["clinician"])
        assert user is not None
        _, raw = auth.issue(session, user, TokenKind.SESSION, web.options.session_ttl)
    return auth.sign_cookie(web.settings.secret_key, raw)


def test_a_crash_is_a_500_problem_and_no_log_record_holds_patient_data(
    served: str,
    world: World,
    web: WebContext,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, uvicorn.error and sqlalchemy included
    monkeypatch.setattr(Records, "add_patient", _locked)
    monkeypatch.setattr(clinic_pages, "_file", _locked)
    api = httpx.post(
        f"{served}/api/patients",
        json={"name": SECRET_NAME, "email": SECRET_EMAIL},
        headers=world.headers("A", "clinician"),
    )
    assert api.status_code == 500
    assert api.headers["content-type"].startswith("application/problem+json")
    problem = api.json()
    assert problem["request_id"] == api.headers["X-Request-ID"]
    assert SECRET_NAME not in api.text and "INSERT" not in api.text

    john = world.clinics["A"].patients["own"]
    page = httpx.get(
        f"{served}/patients/{john}",
        cookies={auth.SESSION_COOKIE: _session_cookie(world, web)},
    )
    assert page.status_code == 500 and "text/html" in page.headers["content-type"]
    assert SECRET_NAME not in page.text

    time.sleep(0.2)  # let the server thread finish logging
    logged = _everything_logged(caplog)
    assert SECRET_NAME not in logged and SECRET_EMAIL not in logged
    assert "Traceback" not in logged  # nothing was re-raised to Starlette or uvicorn
    crashes = [r for r in caplog.records if "unhandled OperationalError" in r.getMessage()]
    assert len(crashes) == 2
    assert problem["request_id"] in crashes[0].getMessage()


def test_the_engine_keeps_statement_parameters_out_of_its_errors(world: World) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as failed, world.db.transaction() as session:
        session.execute(
            text("SELECT * FROM no_such_table WHERE name = :name"), {"name": SECRET_NAME}
        )
    assert "no_such_table" in str(failed.value)
    assert SECRET_NAME not in str(failed.value)


def test_a_duplicate_names_the_field(client: TestClient, world: World) -> None:
    headers = world.headers("A", "clinician")
    body = {"name": "Ann Duplicate", "identifier": "MRN-1"}
    assert client.post("/api/patients", json=body, headers=headers).status_code == 201
    again = client.post("/api/patients", json=body, headers=headers)
    assert again.status_code == 409
    assert [e["field"] for e in again.json()["errors"]] == ["identifier"]
    assert "MRN-1" not in again.text  # the value is not echoed
    # Another clinic may use the same record number.
    assert (
        client.post("/api/patients", json=body, headers=world.headers("B", "clinician")).status_code
        == 201
    )
    taken = client.post(
        "/api/users",
        json={"email": "clinician@b.example.org", "name": "X", "role": "clinician",
              "password": "0123456789ab"},
        headers=world.headers("A", "admin"),
    )  # fmt: skip
    assert taken.status_code == 409
    assert [e["field"] for e in taken.json()["errors"]] == ["email"]


def test_a_request_id_is_kept_only_when_it_is_a_short_safe_token(app: FastAPI) -> None:
    client = TestClient(app)
    for sent, kept in (
        ("req-0123456789", True),
        ("a1b2c3d4.e5_f6", True),
        ("short", False),
        ("x" * 65, False),
        ("bad id with spaces", False),
        ("<script>alert(1)</script>", False),
        ("id\r\nSet-Cookie: x=1", False),
    ):
        answer = client.get("/api/patients", headers={"X-Request-ID": sent})
        echoed = answer.headers["X-Request-ID"]
        assert (echoed == sent) is kept, sent
        if not kept:
            assert len(echoed) == 32 and echoed.isalnum()
        assert answer.json()["request_id"] == echoed
