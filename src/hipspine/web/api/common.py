"""Shared pieces of the JSON API: string and id types, pages, path parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from sqlalchemy.orm import Session

from hipspine.store.models import RECORD_ID, Base, Role, User
from hipspine.web.problems import invalid

UUID_PATTERN = RECORD_ID


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it as bad input rather than fail on write.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


_NoNul = AfterValidator(_no_nul)
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), _NoNul]
Str40 = Annotated[str, StringConstraints(max_length=40), _NoNul]
Str60 = Annotated[str, StringConstraints(max_length=60), _NoNul]
Str200 = Annotated[str, StringConstraints(max_length=200), _NoNul]
Str500 = Annotated[str, StringConstraints(max_length=500), _NoNul]
Label40 = Annotated[str, StringConstraints(min_length=1, max_length=40), _NoNul]
Label120 = Annotated[str, StringConstraints(min_length=1, max_length=120), _NoNul]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
Text2000 = Annotated[str, StringConstraints(min_length=1, max_length=2000), _NoNul]
Note = Annotated[str, StringConstraints(max_length=20000), _NoNul]
Id = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
PathId = Annotated[str, Path(pattern=UUID_PATTERN, description="Record id (UUID)")]
PatientId = Annotated[str, Path(pattern=UUID_PATTERN, description="Patient id (UUID)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip")]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Moment = Annotated[datetime, BeforeValidator(_utc)]


class In(BaseModel):
    """A request body: unknown fields are refused by name; no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Out(BaseModel):
    """A response body read from a stored record."""

    model_config = ConfigDict(from_attributes=True)


class RecordOut(Out):
    id: str
    patient_id: str
    created_at: Moment
    created_by: str | None


class Versioned(In):
    version: int = Field(
        ge=1, le=2_000_000_000, description="The version you read; a newer one gives 409"
    )


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing: ``items`` from ``offset``, ``total`` in all."""

    items: list[T]
    total: int
    offset: int
    limit: int


def page_of(out: type[Out], page: Any) -> Page[Any]:
    """A stored page as a response page."""
    return Page[out](  # type: ignore[valid-type]
        items=[out.model_validate(item) for item in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


def require_owned(
    session: Session, model: type[Base], record_id: str | None, patient_id: str, field: str
) -> None:
    """Refuse (422 on ``field``) a reference to a record that is not this patient's."""
    if record_id is None:
        return
    record = session.get(model, record_id)
    if record is None or getattr(record, "patient_id", None) != patient_id:
        raise invalid(field, f"no {model.__tablename__} with this id for this patient")


def require_staff_user(
    session: Session, user_id: str | None, clinic_id: str | None, field: str
) -> None:
    """Refuse (422 on ``field``) a user id that is not a clinician or admin of this clinic."""
    if user_id is None:
        return
    user = session.get(User, user_id)
    if user is None or user.clinic_id != clinic_id or user.role == Role.PATIENT.value:
        raise invalid(field, "no clinician or administrator with this id in this clinic")


def not_null(model: type[Base], changes: dict[str, Any]) -> None:
    """Refuse (422) setting a required column to null in an update."""
    columns = model.__table__.c
    for name, value in changes.items():
        if value is None and name in columns and not columns[name].nullable:
            raise invalid(name, "is required and may not be null")
