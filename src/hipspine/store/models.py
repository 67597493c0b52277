"""The records a clinic keeps, as SQLAlchemy 2 models (SQLite and PostgreSQL).

Every table that holds patient data carries ``clinic_id`` so that isolation between
clinics is a filter on one column, checked by the repositories and by the authorisation
tests. Mutable clinical records carry ``version`` for optimistic concurrency: an update
states the version it read and fails if another writer got there first, so concurrent
writers never lose an update silently.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A random identifier (UUID4 text): opaque, unguessable, portable across databases."""
    return str(uuid.uuid4())


RECORD_ID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""The form of every record's id (a UUID, as :func:`new_id` makes): the API addresses
records by it, so an id from elsewhere is kept only in this form."""
_RECORD_ID = re.compile(RECORD_ID)


def is_record_id(value: str) -> bool:
    """Whether ``value`` has the form of a record id (see :data:`RECORD_ID`)."""
    return _RECORD_ID.match(value) is not None


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Role(StrEnum):
    """Who a user is to the clinic."""

    ADMIN = "admin"
    CLINICIAN = "clinician"
    PATIENT = "patient"


class EncounterKind(StrEnum):
    INTAKE = "intake"
    EXAM = "exam"
    IMAGING = "imaging"
    PROCEDURE = "procedure"
    FOLLOW_UP = "follow_up"


class ProcedureType(StrEnum):
    CORTICOSTEROID = "corticosteroid"
    PRP = "prp"
    BONE_MARROW_CONCENTRATE = "bone_marrow_concentrate"
    ADIPOSE_DERIVED_CELLS = "adipose_derived_cells"
    PROLOTHERAPY = "prolotherapy"
    OTHER = "other"


class Guidance(StrEnum):
    ULTRASOUND = "ultrasound"
    FLUOROSCOPY = "fluoroscopy"
    LANDMARK = "landmark"


def _enum(kind: type[StrEnum]) -> String:
    # Stored as plain text with a CHECK constraint: readable in SQL, portable, and
    # extendable by a migration without PostgreSQL enum-type gymnastics.
    return String(40)


def _check(column: str, kind: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{v.value}'" for v in kind)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_allowed")


class Clinic(Base):
    __tablename__ = "clinic"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    disabled_instruments: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    # Two administrators changing the clinic's settings at once: the second is refused.
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class User(Base):
    __tablename__ = "app_user"
    __table_args__ = (_check("role", Role),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(_enum(Role))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patient.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id"), index=True)
    identifier: Mapped[str | None] = mapped_column(String(64))  # the clinic's record number
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10), default="unknown")
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        UniqueConstraint("clinic_id", "identifier", name="patient_identifier_per_clinic"),
        CheckConstraint("sex IN ('male', 'female', 'other', 'unknown')", name="sex_allowed"),
    )
    __mapper_args__ = {"version_id_col": version}


class _PatientRecord:
    """Columns every patient-data table shares: identity, clinic, patient, audit times."""

    listed_by: ClassVar[tuple[str, ...]] = ()
    """The columns that put a patient's records of this kind in clinical order — the day
    they are about, then what they are of — before the time they were entered. Imported
    records are entered together, so the order a clinician sees (a PDF's medication list,
    a strength table) must rest on what the records say, not on when they arrived."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("app_user.id"))


class Episode(_PatientRecord, Base):
    """An episode of care: one condition on one side, from first visit to discharge."""

    __tablename__ = "episode"
    listed_by = ("started_on", "condition", "side")

    condition: Mapped[str] = mapped_column(String(64))
    side: Mapped[str | None] = mapped_column(String(10))
    started_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Encounter(_PatientRecord, Base):
    """A visit. ``case`` holds the hipspine.case/1 document recorded at this encounter."""

    __tablename__ = "encounter"
    listed_by = ("occurred_on", "kind")
    __table_args__ = (_check("kind", EncounterKind),)

    episode_id: Mapped[str | None] = mapped_column(ForeignKey("episode.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(_enum(EncounterKind))
    occurred_on: Mapped[date] = mapped_column(Date)
    clinician_id: Mapped[str | None] = mapped_column(ForeignKey("app_user.id"))
    case: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class QuestionnaireResponse(_PatientRecord, Base):
    """A completed questionnaire with the score computed by the clinical core at save time."""

    __tablename__ = "questionnaire_response"
    listed_by = ("completed_on", "instrument")

    encounter_id: Mapped[str | None] = mapped_column(
        ForeignKey("encounter.id", ondelete="SET NULL")
    )
    instrument: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[str] = mapped_column(String(40))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    score: Mapped[float | None] = mapped_column(Float)
    subscales: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    band: Mapped[str | None] = mapped_column(String(80))
    completed_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20), default="clinic")  # clinic | portal | import
    # A client-chosen key that makes a resubmitted form a no-op instead of a duplicate.
    submission_key: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        UniqueConstraint("patient_id", "submission_key", name="response_submission_once"),
        Index("ix_response_patient_instrument_date", "patient_id", "instrument", "completed_on"),
    )


