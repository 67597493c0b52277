"""The routes every kind of patient record shares: list, create, read, change, delete.

Records live under their patient (``/api/patients/{patient_id}/<kind>``). Reading is open to
every role (a patient reaches only their own record, through :class:`Records`); writing to
clinicians and administrators, and for some kinds to the patient too. Every route goes
through :class:`~hipspine.store.records.Records`, so each access is authorised and audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Response

from hipspine.store.models import Base, Role
from hipspine.store.records import Records
from hipspine.web.api.common import (
    In,
    Limit,
    Offset,
    Out,
    Page,
    PathId,
    PatientId,
    Versioned,
    not_null,
    page_of,
)
from hipspine.web.deps import EVERYONE, STAFF, RecordsDep, allow
from hipspine.web.problems import responses

Build = Callable[[Any, Records, str], dict[str, Any]]
"""Turn a validated body into model fields (checks that need the database go here)."""


@dataclass(frozen=True)
class Kind:
    """One kind of patient record as the API serves it."""

    path: str
    label: str
    model: type[Base]
    out: type[Out]
    create: type[In] | None = None
    build: Build | None = None
    update: type[Versioned] | None = None
    check_update: Build | None = None
    patient_may_create: bool = False

    @property
    def resource(self) -> str:
        return str(self.model.__tablename__)


READ_ERRORS = responses(401, 404, 422)
STAFF_READ_ERRORS = responses(401, 403, 404, 422)  # a patient is refused outright
WRITE_ERRORS = responses(401, 403, 404, 409, 422)


def add_routes(router: APIRouter, kind: Kind) -> None:
    """Register the shared routes of ``kind`` on ``router``."""
    base = f"/patients/{{patient_id}}/{kind.path}"
    name = kind.path.replace("-", "_")
    page_model = Page[kind.out]  # type: ignore[name-defined]

    def list_records(
        patient_id: PatientId, records: RecordsDep, offset: Offset = 0, limit: Limit = 50
    ) -> Any:
        return page_of(kind.out, records.list(kind.model, patient_id, offset=offset, limit=limit))

    router.add_api_route(
        base,
        list_records,
        methods=["GET"],
        name=f"list_{name}",
        summary=f"List a patient's {kind.label}s",
        response_model=page_model,
        responses=READ_ERRORS,
        dependencies=[Depends(allow(*EVERYONE))],
    )

    def read_record(patient_id: PatientId, record_id: PathId, records: RecordsDep) -> Any:
        return kind.out.model_validate(records.get_of(kind.model, patient_id, record_id))

    router.add_api_route(
        f"{base}/{{record_id}}",
        read_record,
        methods=["GET"],
        name=f"read_{name}",
        summary=f"Read one {kind.label}",
        response_model=kind.out,
        responses=READ_ERRORS,
        dependencies=[Depends(allow(*EVERYONE))],
    )

    if kind.create is not None and kind.build is not None:
        build = kind.build

        def create_record(patient_id: PatientId, body: Any, records: RecordsDep) -> Any:
            records.check_patient(kind.model, patient_id, "create")
            fields = build(body, records, patient_id)
            record = records.add(kind.model(patient_id=patient_id, **fields))
            return kind.out.model_validate(record)

        create_record.__annotations__["body"] = kind.create
        creators = (*STAFF, Role.PATIENT) if kind.patient_may_create else STAFF
        router.add_api_route(
            base,
            create_record,
            methods=["POST"],
            name=f"create_{name}",
            summary=f"Record a {kind.label}",
            status_code=201,
            response_model=kind.out,
            responses=WRITE_ERRORS,
            dependencies=[Depends(allow(*creators, resource=kind.resource, action="create"))],
        )

    if kind.update is not None:
        check = kind.check_update

        def update_record(
            patient_id: PatientId, record_id: PathId, body: Any, records: RecordsDep
        ) -> Any:
            changes = body.model_dump(exclude_unset=True, exclude={"version"})
            not_null(kind.model, changes)
            if check is not None:
                records.check_patient(kind.model, patient_id, "update")
                changes = check(body, records, patient_id)
            record = records.update_of(kind.model, patient_id, record_id, body.version, changes)
            return kind.out.model_validate(record)

        update_record.__annotations__["body"] = kind.update
        router.add_api_route(
            f"{base}/{{record_id}}",
            update_record,
            methods=["PATCH"],
            name=f"update_{name}",
            summary=f"Change a {kind.label} (send the version you read)",
            response_model=kind.out,
            responses=WRITE_ERRORS,
            dependencies=[Depends(allow(*STAFF, resource=kind.resource, action="update"))],
        )

    def delete_record(patient_id: PatientId, record_id: PathId, records: RecordsDep) -> Response:
        records.delete_of(kind.model, patient_id, record_id)
        return Response(status_code=204)

    router.add_api_route(
        f"{base}/{{record_id}}",
        delete_record,
        methods=["DELETE"],
        name=f"delete_{name}",
        summary=f"Delete a {kind.label}",
        status_code=204,
        response_class=Response,
        responses=WRITE_ERRORS,
        dependencies=[Depends(allow(*STAFF, resource=kind.resource, action="delete"))],
    )
