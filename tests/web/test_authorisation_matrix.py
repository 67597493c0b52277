"""Every role × every endpoint × own patient / other patient / other clinic.

The rows are generated from the app's routes: an endpoint without a row here fails the
test, so a new endpoint cannot ship without saying who may use it. Every cross-clinic and
cross-patient access must be refused (another clinic's records are "not found", 404), every
allowed one must succeed, and every access to patient data, allowed or refused, must leave
an audit entry carrying the request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from hipspine.store.models import Clinic, Patient, User
from tests.web.world import PASSWORD, RECORD_KINDS, ROLES, UPDATES, World, create_body

TARGETS = ("own", "other_patient", "other_clinic")
OK, FORBIDDEN, NOT_FOUND, UNAUTHENTICATED = "ok", 403, 404, 401
STAFF = ("admin", "clinician")
PATIENT_CREATES = {"pain-ratings", "questionnaire-responses"}
STAFF_ONLY_READS = {"portal-links"}


@dataclass(frozen=True)
class Row:
    """Who may use one endpoint, and on what."""

    scope: str  # patient | collection | user | self | sign-in | portal
    kind: str | None = None
    roles: tuple[str, ...] = ROLES  # roles allowed at all (others: 403)
    patient_roles_own_only: bool = True


def _record_rows() -> dict[tuple[str, str], Row]:
    rows: dict[tuple[str, str], Row] = {}
    for kind in RECORD_KINDS:
        base = f"/api/patients/{{patient_id}}/{kind}"
        readers = STAFF if kind in STAFF_ONLY_READS else ROLES
        creators = ROLES if kind in PATIENT_CREATES else STAFF
        rows[("GET", base)] = Row("patient", kind, readers)
        rows[("POST", base)] = Row("patient", kind, creators)
        if kind != "portal-links":
            rows[("GET", base + "/{record_id}")] = Row("patient", kind, readers)
        if kind in UPDATES:  # only records that change over time are versioned
            rows[("PATCH", base + "/{record_id}")] = Row("patient", kind, STAFF)
        rows[("DELETE", base + "/{record_id}")] = Row("patient", kind, STAFF)
    return rows


MATRIX: dict[tuple[str, str], Row] = {
    ("POST", "/api/auth/token"): Row("sign-in"),
    ("POST", "/api/auth/session"): Row("sign-in"),
    ("POST", "/api/auth/sign-out"): Row("self"),
    ("GET", "/api/auth/me"): Row("self"),
    ("GET", "/api/patients"): Row("collection"),
    ("POST", "/api/patients"): Row("collection", roles=STAFF),
    ("GET", "/api/patients/{patient_id}"): Row("patient", "patient"),
    ("PATCH", "/api/patients/{patient_id}"): Row("patient", "patient", STAFF),
    ("GET", "/api/instruments"): Row("collection"),
    ("GET", "/api/users"): Row("collection", roles=("admin",)),
    ("POST", "/api/users"): Row("collection", roles=("admin",)),
    ("GET", "/api/users/{record_id}"): Row("user", roles=("admin",)),
    ("PATCH", "/api/users/{record_id}"): Row("user", roles=("admin",)),
    ("GET", "/api/clinic"): Row("collection"),
    ("PATCH", "/api/clinic"): Row("collection", roles=("admin",)),
    ("GET", "/api/audit/verify"): Row("collection", roles=("admin",)),
    ("GET", "/api/portal"): Row("portal"),
    ("POST", "/api/portal/responses"): Row("portal"),
    ("POST", "/api/portal/pain-map"): Row("portal"),
    ("GET", "/api/fhir/Patient/{patient_id}/$everything"): Row("patient", "patient"),
    ("POST", "/api/fhir"): Row("collection", roles=STAFF),
    **_record_rows(),
}


FHIR_UPLOAD = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "fullUrl": "urn:uuid:6a2f41a3-c54c-4e6b-8e3b-2d6c0f1f7a10",
            "resource": {
                "resourceType": "Patient",
                "id": "6a2f41a3-c54c-4e6b-8e3b-2d6c0f1f7a10",
                "name": [{"text": "Imported Patient"}],
            },
        }
    ],
}


def _walk(routes: Any) -> list[tuple[str, str]]:
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.extend((method, route.path) for method in sorted(route.methods))
        elif hasattr(route, "original_router"):  # FastAPI's included routers
            found.extend(_walk(route.original_router.routes))
    return found


def _endpoints(app: Any) -> list[tuple[str, str]]:
    """Every API endpoint: from the routes themselves and from the served OpenAPI.

    HTML pages (outside ``/api``) are authorised by the same Records rules and tested in
    ``tests/web/pages``.
    """
    from_routes = [e for e in _walk(app.routes) if e[1].startswith("/api")]
    from_schema = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]
    assert from_schema, "no endpoints found"
    return sorted(set(from_routes) | set(from_schema))


def test_every_endpoint_has_a_matrix_row(app):
    missing = [e for e in _endpoints(app) if e not in MATRIX]
    assert not missing, f"endpoints without an authorisation-matrix row: {missing}"
    stale = [e for e in MATRIX if e not in _endpoints(app)]
    assert not stale, f"matrix rows for endpoints that no longer exist: {stale}"


def _expected(row: Row, role: str, target: str, method: str) -> str | int:
    if row.scope in ("sign-in", "self"):
        return OK
    if row.scope == "portal":
        return UNAUTHENTICATED  # a sign-in never opens the portal: only a link's token does
    if role not in row.roles:
        return FORBIDDEN
    if row.scope == "collection":
        return OK
    if row.scope == "user":
        return NOT_FOUND if target == "other_clinic" else OK
    if target == "other_clinic":
        return NOT_FOUND
    if role == "patient" and target == "other_patient":
        return NOT_FOUND
    return OK


def _target(world: World, target: str) -> tuple[str, str]:
    """(clinic, patient key) of the patient addressed, for a user of clinic A."""
    return {
        "own": ("A", "own"),
        "other_patient": ("A", "other"),
        "other_clinic": ("B", "own"),
    }[target]


def _request(
    world: World, client: TestClient, method: str, path: str, row: Row, role: str, target: str
) -> Any:
    headers = world.headers("A", role)
    body: Any = None
    clinic, which = _target(world, target)
    c = world.clinics[clinic]
    patient_id = c.patients[which]
    url = path.replace("{patient_id}", patient_id)
    if row.scope == "sign-in":
        return client.post(
            path, json={"email": world.clinics["A"].emails[role], "password": PASSWORD}
        )
    if row.scope == "self" and method == "POST":
        headers = {"Authorization": f"Bearer {world.new_token('A', role)}"}
    if row.scope == "user":
        url = path.replace("{record_id}", c.users["clinician"])
        body = (
            {"name": "Renamed", "version": _version(world, User, c.users["clinician"])}
            if method == "PATCH"
            else None
        )
    elif row.scope == "collection" and path == "/api/fhir":
        body = FHIR_UPLOAD
    elif row.scope == "collection" and method == "POST":
        body = (
            {"name": "New Patient", "sex": "unknown"}
            if path == "/api/patients"
            else {
                "email": f"{role}-{target}@new.example.org",
                "name": "New clinician",
                "role": "clinician",
                "password": PASSWORD,
            }
        )
    elif row.scope == "collection" and method == "PATCH":
        body = {"name": "Clinic A", "version": _version(world, Clinic, world.clinics["A"].id)}
    elif row.scope == "portal" and path.endswith("/pain-map"):
        body = {"entries": [], "submission_key": "k1"}
    elif row.scope == "portal":
        body = (
            {"instrument": "odi", "answers": {}, "submission_key": "k1"}
            if method == "POST"
            else None
        )
    elif row.kind == "patient":
        body = {"version": _version(world, Patient, patient_id)} if method == "PATCH" else None
    elif row.kind is not None:
        records = c.records[which]
        if method == "POST":
            body = create_body(row.kind, records)
        elif "{record_id}" in path:
            record_id, version = records[row.kind], None
            if method in ("PATCH", "DELETE"):
                record_id, version = world.add_record(clinic, patient_id, row.kind)
            url = url.replace("{record_id}", record_id)
            if method == "PATCH":
                body = {"version": version, **UPDATES[row.kind]}
    return client.request(method, url, headers=headers, json=body)


def _version(world: World, model: type[Clinic | User | Patient], record_id: str) -> int:
    with world.db.transaction() as session:
        record = session.get(model, record_id)
        assert record is not None
        return record.version


def test_authorisation_matrix(app, client, world):
    failures = []
    checked = 0
    for method, path in _endpoints(app):
        row = MATRIX[(method, path)]
        for role in ROLES:
            for target in TARGETS:
                response = _request(world, client, method, path, row, role, target)
                expected = _expected(row, role, target, method)
                got = response.status_code
                where = f"{role:9} {target:13} {method:6} {path}"
                checked += 1
                if expected == OK:
                    if not 200 <= got < 300:
                        failures.append(
                            f"{where}: expected success, got {got} {response.text[:200]}"
                        )
                        continue
                elif got != expected:
                    failures.append(
                        f"{where}: expected {expected}, got {got} {response.text[:200]}"
                    )
                    continue
                if got >= 400:
                    # The FHIR API answers as FHIR clients read: an OperationOutcome.
                    error_type = (
                        "application/fhir+json"
                        if path.startswith("/api/fhir")
                        else "application/problem+json"
                    )
                    assert response.headers["content-type"].startswith(error_type), where
                if row.scope == "patient" and got != UNAUTHENTICATED:
                    events = world.audit_for(response.headers["X-Request-ID"])
                    outcome = "ok" if expected == OK else "refused"
                    if not any(e.outcome == outcome for e in events):
                        failures.append(f"{where}: no audit entry with outcome {outcome}")
                    if any(e.actor_id != world.clinics["A"].users[role] for e in events):
                        failures.append(f"{where}: audit entry names the wrong actor")
    assert checked == len(_endpoints(app)) * len(ROLES) * len(TARGETS)
    assert not failures, "\n".join(failures)


def test_listings_show_only_what_the_role_may_see(client, world):
    a = world.clinics["A"]
    staff = client.get("/api/patients", headers=world.headers("A", "clinician")).json()
    assert {p["id"] for p in staff["items"]} == set(a.patients.values())
    mine = client.get("/api/patients", headers=world.headers("A", "patient")).json()
    assert [p["id"] for p in mine["items"]] == [a.patients["own"]]
    users = client.get("/api/users", headers=world.headers("A", "admin")).json()
    assert {u["id"] for u in users["items"]} == set(a.users.values())


def test_the_openapi_documents_every_refusal_the_matrix_expects(app):
    """A client reading the OpenAPI learns every error status a role may get (e.g. 403
    for a patient on a staff-only operation)."""
    schema = app.openapi()
    missing = []
    for method, path in _endpoints(app):
        row = MATRIX[(method, path)]
        expected = {_expected(row, r, t, method) for r in ROLES for t in TARGETS} - {OK}
        documented = set(schema["paths"][path][method.lower()]["responses"])
        if {str(status) for status in expected} - documented:
            missing.append(f"{method} {path}: {sorted(expected)} vs {sorted(documented)}")
    assert not missing, "\n".join(missing)