class PainRating(_PatientRecord, Base):
    """Numeric pain rating 0–10 for one region and side."""

    __tablename__ = "pain_rating"
    listed_by = ("rated_on", "region", "side")
    __table_args__ = (CheckConstraint("intensity BETWEEN 0 AND 10", name="intensity_range"),)

    encounter_id: Mapped[str | None] = mapped_column(
        ForeignKey("encounter.id", ondelete="SET NULL")
    )
    region: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(10))
    intensity: Mapped[int] = mapped_column(Integer)
    recall: Mapped[str] = mapped_column(String(40), default="past week")
    rated_on: Mapped[date] = mapped_column(Date)


class StrengthTest(_PatientRecord, Base):
    """Manual muscle test (MRC) and/or hand-held dynamometry for one muscle and side."""

    __tablename__ = "strength_test"
    listed_by = ("tested_on", "muscle", "side", "action", "position")

    encounter_id: Mapped[str | None] = mapped_column(
        ForeignKey("encounter.id", ondelete="SET NULL")
    )
    muscle: Mapped[str] = mapped_column(String(40))
    side: Mapped[str | None] = mapped_column(String(10))
    mrc: Mapped[str | None] = mapped_column(String(3))
    action: Mapped[str | None] = mapped_column(String(40))
    position: Mapped[str | None] = mapped_column(String(40))
    force: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(8))
    lever_arm_m: Mapped[float | None] = mapped_column(Float)
    tested_on: Mapped[date] = mapped_column(Date)


class FunctionTest(_PatientRecord, Base):
    """Six-minute walk, 30-second chair stand or gait speed."""

    __tablename__ = "function_test"
    listed_by = ("tested_on", "test")

    encounter_id: Mapped[str | None] = mapped_column(
        ForeignKey("encounter.id", ondelete="SET NULL")
    )
    test: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    tested_on: Mapped[date] = mapped_column(Date)


