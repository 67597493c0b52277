"""The clinic's users (administrators only), the clinic's settings, and the audit check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hipspine.clinical import instruments
from hipspine.store import audit
from hipspine.store.audit import Actor
from hipspine.store.models import Clinic, Role, User
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
)
from hipspine.web.deps import EVERYONE, ActorDep, RecordsDep, SessionDep, WebDep, allow
from hipspine.web.problems import ProblemError, invalid, responses

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


class UserUpdate(In):
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
def list_users(session: SessionDep, actor: ActorDep, offset: Offset = 0, limit: Limit = 50) -> Any:
    query = select(User).where(User.clinic_id == actor.clinic_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    users = session.execute(query.order_by(User.email).offset(offset).limit(limit)).scalars()
    return Page[UserOut](
        items=[UserOut.model_validate(u) for u in users], total=total, offset=offset, limit=limit
    )


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
        raise ProblemError(409, "A user with this e-mail address already exists.")
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
def read_user(record_id: PathId, session: SessionDep, actor: ActorDep) -> Any:
    return UserOut.model_validate(_own_user(session, actor, record_id))


@router.patch(
    "/users/{record_id}",
    response_model=UserOut,
    responses=responses(401, 403, 404, 422),
    dependencies=ADMIN_ONLY,
    summary="Change, deactivate or reset the password of a user (ends their sign-ins)",
)
def update_user(record_id: PathId, body: UserUpdate, records: RecordsDep, web: WebDep) -> Any:
    session, actor = records.session, records.actor
    user = _own_user(session, actor, record_id)
    changes = body.model_dump(exclude_unset=True)
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


# -- clinic ---------------------------------------------------------------------------


class ClinicOut(Out):
    id: str
    name: str
    disabled_instruments: list[str]


class ClinicUpdate(In):
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
    responses=responses(401, 403, 422),
    dependencies=[Depends(allow(Role.ADMIN, action="change the clinic"))],
    summary="Rename the clinic or switch instruments off",
)
def update_clinic(body: ClinicUpdate, session: SessionDep, actor: ActorDep) -> Any:
    clinic = session.get(Clinic, actor.clinic_id)
    if clinic is None:  # pragma: no cover - a signed-in user always has a clinic
        raise ProblemError(404, "No such clinic.")
    if body.name is not None:
        clinic.name = body.name
    if body.disabled_instruments is not None:
        clinic.disabled_instruments = sorted(set(body.disabled_instruments))
    session.flush()
    return ClinicOut.model_validate(clinic)


# -- audit ----------------------------------------------------------------------------


class AuditCheck(Out):
    intact: bool
    checked: int
    broken_at: int | None
    reason: str
    checked_at: datetime


@router.get(
    "/audit/verify",
    response_model=AuditCheck,
    responses=responses(401, 403),
    dependencies=[Depends(allow(Role.ADMIN, action="verify the audit log"))],
    tags=["audit"],
    summary="Check the audit log's hash chain from the first entry to the last",
)
def verify_audit(session: SessionDep, actor: ActorDep) -> Any:
    result = audit.verify(session)
    audit.record(session, actor, "verify", "audit_log")
    return AuditCheck(
        intact=result.intact,
        checked=result.checked,
        broken_at=result.broken_at,
        reason=result.reason,
        checked_at=datetime.now().astimezone(),
    )
