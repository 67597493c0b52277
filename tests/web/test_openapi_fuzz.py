"""Schemathesis against the app's own OpenAPI, signed in as a clinician: no 5xx, ever.

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


def _fuzz(operation, headers, failures, world):
    @settings(
        max_examples=EXAMPLES,
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
