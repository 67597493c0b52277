"""Every HTML page route, found from the app itself: walked with junk input (never a 500),
and opened by each kind of user (signed out, a patient, another clinic's clinician).

A new page route is covered without being listed here; one whose path parameter or
audience this file does not know fails until it is added below.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.web.pages.test_pages import signed_in
from tests.web.world import World

PUBLIC = {("GET", "/sign-in"), ("POST", "/sign-in"), ("GET", "/portal"), ("GET", "/")}
CLINIC_WIDE = {
    ("GET", "/patients"),
    ("GET", "/patients/new"),
    ("POST", "/patients/new"),
    ("GET", "/dashboard"),
    ("POST", "/sign-out"),
}
PATIENT_SCOPED = "/patients/{patient_id}"
JUNK = (
    "abc",
    "-1",
    "99999999999999999999999",
    "1e309",
    "nan",
    "\u00b2",  # a digit to str.isdigit(), not to int()
    "\x00",
    "2025-02-30",
    "x" * 3000,
    "",
)


def page_routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    """(method, path template, route) of every route outside the JSON API."""

    def walk(routes: Any) -> list[tuple[str, str, APIRoute]]:
        found = []
        for route in routes:
            if isinstance(route, APIRoute):
                found.extend((m, route.path, route) for m in sorted(route.methods))
            elif hasattr(route, "original_router"):
                found.extend(walk(route.original_router.routes))
        return found

    pages = [r for r in walk(app.routes) if not r[1].startswith("/api")]
    assert len(pages) >= 15, pages
    return sorted(pages, key=lambda r: (r[0] == "POST" and r[1] == "/sign-out", r[0], r[1]))


def _values(world: World, clinic: str = "A") -> dict[str, str]:
    c = world.clinics[clinic]
    own = c.records["own"]
    return {
        "patient_id": c.patients["own"],
        "encounter_id": own["encounters"],
        "assessment_id": own["assessments"],
        "regimen_id": own["therapy-regimens"],
        "medication_id": own["medications"],
        "acknowledgement_id": world.add_record(
            clinic, c.patients["own"], "red-flag-acknowledgements"
        )[0],
        "flag": "malignancy_screen",
        "stage": "history",
        "what": "medication",
    }


def _fill(path: str, values: dict[str, str]) -> str:
    for name in re.findall(r"{(\w+)}", path):
        assert name in values, f"no test value for path parameter {name!r} of {path}"
        path = path.replace(f"{{{name}}}", values[name])
    return path


def _forms(client: TestClient, urls: list[str]) -> dict[tuple[str, str], set[str]]:
    """The field names of every form on these pages, by (method, the URL it is sent to)."""
    forms: dict[tuple[str, str], set[str]] = {}
    for url in urls:
        page = client.get(url)
        for attributes, body in re.findall(r"(?s)<form([^>]*)>(.*?)</form>", page.text):
            method = "POST" if 'method="post"' in attributes else "GET"
            action = re.search(r'action="([^"]*)"', attributes)
            target = (unescape(action.group(1)) if action else url).split("?")[0]
            names = {unescape(n) for n in re.findall(r'name="([^"]+)"', body)}
            forms.setdefault((method, target), set()).update(names - {"csrf_token"})
    return forms


def _spread(names: set[str], most: int) -> list[str]:
    """At most ``most`` of ``names``, spread over the whole (sorted) list."""
    ordered = sorted(names)
    step = max(1, -(-len(ordered) // most))
    return ordered[::step]


def test_every_page_route_has_a_known_audience(app: Any) -> None:
    unknown = [
        (m, p)
        for m, p, _ in page_routes(app)
        if (m, p) not in PUBLIC | CLINIC_WIDE and not p.startswith(PATIENT_SCOPED)
    ]
    assert not unknown, f"page routes this file does not know who may use: {unknown}"


def test_page_routes_never_answer_500_to_junk(app: Any, client: TestClient, world: World) -> None:
    csrf = signed_in(client, world)
    values = _values(world)
    routes = page_routes(app)
    forms = _forms(client, [_fill(p, values) for m, p, _ in routes if m == "GET"])
    failures: list[str] = []
    sent = 0

    def check(response: Any, what: str) -> None:
        nonlocal sent
        sent += 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {what}")

    for method, path, route in routes:
        url = _fill(path, values)
        if method == "GET":
            queries = {p.alias for p in route.dependant.query_params}
            queries |= forms.get(("GET", url), set())
            for junk in JUNK if queries else JUNK[:2]:
                params = {q: junk[:300] for q in queries | {"next", "saved"}}
                check(client.get(url, params=params), f"GET {url} ?{junk!r:.20}")
            for name in re.findall(r"{(\w+)}", path):
                for junk in JUNK:
                    bad = _fill(path, {**values, name: quote(junk, safe="")})
                    check(client.get(bad), f"GET {path} {name}={junk!r:.20}")
            continue
        if path == "/sign-out":
            check(client.post(url, data={"csrf_token": csrf}), "POST /sign-out")
            continue
        names = forms.get(("POST", url), set()) | {"version", "then", "action", "date"}
        for junk in JUNK:
            data = {name: junk for name in names}
            check(
                client.post(url, data={**data, "csrf_token": csrf}), f"POST {url} all={junk!r:.20}"
            )
        # One field at a time, so checks that come after the first refusal are reached too
        # (on one database: what differs between them is how values are stored, above).
        for i, name in enumerate(_spread(names, 30) if world.db.is_sqlite else []):
            junk = JUNK[i % len(JUNK)]
            check(
                client.post(url, data={name: junk, "csrf_token": csrf}),
                f"POST {url} {name}={junk!r:.20}",
            )
        for name in re.findall(r"{(\w+)}", path):
            bad = _fill(path, {**values, name: "not-an-id"})
            check(client.post(bad, data={"csrf_token": csrf}), f"POST {path} {name}=not-an-id")
    assert sent > (250 if world.db.is_sqlite else 150), sent
    assert not failures, "\n".join(failures)


def _patient_names(world: World, clinic: str) -> list[str]:
    return [f"John {clinic}", f"Jane {clinic}"]


def test_page_routes_refuse_strangers_patients_and_other_clinics(
    app: Any, client: TestClient, world: World
) -> None:
    """Signed out: sent to sign in. A patient: refused (403). Clinic B's clinician on clinic
    A's patients: not found (404), audited as refused, nothing of clinic A shown."""
    routes = [(m, p) for m, p, _ in page_routes(app) if (m, p) not in PUBLIC]
    values = _values(world, "A")
    failures: list[str] = []

    stranger = TestClient(app)
    for method, path in routes:
        answer = stranger.request(method, _fill(path, values), follow_redirects=False)
        if answer.status_code != 303 or "/sign-in" not in answer.headers.get("location", ""):
            failures.append(f"signed out {method} {path}: {answer.status_code}")

    patient = TestClient(app)
    csrf = signed_in(patient, world, "A", "patient")
    for method, path in routes:
        if (method, path) == ("POST", "/sign-out"):
            continue
        answer = patient.request(
            method, _fill(path, values), data={"csrf_token": csrf} if method == "POST" else None
        )
        if answer.status_code != 403:
            failures.append(f"patient {method} {path}: {answer.status_code}")

    other = TestClient(app)
    csrf = signed_in(other, world, "B", "clinician")
    b = world.clinics["B"].users["clinician"]
    for method, path in routes:
        if (method, path) == ("POST", "/sign-out"):
            continue
        data = {"csrf_token": csrf, "date": "2026-01-05", "name": "x", "pattern": "as_needed"}
        answer = other.request(method, _fill(path, values), data=data if method == "POST" else None)
        where = f"clinic B {method} {path}"
        if any(name in answer.text for name in _patient_names(world, "A")):
            failures.append(f"{where}: shows clinic A's patient")
        if not path.startswith(PATIENT_SCOPED):
            if answer.status_code >= 400 and answer.status_code != 422:
                failures.append(f"{where}: {answer.status_code}")
            continue
        if answer.status_code != 404:
            failures.append(f"{where}: expected 404, got {answer.status_code}")
            continue
        events = world.audit_for(answer.headers["X-Request-ID"])
        if not any(e.outcome == "refused" and e.actor_id == b for e in events):
            failures.append(f"{where}: the refusal is not audited")
        if any(e.outcome == "ok" and e.patient_id in values.values() for e in events):
            failures.append(f"{where}: audited as a successful access")
    assert not failures, "\n".join(failures)
