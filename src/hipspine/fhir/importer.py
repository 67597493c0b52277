"""Import FHIR R4 (Bundles and Bulk Data NDJSON) into a clinic's hipspine records.

Guarantees:

* **Authorised and isolated** — only clinic staff import, always into their own clinic; a
  reference to a patient of another clinic is "not found", like any other miss.
* **Audited** — every patient who receives data gets one ``import`` audit entry per unit of
  work (a patient's Bundle, or an NDJSON batch), in the same transaction.
* **Transactional** — a Bundle is imported one patient at a time, each patient in one
  transaction (all of that patient's records or none); NDJSON is imported in batches, each
  batch in one transaction.
* **Idempotent and resumable** — every stored resource leaves a ``fhir_source`` row (clinic,
  source system, type, id) in the transaction that stored it; a resource already recorded
  there, or whose id is already a record of this clinic (a re-imported hipspine export), is
  skipped. Importing twice changes nothing; after a kill, running again completes the rest.
* **Nothing dropped silently** — resources hipspine does not keep are counted by type and
  reason; a bad resource is reported with its file, line (NDJSON) or entry (Bundle) and the
  reason, and the rest carries on.

Validation uses :func:`hipspine.fhir.validate.problem` (structural, agrees with the
``fhir.resources`` models) on every resource that would be stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from hipspine.fhir import (
    bundle,
    careplan,
    condition,
    goal,
    imaging,
    medication,
    ndjson,
    observation,
    patient,
    procedure,
    questionnaire,
)
from hipspine.fhir._common import Invalid, Row, Unused
from hipspine.fhir.validate import problem as structural_problem
from hipspine.store import audit
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import AuditEvent, Base, FhirSource, Role, new_id, now
from hipspine.store.records import PATIENT_RECORDS, AccessRefused

Mapper = Callable[[Mapping[str, Any]], tuple[str, Row]]

_TABLES: dict[str, type[Base]] = {**PATIENT_RECORDS}
_WITH_VERSION = {name for name, model in _TABLES.items() if "version" in model.__table__.c}


def _fixed(table: str, mapper: Callable[[Mapping[str, Any]], Row]) -> Mapper:
    return lambda resource: (table, mapper(resource))


MAPPERS: dict[str, Mapper] = {
    "Condition": _fixed("episode", condition.from_fhir),
    "Observation": observation.from_fhir,
    "QuestionnaireResponse": _fixed("questionnaire_response", questionnaire.from_fhir),
    "Procedure": _fixed("procedure", procedure.from_fhir),
    "MedicationStatement": _fixed("medication", medication.from_fhir),
    "MedicationRequest": _fixed("medication", medication.from_fhir),
    "CarePlan": _fixed("therapy_regimen", careplan.from_fhir),
    "Goal": _fixed("goal", goal.from_fhir),
    "DiagnosticReport": _fixed("encounter", imaging.from_fhir),
}
"""Resource types that can become hipspine records, and how."""


@dataclass
class Problem:
    """A resource that was not imported, where it is, and why."""

    file: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.where}: {self.reason}"


@dataclass
class Report:
    """What an import did: records stored, resources skipped, unused and rejected."""

    read: int = 0
    stored: Counter[str] = field(default_factory=Counter)
    already: int = 0
    unused: Counter[tuple[str, str]] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    patients_created: int = 0
    max_problems: int = 1000

    def problem(self, file: str, where: str, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(file, where, reason))

    @property
    def stored_total(self) -> int:
        return sum(self.stored.values())

    def summary(self) -> str:
        """One line: read, stored, already present, unused, rejected."""
        return (
            f"read {self.read:,} · stored {self.stored_total:,} "
            f"({self.patients_created:,} new patients) · already present {self.already:,} · "
            f"unused {sum(self.unused.values()):,} · rejected {self.problem_count:,}"
        )


@dataclass
class _Item:
    resource: dict[str, Any]
    file: str
    where: str


@dataclass
class _Pending:
    item: _Item
    kind: str
    source_system: str
    source_id: str
    table: str
    row: Row
    patient_ref: str | None


def _key(resource: Mapping[str, Any]) -> tuple[str, str]:
    meta = resource.get("meta")
    system = meta.get("source") if isinstance(meta, dict) else None
    return (str(system or "")[:200], str(resource.get("id") or ""))


class Importer:
    """Imports FHIR files into the clinic of ``actor`` (a clinician or clinic administrator).

    With ``session`` (a web request's transaction) each unit of work is a savepoint of it,
    still all or nothing per patient, committed with the request.
    """

    def __init__(
        self,
        db: Database,
        actor: Actor,
        *,
        batch_size: int = 2000,
        progress: Callable[[Report], None] | None = None,
        validate: bool = True,
        session: Session | None = None,
    ) -> None:
        if actor.role not in (Role.ADMIN.value, Role.CLINICIAN.value) or not actor.clinic_id:
            raise AccessRefused("patient", None, "import")
        self.db, self.actor, self.batch_size = db, actor, batch_size
        self.clinic_id: str = actor.clinic_id
        self.progress = progress
        self.validate = validate
        self.session = session
        self.report = Report()

    # -- entry points ------------------------------------------------------------------

    def import_files(self, paths: Iterable[Path]) -> Report:
        """Import Bundles (``.json``) and NDJSON files (``.ndjson``); Patients' files first."""
        ordered = sorted(paths, key=self._order)
        for path in ordered:
            if path.suffix in (".ndjson", ".jsonl") or path.name.endswith(".ndjson.gz"):
                self._ndjson(path)
            else:
                self._bundle(path)
        return self.report

    def import_bundle(self, data: Mapping[str, Any], name: str = "<bundle>") -> Report:
        """Import one parsed Bundle (e.g. received over the API)."""
        self._bundle_data(data, name)
        return self.report

    @staticmethod
    def _order(path: Path) -> tuple[int, str]:
        if path.suffix == ".ndjson":
            return (0 if ndjson.first_type(path) == "Patient" else 1, str(path))
        return (0, str(path))

    # -- readers -------------------------------------------------------------------------

    def _ndjson(self, path: Path) -> None:
        batch: list[_Item] = []
        for line in ndjson.read(path):
            self.report.read += 1
            if line.resource is None:
                self.report.problem(str(path), f"line {line.number}", line.error or "unreadable")
                continue
            kind = line.resource.get("resourceType")
            if isinstance(kind, str) and kind != "Patient" and kind not in MAPPERS:
                # Counted at once and not held: memory stays bounded by the kept resources.
                self.report.unused[(kind, "resource type not kept by hipspine")] += 1
                continue
            batch.append(_Item(line.resource, str(path), f"line {line.number}"))
            if len(batch) >= self.batch_size:
                self._unit(batch)
                batch = []
        if batch:
            self._unit(batch)

    def _bundle(self, path: Path) -> None:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            self.report.problem(str(path), "file", f"not readable JSON: {error}")
            return
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            if isinstance(data, dict) and data.get("resourceType"):
                self.report.read += 1
                self._unit([_Item(data, str(path), "resource")])
                return
            self.report.problem(str(path), "file", "not a FHIR Bundle or resource")
            return
        self._bundle_data(data, str(path))

    def _bundle_data(self, data: Mapping[str, Any], name: str) -> None:
        groups: dict[str, list[_Item]] = {}
        loose: list[_Item] = []
        for index, resource, trouble in bundle.entries(data):
            self.report.read += 1
            if resource is None:
                self.report.problem(name, f"entry {index}", trouble or "unreadable")
                continue
            item = _Item(resource, name, f"entry {index}")
            if resource.get("resourceType") == "Patient":
                groups.setdefault(f"Patient/{resource.get('id')}", []).insert(0, item)
                continue
            ref = _patient_ref(resource)
            if ref is None:
                loose.append(item)
            else:
                groups.setdefault(ref, []).append(item)
        if loose:
            self._unit(loose)
        for items in groups.values():
            self._unit(items)

    # -- one unit of work ----------------------------------------------------------------

    def _unit(self, items: list[_Item]) -> None:
        patients: list[_Pending] = []
        records: list[_Pending] = []
        for item in items:
            pending = self._prepare(item)
            if pending is not None:
                (patients if pending.kind == "Patient" else records).append(pending)
        if patients or records:
            try:
                self._store(patients, records)
            except (IntegrityError, DBAPIError) as error:
                if len(items) == 1:
                    self.report.problem(
                        items[0].file, items[0].where, f"not stored: {_reason(error)}"
                    )
                elif all(i.file == items[0].file and "entry" in i.where for i in items):
                    # A Bundle patient is all or nothing: report the patient, store none.
                    self.report.problem(
                        items[0].file,
                        items[0].where,
                        f"patient not imported ({len(items)} resources): {_reason(error)}",
                    )
                else:
                    for item in items:  # isolate the bad resource of an NDJSON batch
                        self._unit([item])
                    return
        if self.progress is not None:
            self.progress(self.report)

    def _prepare(self, item: _Item) -> _Pending | None:
        resource = item.resource
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            self.report.problem(item.file, item.where, "resourceType missing")
            return None
        if kind != "Patient" and kind not in MAPPERS:
            self.report.unused[(kind, "resource type not kept by hipspine")] += 1
            return None
        try:
            if kind == "Patient":
                table, row = "patient", patient.from_fhir(resource)
            else:
                table, row = MAPPERS[kind](resource)
        except Unused as reason:
            self.report.unused[(kind, str(reason))] += 1
            return None
        except (Invalid, KeyError, TypeError, ValueError, AttributeError) as error:
            self.report.problem(item.file, item.where, f"{kind}: {_text(error)}")
            return None
        if self.validate:
            trouble = structural_problem(resource)
            if trouble:
                self.report.problem(item.file, item.where, trouble)
                return None
        system, source_id = _key(resource)
        if not source_id:
            self.report.problem(item.file, item.where, f"{kind}.id: an id is required to import")
            return None
        ref = None if kind == "Patient" else _patient_ref(resource)
        if kind != "Patient" and ref is None:
            self.report.problem(item.file, item.where, f"{kind}.subject: no patient reference")
            return None
        return _Pending(item, kind, system, source_id, table, row, ref)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One unit of work: its own transaction, or a savepoint of the caller's session."""
        if self.session is None:
            with self.db.transaction() as session:
                yield session
        else:
            # Inside a web request the request's transaction already holds the write lock;
            # a second transaction would wait on it forever, so each unit is a savepoint.
            with self.session.begin_nested():
                yield self.session

    def _store(self, patients: list[_Pending], records: list[_Pending]) -> None:
        report = Report()  # counts of this unit, merged only after commit
        with self._transaction() as session:
            seen = self._already_imported(session, patients + records)
            stamp = now()
            patient_ids: dict[str, str] = {}
            links: list[dict[str, Any]] = []
            new_patients: list[dict[str, Any]] = []
            for pending in patients:
                key = (pending.kind, pending.source_system, pending.source_id)
                if key in seen:
                    patient_ids[pending.source_id] = seen[key]
                    report.already += 1
                    continue
                record_id = pending.source_id
                new_patients.append({**pending.row, "id": record_id, "clinic_id": self.clinic_id})
                seen[key] = record_id
                patient_ids[pending.source_id] = record_id
                links.append(self._link(pending, record_id, record_id, stamp))
            free = self._free_ids(session, "patient", [p["id"] for p in new_patients])
            for row in new_patients:
                if row["id"] not in free:
                    old = row["id"]
                    row["id"] = new_id()
                    for link in links:
                        if link["record_id"] == old:
                            link["record_id"] = link["patient_id"] = row["id"]
                    patient_ids = {
                        k: (row["id"] if v == old else v) for k, v in patient_ids.items()
                    }
            for row in new_patients:
                row.update(created_at=stamp, updated_at=stamp, version=1)
            if new_patients:
                _insert(session, _model("patient"), new_patients)
            report.patients_created += len(new_patients)
            report.stored["patient"] += len(new_patients)

            unresolved = {
                p.patient_ref.split("/", 1)[1]
                for p in records
                if p.patient_ref and p.patient_ref.split("/", 1)[1] not in patient_ids
            }
            patient_ids.update(self._known_patients(session, unresolved))
            by_table: dict[str, list[dict[str, Any]]] = {}
            touched: dict[str, bool] = {pid: True for pid in patient_ids.values()}
            for pending in records:
                key = (pending.kind, pending.source_system, pending.source_id)
                if key in seen:
                    report.already += 1
                    continue
                patient_ref = str(pending.patient_ref).split("/", 1)[1]
                owner = patient_ids.get(patient_ref)
                if owner is None:
                    report.problem(
                        pending.item.file,
                        pending.item.where,
                        f"{pending.kind}.subject: patient {patient_ref} not found in this clinic"
                        " (import its Patient first)",
                    )
                    continue
                seen[key] = pending.source_id
                row = {
                    **pending.row,
                    "id": pending.source_id[:36],
                    "clinic_id": self.clinic_id,
                    "patient_id": owner,
                    "created_at": stamp,
                    "created_by": self.actor.user_id,
                }
                if pending.table in _WITH_VERSION:
                    row["version"] = 1
                by_table.setdefault(pending.table, []).append(row)
                links.append(self._link(pending, owner, row["id"], stamp))
                touched.setdefault(owner, False)
            for table, rows in by_table.items():
                free = self._free_ids(session, table, [r["id"] for r in rows])
                for row in rows:
                    if row["id"] not in free:
                        renamed = new_id()
                        for link in links:
                            if link["record_id"] == row["id"] and link["record_table"] == table:
                                link["record_id"] = renamed
                        row["id"] = renamed
                _insert(session, _model(table), rows)
                report.stored[table] += len(rows)
            if links:
                _insert(session, FhirSource, links)
            received = {link["patient_id"] for link in links}
            append_audit(session, self.actor, "import", [pid for pid in touched if pid in received])
        self._merge(report)

    # -- helpers -----------------------------------------------------------------------

    def _link(
        self, pending: _Pending, patient_id: str, record_id: str, stamp: Any
    ) -> dict[str, Any]:
        return {
            "id": new_id(),
            "clinic_id": self.clinic_id,
            "patient_id": patient_id,
            "resource_type": pending.kind,
            "source_system": pending.source_system,
            "source_id": pending.source_id[:128],
            "record_table": pending.table,
            "record_id": record_id,
            "imported_at": stamp,
        }

    def _already_imported(
        self, session: Session, pending: list[_Pending]
    ) -> dict[tuple[str, str, str], str]:
        """Keys of resources this clinic already holds (imported, or its own records)."""
        found: dict[tuple[str, str, str], str] = {}
        if not pending:
            return found
        wanted = {(p.kind, p.source_system, p.source_id) for p in pending}
        ids = sorted({p.source_id for p in pending})
        for chunk in _chunks(ids, 500):
            rows = session.execute(
                select(
                    FhirSource.resource_type,
                    FhirSource.source_system,
                    FhirSource.source_id,
                    FhirSource.record_id,
                    FhirSource.patient_id,
                ).where(FhirSource.clinic_id == self.clinic_id, FhirSource.source_id.in_(chunk))
            )
            for kind, system, source_id, record_id, patient_id in rows:
                if (kind, system, source_id) in wanted:
                    found[(kind, system, source_id)] = (
                        patient_id if kind == "Patient" else record_id or ""
                    )
        # A hipspine export re-imported into its own clinic: the ids are this clinic's records.
        by_table: dict[str, list[_Pending]] = {}
        for p in pending:
            if (p.kind, p.source_system, p.source_id) not in found:
                by_table.setdefault(p.table, []).append(p)
        for table, items in by_table.items():
            model = _model(table)
            for chunk in _chunks([p.source_id for p in items], 500):
                owned = set(
                    session.execute(
                        select(model.id).where(  # type: ignore[attr-defined]
                            model.id.in_(chunk),  # type: ignore[attr-defined]
                            model.clinic_id == self.clinic_id,  # type: ignore[attr-defined]
                        )
                    ).scalars()
                )
                for p in items:
                    if p.source_id in owned:
                        found[(p.kind, p.source_system, p.source_id)] = p.source_id
        return found

    def _free_ids(self, session: Session, table: str, ids: list[str]) -> set[str]:
        """The ids not yet taken in ``table`` (in any clinic: ids are global)."""
        model = _model(table)
        taken: set[str] = set()
        for chunk in _chunks(ids, 500):
            taken.update(
                session.execute(
                    select(model.id).where(model.id.in_(chunk))  # type: ignore[attr-defined]
                ).scalars()
            )
        return {i for i in ids if i not in taken and len(i) <= 36}

    def _known_patients(self, session: Session, refs: set[str]) -> dict[str, str]:
        """Source patient id -> hipspine patient id, for patients imported or native here."""
        found: dict[str, str] = {}
        model = _model("patient")
        for chunk in _chunks(sorted(refs), 500):
            for source_id, patient_id in session.execute(
                select(FhirSource.source_id, FhirSource.patient_id).where(
                    FhirSource.clinic_id == self.clinic_id,
                    FhirSource.resource_type == "Patient",
                    FhirSource.source_id.in_(chunk),
                )
            ):
                found[source_id] = patient_id
            rest = [r for r in chunk if r not in found]
            if rest:
                for (pid,) in session.execute(
                    select(model.id).where(  # type: ignore[attr-defined]
                        model.id.in_(rest),  # type: ignore[attr-defined]
                        model.clinic_id == self.clinic_id,  # type: ignore[attr-defined]
                    )
                ):
                    found[pid] = pid
        return found

    def _merge(self, unit: Report) -> None:
        self.report.stored.update(unit.stored)
        self.report.already += unit.already
        self.report.patients_created += unit.patients_created
        for p in unit.problems:
            self.report.problem(p.file, p.where, p.reason)


def append_audit(session: Session, actor: Actor, action: str, patient_ids: list[str]) -> None:
    """Append one ``action`` entry per patient to the audit chain, in the caller's transaction.

    The same chain and hash as :func:`hipspine.store.audit.record`, written as one batch: the
    caller's transaction already holds the write lock (BEGIN IMMEDIATE on SQLite, the
    advisory lock on PostgreSQL), so no other writer can append in between.
    """
    if not patient_ids:
        return
    last = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).scalar()
    previous = last or audit.GENESIS
    rows = []
    for pid in patient_ids:
        row = {
            "at": now(),
            "actor_id": actor.user_id,
            "actor_role": actor.role,
            "clinic_id": actor.clinic_id,
            "action": action,
            "resource": "patient",
            "resource_id": pid,
            "patient_id": pid,
            "outcome": "ok",
            "client": actor.client,
            "request_id": actor.request_id,
            "prev_hash": previous,
        }
        # The same hash as an AuditEvent would get, without an ORM object per entry.
        row["hash"] = previous = audit.entry_hash(previous, SimpleNamespace(**row))  # type: ignore[arg-type]
        rows.append(row)
    _insert(session, AuditEvent, rows)


def _insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` with Core executemany, one statement per set of columns.

    The ORM bulk path costs several times more per row than the database itself; every row
    here is already a complete column mapping, so nothing of the ORM is needed.
    """
    if not rows:
        return
    table = model.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for group in groups.values():
        session.execute(table.insert(), group)  # type: ignore[attr-defined]


def _model(table: str) -> type[Base]:
    if table == "patient":
        from hipspine.store.models import Patient

        return Patient
    return _TABLES[table]


def _patient_ref(resource: Mapping[str, Any]) -> str | None:
    ref = resource.get("subject") or resource.get("patient")
    value = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(value, str) and value.startswith("Patient/"):
        return value.split("/_history", 1)[0]
    if isinstance(value, str) and "/Patient/" in value:
        return "Patient/" + value.rsplit("/Patient/", 1)[1].split("/", 1)[0]
    return None


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _text(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing element {error.args[0]!r}"
    return str(error)


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    return str(original or error).splitlines()[0][:300]


__all__ = ["MAPPERS", "Importer", "Problem", "Report"]
