"""Authorised, audited access to patient records: the only way code reads or writes them.

Rules (checked here, not in the web layer, so every entry point obeys them):

* a clinic never sees another clinic's records — a record of another clinic is reported as
  *not found*, so its existence is not revealed;
* clinicians and clinic administrators read and write their own clinic's patient records;
* a patient reads only their own record and writes only their own questionnaire responses
  and pain ratings;
* every read, list, create, update and delete of patient data appends an audit entry in the
  same transaction; refused attempts are audited by :func:`record_refusal` in a transaction
  of their own, after the refused one has been rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from hipspine.store import audit
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    Base,
    Encounter,
    Episode,
    FunctionTest,
    Goal,
    Medication,
    PainRating,
    Patient,
    Procedure,
    QuestionnaireResponse,
    RedFlagAcknowledgement,
    Role,
    StoredAssessment,
    StrengthTest,
    TherapyRegimen,
)

Record = TypeVar("Record", bound=Base)

PATIENT_RECORDS: dict[str, type[Base]] = {
    "episode": Episode,
    "encounter": Encounter,
    "questionnaire_response": QuestionnaireResponse,
    "pain_rating": PainRating,
    "strength_test": StrengthTest,
    "function_test": FunctionTest,
    "medication": Medication,
    "procedure": Procedure,
    "therapy_regimen": TherapyRegimen,
    "goal": Goal,
    "assessment": StoredAssessment,
    "red_flag_acknowledgement": RedFlagAcknowledgement,
}
PATIENT_WRITABLE = (QuestionnaireResponse, PainRating)
STAFF = (Role.ADMIN.value, Role.CLINICIAN.value)


class AccessRefused(LookupError):
    """The record does not exist for this actor (absent, another clinic's, or not theirs).

    ``patient_id`` is the patient the refused access was about, when known without
    revealing anything: the one the caller addressed, or the owner of a record of the
    actor's own clinic; never the owner of another clinic's record.
    """

    def __init__(
        self, resource: str, record_id: str | None, action: str, patient_id: str | None = None
    ) -> None:
        self.resource, self.record_id, self.action = resource, record_id, action
        self.patient_id = patient_id
        super().__init__(f"{resource} {record_id or ''} not found".replace("  ", " "))


class StaleVersion(RuntimeError):
    """Another writer changed the record since it was read; reload and try again."""

    def __init__(self, resource: str, record_id: str, expected: int, actual: int) -> None:
        self.resource, self.record_id, self.expected, self.actual = (
            resource,
            record_id,
            expected,
            actual,
        )
        super().__init__(
            f"{resource} {record_id} is at version {actual}, not {expected}: reload and retry"
        )


def _listed_by(model: type[Base]) -> tuple[str, ...]:
    return tuple(getattr(model, "listed_by", ()))


def _resource(model: type[Base]) -> str:
    return str(model.__tablename__)


@contextmanager
def _addressed(patient_id: str) -> Iterator[None]:
    # The caller named this patient: a refusal may say so (it reveals nothing to them).
    try:
        yield
    except AccessRefused as error:
        error.patient_id = error.patient_id or patient_id
        raise


@dataclass
class Page:
    """One page of a listing."""

    items: Sequence[Any]
    total: int
    offset: int
    limit: int


class Records:
    """Patient records as one actor may see them, inside one transaction."""

    def __init__(self, session: Session, actor: Actor) -> None:
        if actor.role not in (r.value for r in Role):
            raise ValueError(f"unknown role {actor.role!r}")
        self.session = session
        self.actor = actor

    # -- authorisation ---------------------------------------------------------------

    def _may_read_patient(self, patient_id: str, clinic_id: str) -> bool:
        if clinic_id != self.actor.clinic_id:
            return False
        if self.actor.role == Role.PATIENT.value:
            return patient_id == self.actor.patient_id
        return self.actor.role in STAFF

    def _may_write(self, model: type[Base], patient_id: str, clinic_id: str) -> bool:
        if not self._may_read_patient(patient_id, clinic_id):
            return False
        return self.actor.role in STAFF or model in PATIENT_WRITABLE

    def _audit(
        self, action: str, resource: str, record_id: str | None, patient_id: str | None
    ) -> None:
        audit.record(
            self.session, self.actor, action, resource, resource_id=record_id, patient_id=patient_id
        )

    # -- patients --------------------------------------------------------------------

    def patient(self, patient_id: str) -> Patient:
        """The patient, if this actor may see them (audited)."""
        patient = self.session.get(Patient, patient_id)
        if patient is None or not self._may_read_patient(patient.id, patient.clinic_id):
            raise AccessRefused("patient", patient_id, "read", patient_id)
        self._audit("read", "patient", patient.id, patient.id)
        return patient

    def patients(self, *, offset: int = 0, limit: int = 50, search: str | None = None) -> Page:
        """The clinic's patients (a patient sees only themselves), one page at a time.

        Audited as one ``list`` entry per patient on the page (an empty page: one entry
        without a patient), so each patient's own history shows every listing they were on.
        """
        query = select(Patient).where(Patient.clinic_id == self.actor.clinic_id)
        if self.actor.role == Role.PATIENT.value:
            query = query.where(Patient.id == self.actor.patient_id)
        if search:
            query = query.where(Patient.name.ilike(f"%{search}%"))
        total = self.session.execute(
            select(func.count()).select_from(query.subquery())
        ).scalar_one()
        items = (
            self.session.execute(
                query.order_by(Patient.name, Patient.id).offset(offset).limit(limit)
            )
            .scalars()
            .all()
        )
        for patient in items:
            self._audit("list", "patient", patient.id, patient.id)
        if not items:
            self._audit("list", "patient", None, None)
        return Page(items, total, offset, limit)

    def patients_by_id(self, patient_ids: Sequence[str]) -> list[Patient]:
        """These patients of the actor's clinic, in the order given (staff only).

        For a list ordered by something other than the name (what needs attention first);
        ids of another clinic are left out. Audited like :meth:`patients`: one ``list``
        entry per patient returned.
        """
        if self.actor.role not in STAFF or not patient_ids:
            return []
        found = {
            p.id: p
            for p in self.session.execute(
                select(Patient).where(
                    Patient.clinic_id == self.actor.clinic_id, Patient.id.in_(list(patient_ids))
                )
            ).scalars()
        }
        items = [found[i] for i in patient_ids if i in found]
        for patient in items:
            self._audit("list", "patient", patient.id, patient.id)
        return items

    def add_patient(self, **fields: Any) -> Patient:
        """Register a patient in the actor's clinic (staff only)."""
        if self.actor.role not in STAFF or self.actor.clinic_id is None:
            raise AccessRefused("patient", None, "create")
        patient = Patient(clinic_id=self.actor.clinic_id, **fields)
        self.session.add(patient)
        self.session.flush()
        self._audit("create", "patient", patient.id, patient.id)
        return patient

    # -- any patient record ----------------------------------------------------------

    def get(self, model: type[Record], record_id: str) -> Record:
        """One record, if this actor may see it (audited)."""
        record = self.session.get(model, record_id)
        patient_id = getattr(record, "patient_id", None)
        clinic_id = getattr(record, "clinic_id", None)
        if record is None or patient_id is None or clinic_id is None:
            raise AccessRefused(_resource(model), record_id, "read")
        if not self._may_read_patient(patient_id, clinic_id):
            raise AccessRefused(
                _resource(model), record_id, "read", self._own_clinic(patient_id, clinic_id)
            )
        self._audit("read", _resource(model), record_id, patient_id)
        return record

    def list(
        self, model: type[Record], patient_id: str, *, offset: int = 0, limit: int = 50
    ) -> Page:
        """One patient's records of one kind in clinical order (audited): by the model's
        ``listed_by`` columns (an unknown date first), then as they were entered."""
        self._require_patient(patient_id, "list", model)
        column = model.__table__.c
        query = select(model).where(
            column.patient_id == patient_id, column.clinic_id == self.actor.clinic_id
        )
        total = self.session.execute(
            select(func.count()).select_from(query.subquery())
        ).scalar_one()
        items = (
            self.session.execute(
                query.order_by(
                    *(column[name].asc().nulls_first() for name in _listed_by(model)),
                    column.created_at,
                    column.id,
                )
                .offset(offset)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        self._audit("list", _resource(model), None, patient_id)
        return Page(items, total, offset, limit)

    def add(self, record: Record) -> Record:
        """Store a new record for a patient of the actor's clinic (audited)."""
        patient_id = record.patient_id  # type: ignore[attr-defined]
        patient = self._require_patient(patient_id, "create", type(record))
        if not self._may_write(type(record), patient.id, patient.clinic_id):
            raise AccessRefused(_resource(type(record)), None, "create", patient_id)
        record.clinic_id = patient.clinic_id  # type: ignore[attr-defined]
        record.created_by = self.actor.user_id  # type: ignore[attr-defined]
        self.session.add(record)
        self.session.flush()
        self._audit("create", _resource(type(record)), record.id, patient_id)  # type: ignore[attr-defined]
        return record

    def update(
        self, model: type[Record], record_id: str, version: int, changes: Mapping[str, Any]
    ) -> Record:
        """Change a record read at ``version``; refuse if someone else changed it since."""
        record = self.session.get(model, record_id)
        patient_id = getattr(record, "patient_id", None) if model is not Patient else record_id
        clinic_id = getattr(record, "clinic_id", None)
        if (
            record is None
            or patient_id is None
            or clinic_id is None
            or not self._may_write(model, patient_id, clinic_id)
        ):
            raise AccessRefused(
                _resource(model), record_id, "update", self._own_clinic(patient_id, clinic_id)
            )
        current = getattr(record, "version", None)
        if current is None:
            raise ValueError(f"{_resource(model)} records cannot be changed once written")
        if current != version:
            raise StaleVersion(_resource(model), record_id, version, current)
        for name, value in changes.items():
            if name in ("id", "clinic_id", "patient_id", "version", "created_at", "created_by"):
                raise ValueError(f"{name} cannot be changed")
            setattr(record, name, value)
        try:
            self.session.flush()
        except StaleDataError:
            raise StaleVersion(_resource(model), record_id, version, version + 1) from None
        self._audit("update", _resource(model), record_id, patient_id)
        return record

    def delete(self, model: type[Record], record_id: str) -> None:
        """Delete a record (staff only; audited)."""
        record = self.session.get(model, record_id)
        patient_id = getattr(record, "patient_id", None) if model is not Patient else record_id
        clinic_id = getattr(record, "clinic_id", None)
        if (
            record is None
            or patient_id is None
            or clinic_id is None
            or self.actor.role not in STAFF
            or not self._may_write(model, patient_id, clinic_id)
        ):
            raise AccessRefused(
                _resource(model), record_id, "delete", self._own_clinic(patient_id, clinic_id)
            )
        self.session.delete(record)
        self.session.flush()
        self._audit("delete", _resource(model), record_id, patient_id)

    def check_patient(self, model: type[Base], patient_id: str, action: str) -> None:
        """Refuse (as not found) unless this actor may ``action`` records of this patient."""
        patient = self._require_patient(patient_id, action, model)
        if action != "read" and not self._may_write(model, patient.id, patient.clinic_id):
            raise AccessRefused(_resource(model), None, action, patient_id)

    # -- one patient's record, addressed through the patient ------------------------

    def _check_belongs(
        self, model: type[Base], patient_id: str, record_id: str, action: str
    ) -> None:
        # A record addressed under the wrong patient is "not found", like any other miss.
        record = self.session.get(model, record_id)
        if record is None or getattr(record, "patient_id", None) != patient_id:
            raise AccessRefused(_resource(model), record_id, action, patient_id)

    def get_of(self, model: type[Record], patient_id: str, record_id: str) -> Record:
        """One record of this patient, if this actor may see it (audited)."""
        self._check_belongs(model, patient_id, record_id, "read")
        with _addressed(patient_id):
            return self.get(model, record_id)

    def update_of(
        self,
        model: type[Record],
        patient_id: str,
        record_id: str,
        version: int,
        changes: Mapping[str, Any],
    ) -> Record:
        """Change one record of this patient read at ``version`` (see :meth:`update`)."""
        self._check_belongs(model, patient_id, record_id, "update")
        with _addressed(patient_id):
            return self.update(model, record_id, version, changes)

    def delete_of(self, model: type[Base], patient_id: str, record_id: str) -> None:
        """Delete one record of this patient (staff only; audited)."""
        self._check_belongs(model, patient_id, record_id, "delete")
        with _addressed(patient_id):
            self.delete(model, record_id)

    def response_by_submission_key(
        self, patient_id: str, submission_key: str
    ) -> QuestionnaireResponse | None:
        """The response already stored under this client key, if any (audited when found)."""
        self._require_patient(patient_id, "read", QuestionnaireResponse)
        found = self.session.execute(
            select(QuestionnaireResponse).where(
                QuestionnaireResponse.patient_id == patient_id,
                QuestionnaireResponse.submission_key == submission_key,
            )
        ).scalar_one_or_none()
        if found is not None:
            self._audit("read", _resource(QuestionnaireResponse), found.id, patient_id)
        return found

    def note(
        self,
        action: str,
        resource: str,
        *,
        record_id: str | None = None,
        patient_id: str | None = None,
    ) -> None:
        """Audit an access that does not go through the methods above (e.g. a portal link)."""
        self._audit(action, resource, record_id, patient_id)

    def _require_patient(self, patient_id: str, action: str, model: type[Base]) -> Patient:
        patient = self.session.get(Patient, patient_id)
        if patient is None or not self._may_read_patient(patient.id, patient.clinic_id):
            raise AccessRefused(_resource(model), None, action, patient_id)
        return patient

    def _own_clinic(self, patient_id: str | None, clinic_id: str | None) -> str | None:
        # Whose record it is may be told in this clinic's log, not another clinic's.
        return patient_id if clinic_id == self.actor.clinic_id else None


def audited_id(value: str | None) -> str | None:
    """An id a caller addressed, as an audit entry keeps it: only if it fits the column."""
    return value if value is not None and len(value) <= 36 else None


def record_refusal(db: Database, actor: Actor, error: AccessRefused) -> None:
    """Audit a refused access in its own transaction (the refused one was rolled back),
    with the patient it was about when that is known (see :class:`AccessRefused`)."""
    with db.transaction() as session:
        audit.record(
            session,
            actor,
            error.action,
            error.resource,
            resource_id=audited_id(error.record_id),
            patient_id=audited_id(error.patient_id),
            outcome="refused",
        )


def named_patients(session: Session, wanted: str, clinic_id: str | None = None) -> list[Patient]:
    """The patients an operator's ``wanted`` names on the command line — by id, record
    number or exact name, in one clinic or (``clinic_id`` None) in any — for ``hipspine
    report`` and ``hipspine export``. An id names one patient, whatever names others have.

    Several matches are audited as a listing (the caller shows them to choose from, see
    :func:`which_patient`), as the web app's patient list is.
    """
    query = select(Patient).where(
        (Patient.id == wanted) | (Patient.identifier == wanted) | (Patient.name == wanted)
    )
    if clinic_id is not None:
        query = query.where(Patient.clinic_id == clinic_id)
    found = list(session.execute(query.order_by(Patient.id)).scalars())
    found = [p for p in found if p.id == wanted] or found
    if len(found) > 1:
        for match in found:
            lister = Actor(None, Role.ADMIN.value, match.clinic_id, client="cli")
            audit.record(session, lister, "list", "patient", resource_id=match.id,
                         patient_id=match.id)  # fmt: skip
    return found


def which_patient(wanted: str, found: Sequence[Patient]) -> str:
    """Why ``found`` (from :func:`named_patients`) is not one patient, in one line."""
    if not found:
        return f"no patient with id, record number or exact name {wanted!r}"
    choices = ", ".join(f"{p.id} (record number {p.identifier or 'none'})" for p in found)
    return f"{len(found)} patients match {wanted!r}: give one's id or record number: {choices}"
