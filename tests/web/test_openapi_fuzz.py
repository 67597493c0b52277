"""Schemathesis against the app's own OpenAPI: no 5xx, ever, and every answer as documented.

Signed in as a clinician for every operation; as an administrator for the operations only
administrators may use; and with a patient's portal link (no sign-in) for the portal.
Bounded to a few examples per operation so the web suite stays quick; the generated data
covers path ids, query parameters and bodies of every operation.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web.world import World

EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_no_server_errors(app, world: World):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = world.headers("A", "clinician")
    failures: list[str] = []
    operations = 0
    found = [result.ok() for result in schema.get_all_operations()]
    # Deletes last, so the other operations still find the seeded records; sign-out would
    # end the session the fuzzing runs under (it is covered in test_sign_in).
    found.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in found:
        if operation.path == "/api/auth/sign-out":
            continue
        operations += 1
        _fuzz(operation, headers, failures, world)
    assert operations >= 50
    assert not failures, "\n".join(failures)


ADMIN_PATHS = ("/api/users", "/api/clinic", "/api/audit")


def test_no_server_errors_as_an_administrator(app, world: World):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = world.headers("A", "admin")
    failures: list[str] = []
    found = [r.ok() for r in schema.get_all_operations()]
    chosen = [op for op in found if op.path.startswith(ADMIN_PATHS)]
    assert len(chosen) >= 6
    for operation in chosen:
        _fuzz(operation, headers, failures, world, examples=3 * EXAMPLES)
    assert not failures, "\n".join(failures)


def test_no_server_errors_with_a_portal_link(app, world: World):
    from fastapi.testclient import TestClient

    patient = world.clinics["A"].patients["own"]
    link = TestClient(app).post(
        f"/api/patients/{patient}/portal-links",
        json={"instruments": ["odi", "nprs", "hoos"]},
        headers=world.headers("A", "clinician"),
    )
    assert link.status_code == 201, link.text
    headers = {"X-Portal-Token": link.json()["token"]}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    found = [r.ok() for r in schema.get_all_operations()]
    chosen = [op for op in found if op.path.startswith("/api/portal")]
    assert len(chosen) >= 3
    for operation in chosen:
        _fuzz(operation, headers, failures, world, examples=3 * EXAMPLES)
    assert not failures, "\n".join(failures)


def _aim(case, world: World) -> None:
    """Point most generated requests at real records, so they reach the handlers' logic."""
    params = case.path_parameters or {}
    clinic = world.clinics["A"]
    if "patient_id" in params:
        params["patient_id"] = clinic.patients["own"]
    if "record_id" in params:
        parts = case.operation.path.split("/")
        kind = parts[-2]
        params["record_id"] = (
            clinic.users["clinician"] if kind == "users" else clinic.records["own"].get(kind, "")
        )


def _fuzz(operation, headers, failures, world, examples=EXAMPLES):
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case):
        _aim(case, world)
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{operation.method.upper()} {operation.path}: {response.status_code} "
                f"for {case.path_parameters} {case.query} {case.body!r:.300}"
            )
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseExceptionGroup as error:
            failures.append(
                f"NONCONFORMANT {operation.method.upper()} {operation.path}: {str(error)[:1500]}"
            )

    check()