class Medication(_PatientRecord, Base):
    """A medication with its use pattern, e.g. ibuprofen as needed, 3 days a week."""

    __tablename__ = "medication"
    listed_by = ("started_on", "name", "stopped_on")

    name: Mapped[str] = mapped_column(String(120))
    dose: Mapped[str | None] = mapped_column(String(60))
    pattern: Mapped[str] = mapped_column(String(20))
    days_per_week: Mapped[float | None] = mapped_column(Float)
    indication: Mapped[str | None] = mapped_column(String(200))
    started_on: Mapped[date | None] = mapped_column(Date)
    stopped_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Procedure(_PatientRecord, Base):
    """An injection or other procedure: type, targets, image guidance, operator."""

    __tablename__ = "procedure"
    listed_by = ("performed_on", "type")
    __table_args__ = (_check("type", ProcedureType), _check("guidance", Guidance))

    episode_id: Mapped[str | None] = mapped_column(ForeignKey("episode.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(_enum(ProcedureType))
    targets: Mapped[list[Any]] = mapped_column(
        JSON
    )  # [{"site": "hip_joint", "side": "right"}, {"site": "facet", "level": "L4-L5", ...}]
    # None when the source did not say (imported records): unknown is not "landmark".
    guidance: Mapped[str | None] = mapped_column(_enum(Guidance))
    performed_on: Mapped[date] = mapped_column(Date)
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("app_user.id"))
    note: Mapped[str | None] = mapped_column(Text)
    # The coded procedure as received from another system ({"system", "code", "display"}).
    code: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class TherapyRegimen(_PatientRecord, Base):
    """A physical-therapy regimen: exercises with dose and the muscles each targets."""

    __tablename__ = "therapy_regimen"
    listed_by = ("started_on", "stopped_on")

    episode_id: Mapped[str | None] = mapped_column(ForeignKey("episode.id", ondelete="SET NULL"))
    started_on: Mapped[date] = mapped_column(Date)
    stopped_on: Mapped[date | None] = mapped_column(Date)  # the last day; None while it runs
    exercises: Mapped[list[Any]] = mapped_column(JSON)
    adherence_percent: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Goal(_PatientRecord, Base):
    """A functional goal with a target date and its attainment ratings (GAS −2 … +2)."""

    __tablename__ = "goal"
    listed_by = ("target_date", "description")

    description: Mapped[str] = mapped_column(Text)
    target_date: Mapped[date | None] = mapped_column(Date)
    psfs_activity: Mapped[str | None] = mapped_column(String(200))
    ratings: Mapped[list[Any]] = mapped_column(
        JSON, default=list
    )  # [{"rated_on": ..., "level": 0}]
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class StoredAssessment(_PatientRecord, Base):
    """An assessment result as the engine produced it, with the engine version."""

    __tablename__ = "assessment"

    encounter_id: Mapped[str | None] = mapped_column(
        ForeignKey("encounter.id", ondelete="SET NULL")
    )
    engine_version: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class RedFlagAcknowledgement(_PatientRecord, Base):
    """A clinician's acknowledgement of a "consider" red flag for one patient.

    ``flag`` is the red flag's id (``clinical/data/red_flags.toml``, e.g. the malignancy
    screen once ESR and imaging are recorded); ``assessment_id`` the assessment on which it
    was seen (kept as None when that assessment goes). Who and when are ``created_by`` and
    ``created_at``. The flag stays on the assessment, shown as acknowledged, and no longer
    counts as needing attention; urgent and emergency flags cannot be acknowledged away.
    Withdrawing is deleting it (audited).
    """

    __tablename__ = "red_flag_acknowledgement"
    __table_args__ = (Index("ix_red_flag_acknowledgement_patient_flag", "patient_id", "flag"),)

    flag: Mapped[str] = mapped_column(String(64))
    assessment_id: Mapped[str | None] = mapped_column(
        ForeignKey("assessment.id", ondelete="SET NULL")
    )
    note: Mapped[str] = mapped_column(Text)


class FhirSource(Base):
    """Where an imported record came from: one row per imported FHIR resource.

    The key (source id, resource type, clinic, source system) makes an import idempotent
    and resumable: a resource already recorded here is skipped, and the row is written in
    the same transaction as the records it produced. ``record_table`` is None for a
    resource that was read but produced no record.
    """

    __tablename__ = "fhir_source"

    # The natural key is the primary key (no surrogate id): one index fewer to write for
    # every imported resource. The id leads: the importer looks up lists of ids (without
    # their source system, which a subject reference does not carry), and only a leading
    # column is sought.
    source_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id"), primary_key=True)
    source_system: Mapped[str] = mapped_column(String(200), primary_key=True, default="")
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    record_table: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[str | None] = mapped_column(String(36))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class PortalLink(Base):
    """A single-use, expiring link by which a patient reaches due questionnaires.

    Only a hash of the token is stored, so a database leak does not leak working links.
    """

    __tablename__ = "portal_link"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    instruments: Mapped[list[Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("app_user.id"))
    # Instruments already submitted through this link; the link is spent when all are in.
    completed: Mapped[list[Any]] = mapped_column(JSON, default=list)


class AuditEvent(Base):
    """One entry of the append-only audit log, chained to the previous entry by hash.

    ``hash`` = SHA-256 over the previous hash and this entry's canonical fields, so editing,
    deleting or reordering any entry breaks every later link (checked by ``verify``).
    """

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    actor_id: Mapped[str | None] = mapped_column(String(36))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    clinic_id: Mapped[str | None] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(20))
    resource: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(36))
    patient_id: Mapped[str | None] = mapped_column(String(36), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    client: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LoginThrottle(Base):
    """Failed sign-ins per account and per client, for rate limiting across processes."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class TokenKind(StrEnum):
    SESSION = "session"  # web session, carried in a signed HttpOnly cookie
    BEARER = "bearer"  # API token, carried in the Authorization header


class AuthToken(Base):
    """A sign-in: a web session or an API bearer token, until it expires or is revoked.

    Only a SHA-256 hash of the random token is stored, so a database leak does not leak
    working credentials.
    """

    __tablename__ = "auth_token"
    __table_args__ = (_check("kind", TokenKind),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(_enum(TokenKind))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
