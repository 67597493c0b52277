"""The clinic's users (administrators only), the clinic's settings, and the audit check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hipspine.clinical import instruments
from hipspine.store import audit
from hipspine.store.audit import Actor
from hipspine.store.models import Clinic, Role, User
from hipspine.store.records import Records, StaleVersion
from hipspine.web import auth
from hipspine.web.api.common import (
    Email,
    Id,
    In,
    Limit,
    Moment,
    Name,
    Offset,
    Out,
    Page,
    PathId,
    Versioned,
)
from hipspine.web.deps import EVERYONE, ActorDep, RecordsDep, SessionDep, WebDep, allow
from hipspine.web.problems import FieldError, ProblemError, invalid, responses

router = APIRouter(prefix="/api", tags=["administration"])
Password = Annotated[str, StringConstraints(min_length=10, max_length=128)]
ADMIN_ONLY = [Depends(allow(Role.ADMIN, action="manage users"))]


class UserIn(In):
    email: Email
    name: Name
    role: Role
    password: Password | None = Field(
        default=None, description="Omit for a patient who only uses portal links"
    )
    patient_id: Id | None = Field(default=None, description="Required for role patient")


class UserUpdate(Versioned):
    name: Name | None = None
    role: Role | None = None
    active: bool | None = None
    password: Password | None = None


class UserOut(Out):
    id: str
    email: str
    name: str
    role: str
    patient_id: str | None
    active: bool
    created_at: Moment
    version: int


def _own_user(session: Session, actor: Actor, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.clinic_id != actor.clinic_id:
        raise ProblemError(404, "No such user.")
    return user


@router.get(
    "/users",
    response_model=Page[UserOut],
    responses=responses(401, 403, 422),
    dependencies=ADMIN_ONLY,
    summary="The clinic's users",
)
def list_users(records: RecordsDep, offset: Offset = 0, limit: Limit = 50) -> Any:
    session, actor = records.session, records.actor
    query = select(User).where(User.clinic_id == actor.clinic_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    users = list(session.execute(query.order_by(User.email).offset(offset).limit(limit)).scalars())
    for user in users:
        _audit_patient_account(records, "list", user)
    return Page[UserOut](
        items=[UserOut.model_validate(u) for u in users], total=total, offset=offset, limit=limit
    )


def _audit_patient_account(records: Records, action: str, user: User) -> None:
    # A patient's account (name, e-mail address) is patient data; staff accounts are not.
    if user.patient_id is not None:
        records.note(action, "user", record_id=user.id, patient_id=user.patient_id)


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    responses=responses(401, 403, 404, 409, 422),
    dependencies=ADMIN_ONLY,
    summary="Add a user to the clinic",
)
def create_user(body: UserIn, records: RecordsDep, web: WebDep) -> Any:
    session, actor = records.session, records.actor
    if body.role == Role.PATIENT:
        if body.patient_id is None:
            raise invalid("patient_id", "required for a patient account")
        records.patient(body.patient_id)  # must be this clinic's patient (audited read)
    elif body.patient_id is not None:
        raise invalid("patient_id", "only patient accounts are linked to a patient")
    taken = session.execute(
        select(User.id).where(func.lower(User.email) == body.email.lower())
    ).first()
    if taken is not None:
        raise ProblemError(
            409,
            "A user with this e-mail address already exists.",
            errors=[FieldError(field="email", location="body", message="already in use")],
        )
    user = User(
        clinic_id=actor.clinic_id,
        email=body.email,
        name=body.name,
        role=body.role.value,
        patient_id=body.patient_id,
        password_hash=web.passwords.hash(body.password) if body.password else None,
    )
    session.add(user)
    session.flush()
    records.note("create", "user", record_id=user.id, patient_id=user.patient_id)
    return UserOut.model_validate(user)


@router.get(
    "/users/{record_id}",
    response_model=UserOut,
    responses=responses(401, 403, 404, 422),
    dependencies=ADMIN_ONLY,
    summary="Read a user",
)
def read_user(record_id: PathId, records: RecordsDep) -> Any:
    user = _own_user(records.session, records.actor, record_id)
    _audit_patient_account(records, "read", user)
    return UserOut.model_validate(user)


@router.patch(
    "/users/{record_id}",
    response_model=UserOut,
    responses=responses(401, 403, 404, 409, 422),
    dependencies=ADMIN_ONLY,
    summary="Change, deactivate or reset the password of a user (send the version you read; "
    "ends their sign-ins)",
)
def update_user(record_id: PathId, body: UserUpdate, records: RecordsDep, web: WebDep) -> Any:
    session, actor = records.session, records.actor
    user = _own_user(session, actor, record_id)
    _read_at(user, "user", body.version)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    for name in ("name", "role", "active"):
        if name in changes and changes[name] is None:
            raise invalid(name, "may not be null")
    if user.id == actor.user_id and (
        changes.get("active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN
    ):
        raise invalid("role", "you cannot demote or deactivate yourself")
    role = changes.get("role")
    if role is not None and (role == Role.PATIENT) != (user.patient_id is not None):
        raise invalid("role", "patient accounts stay patient accounts, staff stay staff")
    if "name" in changes:
        user.name = changes["name"]
    if role is not None:
        user.role = role.value
    if "active" in changes:
        user.active = changes["active"]
    if changes.get("password"):
        user.password_hash = web.passwords.hash(changes["password"])
    if {"role", "active", "password"} & changes.keys():
        auth.revoke_all(session, user.id)
    session.flush()
    records.note("update", "user", record_id=user.id, patient_id=user.patient_id)
    return UserOut.model_validate(user)


def _read_at(record: Clinic | User, resource: str, version: int) -> None:
    """Refuse a change made from an older read: another administrator changed it since.
    (A change racing this one is refused at flush by the version column.)"""
    if record.version != version:
        raise StaleVersion(resource, record.id, version, record.version)


# -- clinic ---------------------------------------------------------------------------


class ClinicOut(Out):
    id: str
    name: str
    disabled_instruments: list[str]
    version: int


class ClinicUpdate(Versioned):
    name: Name | None = None
    disabled_instruments: (
        list[Annotated[str, Field(json_schema_extra={"enum": list(instruments.INSTRUMENT_IDS)})]]
        | None
    ) = Field(
        default=None,
        max_length=len(instruments.INSTRUMENT_IDS),
        description="Instruments whose licence the clinic does not hold",
    )

    @field_validator("disabled_instruments")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            try:
                instruments.enabled(value)
            except KeyError as error:
                raise ValueError(str(error.args[0])) from None
        return value


@router.get(
    "/clinic",
    response_model=ClinicOut,
    responses=responses(401),
    dependencies=[Depends(allow(*EVERYONE))],
    summary="Your clinic",
)
def read_clinic(session: SessionDep, actor: ActorDep) -> Any:
    return ClinicOut.model_validate(session.get(Clinic, actor.clinic_id))


@router.patch(
    "/clinic",
    response_model=ClinicOut,
    responses=responses(401, 403, 409, 422),
    dependencies=[Depends(allow(Role.ADMIN, action="change the clinic"))],
    summary="Rename the clinic or switch instruments off (send the version you read)",
)
def update_clinic(body: ClinicUpdate, session: SessionDep, actor: ActorDep) -> Any:
    clinic = session.get(Clinic, actor.clinic_id)
    if clinic is None:  # pragma: no cover - a signed-in user always has a clinic
        raise ProblemError(404, "No such clinic.")
    _read_at(clinic, "clinic", body.version)
    if body.name is not None:
        clinic.name = body.name
    if body.disabled_instruments is not None:
        clinic.disabled_instruments = sorted(set(body.disabled_instruments))
    session.flush()
    return ClinicOut.model_validate(clinic)


# -- audit ----------------------------------------------------------------------------


class AuditCheck(Out):
    intact: bool
    checked: int = Field(description="Entries of your clinic checked (the chain is shared)")
    broken_at: int | None
    reason: str
    last_seq: int | None = Field(
        description="Your clinic's newest entry (this check's own): keep it, with last_hash, "
        "outside the database; a later check with anchor=last_hash finds it unless entries "
        "were deleted"
    )
    last_hash: str | None
    anchor_found: bool | None = Field(
        description="Whether the entry with the anchor hash is still in the chain"
    )
    checked_at: datetime


Anchor = Annotated[
    str | None,
    Query(pattern=r"^[0-9a-f]{64}$", description="last_hash of an earlier check"),
]


@router.get(
    "/audit/verify",
    response_model=AuditCheck,
    responses=responses(401, 403, 422),
    dependencies=[Depends(allow(Role.ADMIN, action="verify the audit log"))],
    tags=["audit"],
    summary="Check the audit log's hash chain from the first entry to the last",
)
def verify_audit(session: SessionDep, actor: ActorDep, anchor: Anchor = None) -> Any:
    # Recorded first, so the check covers it and it is the newest entry to keep.
    audit.record(session, actor, "verify", "audit_log")
    result = audit.verify(session, clinic_id=actor.clinic_id, anchor=anchor)
    return AuditCheck(
        intact=result.intact,
        checked=result.clinic_checked,
        broken_at=result.broken_at,
        reason=result.reason,
        last_seq=result.last_seq,
        last_hash=result.last_hash,
        anchor_found=result.anchor_found,
        checked_at=datetime.now().astimezone(),
    )
