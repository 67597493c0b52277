"""Import FHIR R4 (Bundles and Bulk Data NDJSON) into a clinic's hipspine records.

Guarantees:

* **Authorised and isolated** — only clinic staff import, always into their own clinic; a
  reference to a patient of another clinic is "not found", like any other miss.
* **Audited** — every patient who receives data gets one ``import`` audit entry per unit of
  work (a patient's Bundle, or an NDJSON batch of whole patients), in the same transaction.
* **Transactional per patient** — all of a patient's resources are stored in one
  transaction or none are: a Bundle one patient at a time, Bulk Data NDJSON (one file per
  resource type) regrouped by patient through a scratch table on disk, in batches of whole
  patients. A batch that fails is retried a patient at a time, so only the bad patient is
  left out (and reported).
* **A transaction Bundle all or nothing** — as FHIR R4 requires of a transaction
  (https://hl7.org/fhir/R4/http.html#transaction): if any of its entries is rejected,
  none is stored, and the rejected entries are reported with one problem naming the Bundle.
  Entries of what hipspine does not keep are counted as unused and do not stop it. A
  collection Bundle is stored a patient at a time.
* **Idempotent and resumable** — every stored resource leaves a ``fhir_source`` row (source
  id, type, clinic, source system) in the transaction that stored it; a resource already recorded
  there, or whose id is already a record of this clinic (a re-imported hipspine export), is
  skipped. Importing twice changes nothing; after a kill, running again completes the rest.
* **Nothing dropped silently** — resources hipspine does not keep are counted by type and
  reason; a bad resource is reported with its file, line (NDJSON) or entry (Bundle) and the
  reason, and the rest carries on.

Validation uses :func:`hipspine.fhir.validate.problem` (structural, agrees with the
``fhir.resources`` models) on every resource that would be stored.

Speed: a large NDJSON import reads, validates and maps its lines on every core (forked
worker processes), each resource arriving as a row already in the database driver's form.
Once every line is read, the workers plan and store the batches of whole patients
themselves (ids, patients and links resolved, :func:`_store_batch`), each batch in its own
transaction with its audit entries; the planning is done before the transaction, so while
one worker writes, the others plan. On SQLite a worker packs its batch in an in-memory
database, copied with one ``INSERT … SELECT`` per table, in the table's key order and with a
larger page cache (:func:`hipspine.store.bulk.insert_packed`); on PostgreSQL it uses
``COPY``. What a worker cannot store without looking it up (a repeated import, patients or
records imported before) is stored by the importer.
"""

from __future__ import annotations

import codecs
import gc
import multiprocessing
import os
import pickle
import re
import sqlite3
from bisect import bisect_right
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from itertools import accumulate
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    ARRAY,
    Dialect,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from hipspine.fhir import (
    bundle,
    careplan,
    condition,
    encounter,
    goal,
    imaging,
    medication,
    ndjson,
    observation,
    patient,
    procedure,
    questionnaire,
    validate,
)
from hipspine.fhir._common import Invalid, Marks, Row, Unused
from hipspine.fhir.validate import problem as structural_problem
from hipspine.store import audit, bulk
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    AuditEvent,
    Base,
    FhirSource,
    Role,
    is_record_id,
    new_id,
    now,
)
from hipspine.store.records import AccessRefused, audited_id

Mapper = Callable[[Mapping[str, Any]], tuple[str, Row]]


def _fixed(table: str, mapper: Callable[[Mapping[str, Any]], Row]) -> Mapper:
    return lambda resource: (table, mapper(resource))


MAPPERS: dict[str, Mapper] = {
    "Condition": _fixed("episode", condition.from_fhir),
    "Encounter": _fixed("encounter", encounter.from_fhir),
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

KEPT = frozenset({"Patient", *MAPPERS})
"""Every resource type hipspine keeps; the rest are counted by type and passed over."""
UNUSED_TYPE = "resource type not kept by hipspine"
ALREADY, UNUSED = "already-present", "unused"
"""What became of a Bundle entry that was not stored (:attr:`Report.entries`)."""
WHOLE = 1 << 62
"""The :attr:`Report.max_problems` of a block's or a batch's report: all of its problems
are kept (as many as its resources at most, for as long as it lives), so the import's
report can tell its listener of every one."""

LINKS: dict[str, dict[str, str]] = {
    "encounter": {"episode_id": "episode"},
    "pain_rating": {"encounter_id": "encounter"},
    "strength_test": {"encounter_id": "encounter"},
    "function_test": {"encounter_id": "encounter"},
    "questionnaire_response": {"encounter_id": "encounter"},
    "procedure": {"episode_id": "episode"},
    "therapy_regimen": {"episode_id": "episode"},
}
"""Columns that link a record to another imported record (table → column → linked table).

A mapping puts the linked resource's id in the source there (``fhir._common.linked_id``);
the importer turns it into the id that resource became in this clinic — stored in the same
unit of work, or imported before — provided it is a record of the same patient. A link to
anything else (never imported, another patient's) is left out: the record is kept, unlinked.
"""


def _depth(table: str) -> int:
    """How many links away from a table that links to nothing: the order in which a unit's
    tables are written, so that a record's linked record is stored before it."""
    return 1 + max((_depth(linked) for linked in LINKS.get(table, {}).values()), default=-1)


_LINK_DEPTH: dict[str, int] = defaultdict(int, {table: _depth(table) for table in LINKS})

MARKS: dict[str, Callable[[], Marks]] = {
    "Condition": condition.marks,
    "Encounter": encounter.marks,
    "Observation": observation.marks,
    "QuestionnaireResponse": questionnaire.marks,
    "Procedure": procedure.marks,
    "MedicationStatement": medication.marks,
    "MedicationRequest": medication.marks,
    "CarePlan": careplan.marks,
    "Goal": goal.marks,
    "DiagnosticReport": imaging.marks,
}
"""What a resource of each kept type must contain to be kept (every type but Patient)."""
assert MARKS.keys() == MAPPERS.keys(), "every mapped type names its marks"
UNMARKED = "nothing hipspine keeps in it (passed over unparsed)"


_CODE_LIKE = re.compile(r"[A-Za-z0-9.\-]+")


class _Screen:
    """Judges a raw NDJSON line by its leading resource type and :data:`MARKS`, without
    parsing it: a line passed over is one the mappings would certainly not keep.

    A mark that is a code (letters, digits, dots and hyphens: ``72514-3``, ``M16.0``,
    ``161``) counts as the whole value of a ``"code"`` element, as the mappings read codes
    (a Coding's code); other marks (code systems, references) count anywhere in the line.
    So a short RxNorm code inside an id or a date does not send a line to be parsed, and
    many codes are looked for in one pass.
    """

    def __init__(self) -> None:
        self.marks: dict[str, tuple[tuple[bytes, ...], tuple[re.Pattern[bytes], ...]]] = {}
        for kind, marks in MARKS.items():
            found = marks()
            codes = [t for t in found.texts if _CODE_LIKE.fullmatch(t)]
            patterns = []
            if codes:
                listed = b"|".join(re.escape(code.encode()) for code in codes)
                patterns.append(re.compile(rb'"code"\s*:\s*"(?:' + listed + rb')"'))
            if found.words is not None:
                # The same words over the line's bytes (ASCII, as _unsure leaves it).
                words = found.words
                patterns.append(re.compile(words.pattern.encode(), words.flags & ~re.UNICODE))
            self.marks[kind] = (
                tuple(t.encode() for t in found.texts if t not in codes),
                tuple(patterns),
            )

    def unused(self, raw: bytes) -> tuple[str, str] | None:
        """(type, reason) if ``raw`` certainly holds nothing hipspine keeps, else None."""
        kind = ndjson.leading_type(raw)
        if kind is None or kind == "Patient":
            return None
        if kind not in KEPT:
            return (kind, UNUSED_TYPE)
        texts, patterns = self.marks[kind]
        if any(text in raw for text in texts) or any(p.search(raw) for p in patterns):
            return None
        return None if _unsure(raw) else (kind, UNMARKED)

    def sift(self, data: bytes, first_line: int) -> tuple[list[tuple[int, bytes]], Report]:
        """The lines of a block of whole lines that must be parsed, with their numbers, and
        a report counting those passed over.

        Bulk Data writes one resource type per file, so a block's lines usually all start
        alike: the block is then judged at once — each mark searched over the whole block,
        only the lines it occurs in kept — instead of line by line, which for the few
        resources of an EHR's export that hipspine keeps is most of the cost of reading.
        Otherwise each line is judged by :meth:`unused`.
        """
        count = data.count(b"\n") + 1
        passed = Report(max_problems=WHOLE)
        lead = ndjson.LEADING_TYPE.match(data)
        # Usually every line but the last ends as an object does and the next starts alike:
        # one pass over the block tells both.
        whole = lead is not None and data.count(b"}\n" + lead[0]) == count - 1
        if (
            lead is None
            or lead[1] == b"Patient"
            or (not whole and data.count(b"\n" + lead[0]) != count - 1)
        ):
            kept = []
            for number, raw in enumerate(data.split(b"\n"), start=first_line):
                unused = self.unused(raw)
                if unused is None:
                    kept.append((number, raw))
                else:
                    passed.read += 1
                    passed.unused[unused] += 1
            return kept, passed
        kind = lead[1].decode()
        passed.read = count
        if kind not in KEPT:
            passed.unused[(kind, UNUSED_TYPE)] = count
            return [], passed
        # Where the marks are (the first in each line is enough); the block is cut into
        # lines only if there is any.
        texts, patterns = self.marks[kind]
        found: list[int] = []
        for text in texts:
            at = data.find(text)
            while at >= 0:
                found.append(at)
                end = data.find(b"\n", at)
                at = -1 if end < 0 else data.find(text, end + 1)
        for pattern in patterns:
            found += [match.start() for match in pattern.finditer(data)]
        # Any line with an escape or non-ASCII text, or not ending as an object does (a line
        # cut off), is parsed: the last read as JSON, so a cut-off line is rejected, never
        # counted as passed over.
        unsure = not whole or _unsure(data)
        if not found and not unsure:
            passed.unused[(kind, UNMARKED)] = count
            return [], passed
        lines = data.split(b"\n")
        starts = list(accumulate((len(raw) + 1 for raw in lines[:-1]), initial=0))
        hits = {bisect_right(starts, at) - 1 for at in found}
        if unsure:
            hits.update(i for i, raw in enumerate(lines) if _unsure(raw))
        passed.read -= len(hits)
        if count > len(hits):
            passed.unused[(kind, UNMARKED)] = count - len(hits)
        return [(first_line + i, lines[i]) for i in sorted(hits)], passed


def _unsure(raw: bytes) -> bool:
    r"""Whether a line must be parsed to be judged: a JSON escape (``\u0037`` for "7",
    ``\/`` for "/") or non-ASCII text could spell a mark in other bytes, and a line that
    does not end as a JSON object does (``}``) may be cut off: parsed, it is rejected as
    not JSON instead of passed over."""
    return b"\\" in raw or not raw.isascii() or not raw.rstrip().endswith(b"}")


@dataclass
class Problem:
    """A resource that was not imported, where it is, and why."""

    file: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.where}: {self.reason}"

    @property
    def place(self) -> tuple[str, int, str]:
        """Where it is, to list problems in the order of their files: by file, then by line
        or entry number ("line 9" before "line 10"), then the rest ("file")."""
        kind, _, number = self.where.partition(" ")
        return (self.file, int(number) if number.isdigit() else -1, kind)


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
    held_back: int = 0
    """Resources of refused transactions that were not themselves rejected or unused: not
    stored because a FHIR transaction is all or nothing."""
    refusals: int = 0
    """Refused transactions: each named by a problem that is not a rejected resource."""
    max_problems: int = 1000
    rejected_patients: set[str] = field(default_factory=set)
    """Source ids of Patients rejected (the first :attr:`max_problems`), so their other
    resources say why they have no patient."""
    entries: dict[str, tuple[str, str]] | None = None
    """What became of each Bundle entry that was read but not stored (``where`` →
    (:data:`ALREADY`, "") or (:data:`UNUSED`, type and reason)), for a transaction's
    response; None (not kept) unless asked for, so a bulk import's memory stays flat."""
    listener: Callable[[Problem], None] | None = field(default=None, repr=False)
    """Told of every problem, those past :attr:`max_problems` too (``hipspine import
    --report``): the reports of a block or a batch merged in keep all of theirs."""

    def problem(self, file: str, where: str, reason: str) -> None:
        self.problem_count += 1
        self._note(Problem(file, where, reason), listed=len(self.problems) < self.max_problems)

    def _note(self, found: Problem, *, listed: bool) -> None:
        """Tell the listener of a problem, and list it if ``listed``."""
        if self.listener is not None:
            self.listener(found)
        if listed:
            self.problems.append(found)

    def transaction_refused(self, file: str, rejected: int, held_back: int) -> None:
        """Name a transaction Bundle refused whole (:meth:`in_order` lists it before its
        entries). The Bundle is not counted as a rejected resource (its rejected entries
        are); its other entries are counted as held back."""
        self.held_back += held_back
        self.refusals += 1
        reason = (
            f"transaction not imported, nothing of it stored: {rejected} rejected (listed), "
            f"{held_back} held back; a FHIR transaction is all or nothing"
        )
        # Listed past max_problems too: it says why nothing is stored.
        self._note(Problem(file, "Bundle", reason), listed=True)

    def patient_rejected(self, resource: Mapping[str, Any]) -> None:
        """Remember a rejected resource's id if it is a Patient's."""
        source_id = resource.get("id")
        if (
            resource.get("resourceType") == "Patient"
            and isinstance(source_id, str)
            and len(self.rejected_patients) < self.max_problems
        ):
            self.rejected_patients.add(source_id)

    def add(self, other: Report) -> None:
        """Count ``other`` (a unit of work's or a worker's report) in this one."""
        if self.listener is not None:
            for found in other.problems:
                self.listener(found)
        self.read += other.read
        self.stored.update(other.stored)
        self.already += other.already
        self.unused.update(other.unused)
        self.patients_created += other.patients_created
        self.held_back += other.held_back
        self.refusals += other.refusals
        room = max(self.max_problems - len(self.rejected_patients), 0)
        self.rejected_patients.update(list(other.rejected_patients)[:room])
        room = max(self.max_problems - len(self.problems), 0)
        self.problems.extend(other.problems[:room])
        self.problem_count += other.problem_count
        if self.entries is not None and other.entries:
            self.entries.update(other.entries)

    def entry(self, where: str, what: str, detail: str = "") -> None:
        """Note what became of an entry not stored, if this report keeps that."""
        if self.entries is not None:
            self.entries[where] = (what, detail)

    def in_order(self) -> list[Problem]:
        """The problems listed in the order of their files, not in the order found (a
        patient's resources are stored together, from every file)."""
        return sorted(self.problems, key=lambda problem: problem.place)

    @property
    def unlisted(self) -> int:
        """Rejected resources past :attr:`max_problems`, counted but not in :attr:`problems`."""
        return self.problem_count - (len(self.problems) - self.refusals)

    @property
    def stored_total(self) -> int:
        return sum(self.stored.values())

    def summary(self) -> str:
        """One line: read, stored, already present, unused, rejected."""
        return (
            f"read {self.read:,} · stored {self.stored_total:,} "
            f"({self.patients_created:,} new patient{'' if self.patients_created == 1 else 's'}) · "
            f"already present {self.already:,} · "
            f"unused {sum(self.unused.values()):,} · rejected {self.problem_count:,}"
            + (f" · held back {self.held_back:,} (transaction refused)" if self.held_back else "")
        )


class _Refused(Exception):
    """A transaction Bundle with a rejected entry: rolled back whole."""


@dataclass
class _Item:
    resource: dict[str, Any]
    file: str
    where: str


class _Pending(NamedTuple):
    """A resource read, validated and mapped, waiting to be stored with its patient."""

    file: str
    where: str
    kind: str
    source_system: str
    source_id: str
    table: str
    values: tuple[Any, ...]
    """The record's row in the driver's form, but for the columns known only when it is
    stored (see :func:`_layout`)."""
    patient: str | None
    """The id of the patient it is about, as the source names it (None for a Patient)."""


def _key(resource: Mapping[str, Any]) -> tuple[str, str]:
    meta = resource.get("meta")
    system = meta.get("source") if isinstance(meta, dict) else None
    return (str(system or "")[:200], str(resource.get("id") or ""))


@cache
def _layout(dialect: Dialect, table: str) -> bulk.Layout:
    """How the importer's rows of ``table`` are put together.

    The mapped resource is converted while it is read; the record's id and patient (known
    only once the patient is resolved) are added when it is stored, with the clinic and
    time stamp of the unit of work.
    """
    if table == "patient":
        return bulk.Layout(
            dialect, _table(table), ("id",), ("clinic_id", "created_at", "updated_at")
        )
    if table == "fhir_source":
        per_row = ("patient_id", "resource_type", "source_system", "source_id")
        return bulk.Layout(
            dialect,
            _table(table),
            (*per_row, "record_table", "record_id"),
            ("clinic_id", "imported_at"),
        )
    return bulk.Layout(
        dialect, _table(table), ("id", "patient_id"), ("clinic_id", "created_at", "created_by")
    )


def _relinked(
    values: tuple[Any, ...],
    links: tuple[tuple[int, str], ...],
    records: Mapping[tuple[str, str], tuple[str, str]],
    owner: str,
) -> tuple[Any, ...]:
    """``values`` with each link turned from the source's id into the id of the record it
    became among ``records`` ((table, source id) → (record id, patient)) — left out where
    that record is not among them, or is another patient's. Unchanged values come back as
    they are, not copied."""
    changed: list[Any] | None = None
    for index, linked in links:
        source = values[index]
        if source is None:
            continue
        found = records.get((linked, source))
        target = found[0] if found is not None and found[1] == owner else None
        if target != source:
            if changed is None:
                changed = list(values)
            changed[index] = target
    return values if changed is None else tuple(changed)


@cache
def _links(dialect: Dialect, table: str) -> tuple[tuple[int, str], ...]:
    """Where the links of a ``table`` row are among its prepared values, and to which table."""
    prepared = _layout(dialect, table).prepared
    return tuple(
        (prepared.index(column), linked) for column, linked in LINKS.get(table, {}).items()
    )


@dataclass
class _Held:
    """What the database already holds that a unit of work names: nothing looked up for a
    first import (a resource the clinic holds then breaks a unique key, and the unit is
    stored again with its lookups: :meth:`Importer._commit`)."""

    seen: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(type, source system, source id) of a resource held → the record (or patient) it
    became."""
    taken: dict[str, dict[str, str]] = field(default_factory=lambda: {"patient": {}})
    """Table → ids already taken in it (by any clinic: ids are global)."""
    patients: dict[str, str] = field(default_factory=dict)
    """Source id of a patient not in the unit → the clinic's patient it became."""
    rejected: set[str] = field(default_factory=set)
    """Source ids of Patients rejected in this import (:attr:`Report.rejected_patients`)."""


class _Unit(NamedTuple):
    """Who stores a unit of work, where and when: the same for all of its rows."""

    dialect: Dialect
    clinic_id: str
    stamp: datetime
    user_id: str | None


@dataclass
class _Plan:
    """A unit of work's rows, ready for the database driver, and what it did."""

    patients: list[tuple[Any, ...]]
    rows: dict[str, list[tuple[Any, ...]]]
    """Table → its rows, each link turned into the linked record's id."""
    sources: list[tuple[Any, ...]]
    """The ``fhir_source`` rows: one per stored resource."""
    received: list[str]
    """Patients who received data (audited ``import``)."""
    refused: list[str]
    """Patients the source addressed that are not of this clinic (audited as refused)."""
    report: Report
    unknown_links: dict[str, set[str]]
    """Linked table → source ids linked to but not in the unit: left out unless
    :meth:`Importer._linked_records` finds them among records imported before."""
    image: bytes | None = None
    """On SQLite, the rows packed (:func:`hipspine.store.bulk.pack`) by the worker that
    planned them, to be copied by the database itself (:meth:`packed`)."""

    def tables(self, dialect: Dialect) -> list[tuple[bulk.Layout, list[tuple[Any, ...]]]]:
        """Its rows by table, in the order they are written: patients, records linked to
        before the records linking to them, and the ledger last."""
        return [
            (_layout(dialect, "patient"), self.patients),
            *(
                (_layout(dialect, table), self.rows[table])
                for table in sorted(self.rows, key=lambda name: _LINK_DEPTH[name])
            ),
            (_layout(dialect, "fhir_source"), self.sources),
        ]

    def packed(self, dialect: Dialect) -> _Plan:
        """The plan with its rows in one SQLite image instead of lists: one buffer to send to
        the importer, which then binds no value (see :mod:`hipspine.store.bulk`)."""
        image = bulk.pack(
            (layout.table, layout.names, rows) for layout, rows in self.tables(dialect)
        )
        return replace(self, patients=[], rows={}, sources=[], image=image)


@dataclass
class _Placed:
    """A unit of work with every resource given its record id and patient, its links not
    yet resolved (:meth:`finish`)."""

    unit: _Unit
    patients: list[tuple[Any, ...]]
    records: list[tuple[str, str, str, tuple[Any, ...]]]
    """(table, record id, patient, values with links as the source names them)."""
    placed: dict[tuple[str, str], tuple[str, str]]
    """(table, source id) → (record id, patient) of each record of the unit."""
    sources: list[tuple[Any, ...]]
    touched: dict[str, bool]
    refused: set[str]
    report: Report
    unknown_links: dict[str, set[str]]

    def finish(self, found: Mapping[tuple[str, str], tuple[str, str]]) -> _Plan:
        """The plan, each link resolved among the unit's records and ``found`` (records
        imported before); a link to neither, or to another patient's record, is left out."""
        dialect, clinic, stamp = self.unit.dialect, self.unit.clinic_id, self.unit.stamp
        known = {**found, **self.placed} if found else self.placed
        rows: dict[str, list[tuple[Any, ...]]] = {}
        units: dict[str, tuple[Any, ...]] = {}
        for table, record_id, owner, values in self.records:
            unit = units.get(table)
            if unit is None:
                unit = units[table] = _layout(dialect, table).unit(
                    clinic_id=clinic, created_at=stamp, created_by=self.unit.user_id
                )
            relinked = _relinked(values, _links(dialect, table), known, owner)
            rows.setdefault(table, []).append((record_id, owner, *unit, *relinked))
        for table, table_rows in rows.items():
            self.report.stored[table] += len(table_rows)
        received = {source[0] for source in self.sources}
        link_unit = _layout(dialect, "fhir_source").unit(clinic_id=clinic, imported_at=stamp)
        return _Plan(
            self.patients,
            rows,
            [(*source, *link_unit) for source in self.sources],
            [pid for pid in self.touched if pid in received],
            sorted(self.refused),
            self.report,
            self.unknown_links,
        )


def _place(unit: _Unit, resources: list[_Pending], held: _Held) -> _Placed:
    """Give each resource of a unit of work (whole patients) its record id and patient.

    A resource already held (:attr:`_Held.seen`) is counted, not stored again; one sent
    twice with other content is named (:func:`_again`); one whose patient is neither in
    the unit nor held is refused, as the patient of another clinic or of none.
    """
    # Counts of this unit, merged only after commit; its entries only into a report that
    # keeps them (a Bundle's: a few; a bulk batch's report keeps none).
    report = Report(entries={}, max_problems=WHOLE)
    patients = [p for p in resources if p.kind == "Patient"]
    records = [p for p in resources if p.kind != "Patient"]
    seen, taken = held.seen, held.taken
    dialect = unit.dialect
    patient_ids: dict[str, str] = {}
    sources: list[tuple[Any, ...]] = []
    new_patients: list[tuple[Any, ...]] = []
    patient_unit = _layout(dialect, "patient").unit(
        clinic_id=unit.clinic_id, created_at=unit.stamp, updated_at=unit.stamp
    )
    # What each resource of this unit was, so one sent twice with other content is named,
    # not counted as already present.
    first: dict[tuple[str, str, str], _Pending] = {}
    for pending in patients:
        key = (pending.kind, pending.source_system, pending.source_id)
        if key in seen:
            patient_ids[pending.source_id] = seen[key]
            _again(report, first.get(key), pending)
            continue
        record_id = _free(pending.source_id, taken["patient"])
        new_patients.append((record_id, *patient_unit, *pending.values))
        seen[key] = patient_ids[pending.source_id] = record_id
        first[key] = pending
        sources.append(_link(pending, record_id, record_id))
    report.patients_created += len(new_patients)
    report.stored["patient"] += len(new_patients)

    patient_ids.update(held.patients)
    touched: dict[str, bool] = dict.fromkeys(patient_ids.values(), True)
    placed: dict[tuple[str, str], tuple[str, str]] = {}
    rows: list[tuple[str, str, str, tuple[Any, ...]]] = []
    refused: set[str] = set()
    for pending in records:
        key = (pending.kind, pending.source_system, pending.source_id)
        if key in seen:
            _again(report, first.get(key), pending)
            continue
        owner = patient_ids.get(pending.patient or "")
        if owner is None:
            refused.add(pending.patient or "")
            why = (
                "its Patient was rejected in this import"
                if pending.patient in held.rejected
                else "not found in this clinic (import its Patient first)"
            )
            report.problem(
                pending.file,
                pending.where,
                f"{pending.kind}.subject: patient {pending.patient}: {why}",
            )
            continue
        table = pending.table
        record_id = _free(pending.source_id, taken.setdefault(table, {}))
        seen[key] = record_id
        first[key] = pending
        placed[(table, pending.source_id)] = (record_id, owner)
        rows.append((table, record_id, owner, pending.values))
        sources.append(_link(pending, owner, record_id))
        touched.setdefault(owner, False)
    unknown_links: dict[str, set[str]] = {}
    for table, _, _, values in rows:
        for index, linked in _links(dialect, table):
            source = values[index]
            if source is not None and (linked, source) not in placed:
                unknown_links.setdefault(linked, set()).add(source)
    return _Placed(
        unit, new_patients, rows, placed, sources, touched, refused, report, unknown_links
    )


def _outside(pending: list[_Pending]) -> set[str]:
    """The source ids of the patients a unit's resources are about that are not in it."""
    sent = {p.source_id for p in pending if p.kind == "Patient"}
    return {p.patient for p in pending if p.patient and p.patient not in sent}


def _unpickled(batch: list[list[bytes]]) -> list[list[_Pending]]:
    return [
        [pending for blob in group for pending in map(_Pending._make, pickle.loads(blob))]
        for group in batch
    ]


class _Preparer:
    """Reads, validates and maps resources into rows ready for the database driver.

    It touches no database, so NDJSON lines are prepared in worker processes, one block of
    lines at a time, while the importer stages what they send back.
    """

    def __init__(self, dialect: Dialect, validate: bool) -> None:
        self.dialect, self.validate = dialect, validate
        self.screen = _Screen()

    def prepare(self, item: _Item, report: Report) -> _Pending | None:
        """The resource read, validated and mapped; or None, with why in ``report``."""
        rejected = report.problem_count
        pending = self._prepare(item, report)
        if pending is None and report.problem_count > rejected:
            report.patient_rejected(item.resource)
        return pending

    def _prepare(self, item: _Item, report: Report) -> _Pending | None:
        resource = item.resource
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            report.problem(item.file, item.where, "resourceType missing")
            return None
        if kind not in KEPT:
            report.unused[(kind, UNUSED_TYPE)] += 1
            report.entry(item.where, UNUSED, f"{kind}: {UNUSED_TYPE}")
            return None
        try:
            if kind == "Patient":
                table, row = "patient", patient.from_fhir(resource)
            else:
                table, row = MAPPERS[kind](resource)
            values = _layout(self.dialect, table).prepare(row)
        except Unused as reason:
            report.unused[(kind, str(reason))] += 1
            report.entry(item.where, UNUSED, f"{kind}: {reason}")
            return None
        except (Invalid, KeyError, ValueError) as error:
            report.problem(item.file, item.where, f"{kind}: {_text(error)}")
            return None
        except (TypeError, AttributeError):
            # An element of the wrong JSON type broke the mapping: named by the structural
            # check, never by Python's words for it.
            named = structural_problem(resource) or f"{kind}: an element is not of its FHIR type"
            report.problem(item.file, item.where, named)
            return None
        except RecursionError:  # no FHIR resource nests hundreds of levels deep
            report.problem(item.file, item.where, f"{kind}: nested too deeply to read")
            return None
        if self.validate:
            trouble = structural_problem(resource)
            if trouble:
                report.problem(item.file, item.where, trouble)
                return None
        system, source_id = _key(resource)
        if not source_id:
            report.problem(item.file, item.where, f"{kind}.id: an id is required to import")
            return None
        about = None
        if kind != "Patient":
            ref = _patient_ref(resource)
            if ref is None:
                report.problem(item.file, item.where, f"{kind}.subject: no patient reference")
                return None
            about = ref.split("/", 1)[1]
        return _Pending(item.file, item.where, kind, system, source_id, table, values, about)

    def block(self, file_no: int, path: str, block: _Block) -> _Staged:
        """Prepare one block of a file's lines: the rows to stage, and what was seen.

        The block is read here, from the file: a worker process gets only where it is, so
        no file content crosses between processes. Lines the screen passes over are only
        counted. A row to stage holds a patient's resources of the block (Bulk Data lists a
        patient's resources of a type together), with the number of the first one's line.
        """
        by_patient: dict[str, tuple[int, list[tuple[Any, ...]]]] = {}
        with open(path, "rb") as handle:
            handle.seek(block.offset)
            data = handle.read(block.size)
        kept, report = self.screen.sift(data, block.first_line)
        for number, raw in kept:
            line = ndjson.parse(number, raw)
            if line is None:
                continue
            report.read += 1
            if line.resource is None:
                report.problem(path, f"line {number}", str(line.error))
                continue
            pending = self.prepare(_Item(line.resource, path, f"line {number}"), report)
            if pending is not None:
                owner = pending.patient or pending.source_id
                by_patient.setdefault(owner, (number, []))[1].append(tuple(pending))
        # The scratch file is private to this process and read back only by it.
        rows = [
            (owner, file_no, first, len(resources), pickle.dumps(resources, protocol=5))
            for owner, (first, resources) in by_patient.items()
        ]
        return rows, report


class _Block(NamedTuple):
    """Whole lines of a file: where they start, how many bytes, the first line's number."""

    offset: int
    size: int
    first_line: int


BLOCK_BYTES = 1 << 20
"""About how much of a file one block holds (a line longer than that is a block of its own)."""


def _blocks(path: Path) -> Iterator[_Block]:
    """``path`` cut into blocks of whole lines, the last one's newline left out.

    Reading is cheap next to preparing (the file is in the page cache for the worker that
    reads it again); counting newlines here gives every block its first line's number.
    """
    offset, number = 0, 1
    with path.open("rb") as handle:
        if handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
            offset = len(codecs.BOM_UTF8)  # a byte-order mark, which JSON readers may ignore
        handle.seek(offset)
        while data := handle.read(BLOCK_BYTES):
            end = data.rfind(b"\n")
            while end < 0:  # a line longer than a block: read on to its end
                more = handle.read(BLOCK_BYTES)
                if not more:
                    break
                end = more.find(b"\n")
                end = -1 if end < 0 else len(data) + end
                data += more
            if end < 0:  # the last line, with no newline after it
                yield _Block(offset, len(data), number)
                return
            yield _Block(offset, end, number)
            number += data.count(b"\n", 0, end) + 1
            offset += end + 1
            handle.seek(offset)  # the rest of the line cut off is read with the next block


_Staged = tuple[list[tuple[str, int, int, int, bytes]], Report]
_worker: _Preparer | None = None
_writer: _Writer | None = None


class _Writer(NamedTuple):
    """Where a worker process stores the batches it plans, and as whom (the importer's
    database and actor)."""

    url: str
    actor: Actor


def _start_worker(preparer: _Preparer, writer: _Writer) -> None:
    global _worker, _writer
    _worker, _writer = preparer, writer


def _prepare_block(file_no: int, path: str, block: _Block) -> _Staged:
    assert _worker is not None
    return _worker.block(file_no, path, block)


class _Stored(NamedTuple):
    """What became of a batch a worker was given: its report if the worker stored it; if
    not, whether some of it is held already (``held``: it broke a unique key)."""

    report: Report | None
    held: bool = False


def _store_batch(batch: list[list[bytes]], stamp: datetime) -> _Stored:
    """Plan a batch of whole patients as a first import is, with nothing looked up, and
    store it in a transaction of its own. Not stored (the importer stores it with its
    lookups) if a resource in it is about a patient outside it or links to a record
    imported before, or if it breaks a unique key.

    The planning is done before the transaction, so it takes the database's write lock
    (one writer at a time) only to write: while one worker writes, the others plan.
    """
    assert _worker is not None and _writer is not None
    pending = [p for group in _unpickled(batch) for p in group]
    if _outside(pending):
        return _Stored(None)
    actor = _writer.actor
    assert actor.clinic_id is not None
    db = Database(_writer.url)  # its own connections: a forked process shares none
    try:
        unit = _Unit(db.engine.dialect, actor.clinic_id, stamp, actor.user_id)
        plan = _place(unit, pending, _Held()).finish({})
        if db.is_sqlite:
            # Packed now, so the write itself is one INSERT … SELECT per table.
            plan = plan.packed(db.engine.dialect)
        with db.transaction() as session:
            if _linked_records(session, actor.clinic_id, plan.unknown_links):
                return _Stored(None)
            _write(session, actor, plan)
    except (IntegrityError, DBAPIError):
        return _Stored(None, held=True)
    finally:
        db.dispose()
    return _Stored(plan.report)


WORKERS_FROM_BYTES = 8_000_000
"""NDJSON input from which an import prepares its lines in worker processes (about 10,000
resources): below it, starting them would take longer than they save."""


def _workers(paths: list[Path]) -> int:
    """How many processes prepare an NDJSON import: one per core (up to four) for a large
    import on a machine that can fork, none (the importer itself) otherwise."""
    if "fork" not in multiprocessing.get_all_start_methods() or _cores() < 2:
        return 0
    if sum(path.stat().st_size for path in paths) < WORKERS_FROM_BYTES:
        return 0
    return min(_cores(), 4)


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
        batch_size: int = 20_000,
        progress: Callable[[Report], None] | None = None,
        validate: bool = True,
        session: Session | None = None,
    ) -> None:
        if actor.role not in (Role.ADMIN.value, Role.CLINICIAN.value) or not actor.clinic_id:
            raise AccessRefused("patient", None, "import")
        self.db, self.actor, self.batch_size = db, actor, batch_size
        self.clinic_id: str = actor.clinic_id
        self.progress = progress
        self.preparer = _Preparer(db.engine.dialect, validate)
        self.session = session
        self.report = Report()

    # -- entry points ------------------------------------------------------------------

    def import_files(self, paths: Iterable[Path]) -> Report:
        """Import Bundles (``.json``) and Bulk Data NDJSON files (``.ndjson``)."""
        bulk_files: list[Path] = []
        for path in sorted(paths):
            if path.suffix == ".gz":
                self.report.problem(str(path), "file", "compressed: decompress it first")
            elif path.suffix in (".ndjson", ".jsonl"):
                try:
                    # Read later, by workers: refused here, named.
                    with path.open("rb") as handle:
                        trouble = _not_utf8(handle.read(4))
                except OSError as error:
                    self.report.problem(str(path), "file", f"not readable: {error.strerror}")
                else:
                    if trouble:
                        self.report.problem(str(path), "file", trouble)
                    else:
                        bulk_files.append(path)
            else:
                self._bundle(path)
        if bulk_files:
            self._ndjson(bulk_files)
        return self.report

    def import_bundle(
        self, data: Mapping[str, Any], name: str = "<bundle>", *, per_entry: bool = False
    ) -> Report:
        """Import one parsed Bundle (e.g. received over the API); with ``per_entry`` the
        report also says what became of each entry not stored (:attr:`Report.entries`)."""
        if per_entry and self.report.entries is None:
            self.report.entries = {}
        self._bundle_data(data, name)
        return self.report

    # -- readers -------------------------------------------------------------------------

    def _ndjson(self, paths: list[Path]) -> None:
        """Bulk Data NDJSON, stored a whole patient at a time.

        Each file holds one resource type, so a patient's resources are spread over all of
        them. A first pass reads, validates and maps every line once (on every core for a
        large import) and puts each mapped resource, under its patient, in a scratch table
        on disk (memory stays flat at any size; the file is unlinked from the start); a
        second pass takes them out patient by patient, so every transaction holds whole
        patients: a killed import leaves no patient half-imported, and running it again
        imports the rest.
        """
        # SQLite's private temporary database (empty file name): on disk beyond a small
        # cache, already unlinked, so no patient data is left behind even if the import is
        # killed.
        # Workers store what they plan, each in transactions of its own: not when the import
        # is a step of a caller's transaction, nor into a database only this process sees.
        shared = self.session is None and self.db.url.database not in (None, "", ":memory:")
        workers = _workers(paths) if shared else 0
        if workers:
            # Built once here, so the forked workers inherit the validator's checks instead of
            # each building its own.
            validate.prepare(KEPT)
        staged = sqlite3.connect("")
        # The objects alive now (modules, models, the validator's checks) live as long as the
        # import: frozen, the garbage collector's full passes skip them instead of walking
        # them again and again while rows come and go, and forked workers leave their
        # memory pages shared (the order Python's gc documentation gives for forking).
        gc.freeze()
        # Forked workers inherit the preparer; they open the database only to store batches
        # (their own connections), and touch no console or log.
        pool = (
            ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(self.preparer, self._writer()),
            )
            if workers
            else None
        )
        try:
            staged.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                "CREATE TABLE staged"
                " (patient TEXT, file INTEGER, line INTEGER, resources INTEGER, pending BLOB)"
            )
            self._stage(paths, pool, workers, staged)
            self._by_patient(staged, pool, workers)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            gc.unfreeze()
            staged.close()

    def _stage(
        self,
        paths: list[Path],
        pool: ProcessPoolExecutor | None,
        workers: int,
        staged: sqlite3.Connection,
    ) -> None:
        """Prepare every line (in the ``pool``'s processes, or in this one) into ``staged``."""
        if pool is None:
            for file_no, path in enumerate(paths):
                for block in _blocks(path):
                    self._staged(staged, self.preparer.block(file_no, str(path), block))
            return
        waiting: deque[Future[_Staged]] = deque()
        for file_no, path in enumerate(paths):
            for block in _blocks(path):
                waiting.append(pool.submit(_prepare_block, file_no, str(path), block))
                # A few blocks in flight per worker: enough to keep them busy, and memory
                # stays flat however large the files.
                if len(waiting) >= 3 * workers:
                    self._staged(staged, waiting.popleft().result())
        while waiting:
            self._staged(staged, waiting.popleft().result())

    def _staged(self, staged: sqlite3.Connection, prepared: _Staged) -> None:
        rows, report = prepared
        staged.executemany("INSERT INTO staged VALUES (?, ?, ?, ?, ?)", rows)
        before = self.report.read
        self.report.add(report)
        if before // 10_000 != self.report.read // 10_000:
            self._progress()  # staging is a first pass: show it moving

    def _by_patient(
        self, staged: sqlite3.Connection, pool: ProcessPoolExecutor | None, workers: int
    ) -> None:
        """Store what ``staged`` holds, a batch of whole patients per transaction.

        With worker processes (``pool``, of ``workers``), each plans and stores batches
        (:func:`_store_batch`): while one writes, the others plan the next. A batch a worker
        could not store is stored here, with lookups.
        """
        if pool is None:
            for batch in self._batches(staged):
                self._commit(_unpickled(batch))
                self._progress()
            return
        waiting: deque[tuple[list[list[bytes]], Future[_Stored]]] = deque()
        # Small batches first, each twice the one before: the writing starts as soon as the
        # first is planned, and the workers plan the next while the one before is written
        # (one batch of 20,000 after another left the database idle while the first was
        # planned: about 2% slower).
        for batch in self._batches(staged, first=self.batch_size // 8):
            waiting.append((batch, pool.submit(_store_batch, batch, now())))
            # A batch for every worker and one waiting: memory stays flat.
            if len(waiting) > workers:
                self._stored(*waiting.popleft())
        while waiting:
            self._stored(*waiting.popleft())

    def _batches(
        self, staged: sqlite3.Connection, first: int | None = None
    ) -> Iterator[list[list[bytes]]]:
        """The staged rows (each a patient's resources of a block, pickled), grouped by
        patient, in batches of about :attr:`batch_size` resources; with ``first``, the first
        of about ``first`` and each next twice the one before, up to :attr:`batch_size`."""
        batch: list[list[bytes]] = []
        group: list[bytes] = []
        size, current, limit = 0, None, first or self.batch_size
        order = "SELECT patient, resources, pending FROM staged ORDER BY patient, file, line"
        for owner, resources, blob in staged.execute(order):
            if owner != current:
                if group:
                    batch.append(group)
                group, current = [], owner
                if size >= limit:
                    yield batch
                    batch, size, limit = [], 0, min(2 * limit, self.batch_size)
            group.append(blob)
            size += resources
        if group:
            batch.append(group)
        if batch:
            yield batch

    def _stored(self, batch: list[list[bytes]], stored: Future[_Stored]) -> None:
        """Count a batch a worker stored, or store it here, looking up what the worker could
        not: patients and records imported before, and what is held already."""
        outcome = stored.result()
        if outcome.report is not None:
            self.report.add(outcome.report)
        else:
            self._commit(_unpickled(batch), fresh=not outcome.held)
        self._progress()

    def _progress(self) -> None:
        if self.progress is not None:
            self.progress(self.report)

    def _bundle(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
            trouble = _not_utf8(raw[:4])
            if trouble:
                self.report.problem(str(path), "file", trouble)
                return
            data = orjson.loads(raw.removeprefix(codecs.BOM_UTF8))
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
        if data.get("type") != "transaction":
            self._entries(data, name)
            return
        # One transaction (or savepoint of the caller's) around the patients' own.
        report, caller = self.report, self.session
        before = (Counter(report.stored), report.already, report.patients_created)
        read, rejected, unused_before = report.read, report.problem_count, report.unused.total()
        try:
            with self._transaction() as whole:
                self.session = whole
                self._entries(data, name)
                if report.problem_count > rejected:
                    raise _Refused
        except _Refused:
            report.stored, report.already, report.patients_created = before
            count = report.problem_count - rejected
            unused = report.unused.total() - unused_before
            report.transaction_refused(name, count, max(report.read - read - count - unused, 0))
        finally:
            self.session = caller

    def _entries(self, data: Mapping[str, Any], name: str) -> None:
        """A Bundle's entries, stored a patient at a time (each a unit of work)."""
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
        """A Bundle's patient (or a lone resource): all of it stored, or none of it."""
        prepared = (self.preparer.prepare(item, self.report) for item in items)
        self._commit([[p for p in prepared if p is not None]])
        self._progress()

    def _commit(self, patients: list[list[_Pending]], *, fresh: bool = True) -> None:
        """Store the resources of whole patients in one transaction; if that fails, each
        patient in a transaction of its own, so one bad patient does not hold back the rest.

        First as new (``fresh``): every resource written under its source id, with no
        lookups. A resource this clinic already holds, or an id already taken, breaks a
        unique key, the transaction rolls back whole, and the same patients are stored again
        looking each resource up first (:meth:`_already_imported`). A first import, by far
        the largest, so spends no time on lookups; a repeated or resumed one loses one
        refused statement per batch.
        """
        pending = [p for group in patients for p in group]
        if not pending:
            return
        try:
            self._store(pending, fresh=fresh)
        except (IntegrityError, DBAPIError) as error:
            if fresh:
                self._commit(patients, fresh=False)
                return
            if len(patients) > 1:
                for group in patients:
                    self._commit([group], fresh=False)
                return
            # Named by its Patient resource where it has one: the patient is what failed.
            first = next((p for p in pending if p.kind == "Patient"), pending[0])
            if len(pending) == 1:
                self.report.problem(first.file, first.where, f"not stored: {_reason(error)}")
            else:
                self.report.problem(
                    first.file,
                    first.where,
                    f"patient not imported ({len(pending)} resources): {_reason(error)}",
                )

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

    def _store(self, pending: list[_Pending], *, fresh: bool) -> None:
        with self._transaction() as session:
            held = (
                _Held(rejected=self.report.rejected_patients)
                if fresh
                else self._already_imported(session, pending)
            )
            held.patients = self._known_patients(session, _outside(pending))
            unit = _Unit(session.get_bind().dialect, self.clinic_id, now(), self.actor.user_id)
            placed = _place(unit, pending, held)
            plan = placed.finish(_linked_records(session, self.clinic_id, placed.unknown_links))
            _write(session, self.actor, plan)
        self.report.add(plan.report)

    def _writer(self) -> _Writer:
        """What a worker process needs to store batches as this import does."""
        return _Writer(self.db.url.render_as_string(hide_password=False), self.actor)

    # -- helpers -----------------------------------------------------------------------

    def _already_imported(self, session: Session, pending: list[_Pending]) -> _Held:
        """Resources this clinic already holds, and the ids already taken in each table.

        Returns them as :attr:`_Held.seen` and :attr:`_Held.taken`.
        A resource is held when ``fhir_source`` records it, or when its id is already a
        record of this clinic in its table (a hipspine export re-imported into its clinic).
        Every lookup uses a unique index, so its cost does not grow with the database.
        """
        found: dict[tuple[str, str, str], str] = {}
        taken: dict[str, dict[str, str]] = {"patient": {}}
        by_kind: dict[str, set[str]] = {}
        for p in pending:
            by_kind.setdefault(p.kind, set()).add(p.source_id)
        wanted = {(p.kind, p.source_system, p.source_id) for p in pending}
        for kind, ids in by_kind.items():
            for chunk in _chunks(sorted(ids)):
                rows = session.execute(
                    select(
                        FhirSource.source_system,
                        FhirSource.source_id,
                        FhirSource.record_id,
                        FhirSource.patient_id,
                    ).where(
                        FhirSource.clinic_id == self.clinic_id,
                        FhirSource.resource_type == kind,
                        _among(session, FhirSource.source_id, chunk),
                    )
                )
                for system, source_id, record_id, patient_id in rows:
                    if (kind, system, source_id) in wanted:
                        found[(kind, system, source_id)] = (
                            patient_id if kind == "Patient" else record_id or ""
                        )
        by_table: dict[str, list[_Pending]] = {}
        for p in pending:
            if (p.kind, p.source_system, p.source_id) not in found:
                by_table.setdefault(p.table, []).append(p)
        for table, items in by_table.items():
            taken[table] = in_use = self._ids_in_use(session, table, {p.source_id for p in items})
            for p in items:
                if in_use.get(p.source_id) == self.clinic_id:
                    found[(p.kind, p.source_system, p.source_id)] = p.source_id
        return _Held(seen=found, taken=taken, rejected=self.report.rejected_patients)

    @staticmethod
    def _ids_in_use(session: Session, table: str, ids: set[str]) -> dict[str, str]:
        """Which of ``ids`` are records of ``table`` already (ids are global), and whose."""
        columns = _table(table).c
        in_use: dict[str, str] = {}
        for chunk in _chunks(sorted(i for i in ids if is_record_id(i))):
            query = select(columns.id, columns.clinic_id).where(_among(session, columns.id, chunk))
            in_use.update((row.id, row.clinic_id) for row in session.execute(query))
        return in_use

    def _known_patients(self, session: Session, refs: set[str]) -> dict[str, str]:
        """Source patient id -> hipspine patient id, for patients native or imported here.

        A patient keeps its source id as its hipspine id unless that id was taken or is not
        a UUID, so the patient table answers most references by primary key; the rest were
        renamed on import and are found through ``fhir_source``.
        """
        found = {
            pid: pid
            for pid, clinic in self._ids_in_use(session, "patient", refs).items()
            if clinic == self.clinic_id
        }
        rest = sorted(refs - found.keys())
        for chunk in _chunks(rest):
            for source_id, patient_id in session.execute(
                select(FhirSource.source_id, FhirSource.patient_id).where(
                    FhirSource.clinic_id == self.clinic_id,
                    FhirSource.resource_type == "Patient",
                    _among(session, FhirSource.source_id, chunk),
                )
            ):
                found.setdefault(source_id, patient_id)
        return found


def _write(session: Session, actor: Actor, plan: _Plan) -> None:
    """Write a planned unit of work and audit it, in ``session``'s transaction."""
    if plan.image is not None:
        bulk.insert_packed(session, plan.image)
    else:
        for layout, rows in plan.tables(session.get_bind().dialect):
            _insert(session, layout, rows)
    append_audit(session, actor, "import", plan.received)
    # A write to a patient this clinic does not have is refused and audited as a
    # refused read is: under the id the source addressed, which reveals nothing.
    append_audit(session, actor, "import", plan.refused, outcome="refused")


def _linked_records(
    session: Session, clinic_id: str, wanted: Mapping[str, set[str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(table, source id) → (record id, patient) for records imported before (through
    ``fhir_source``) or native to the clinic (a hipspine export's own ids)."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for table, ids in wanted.items():
        for chunk in _chunks(sorted(ids)):
            for source_id, record_id, patient_id in session.execute(
                select(FhirSource.source_id, FhirSource.record_id, FhirSource.patient_id).where(
                    FhirSource.clinic_id == clinic_id,
                    FhirSource.record_table == table,
                    _among(session, FhirSource.source_id, chunk),
                )
            ):
                if record_id:
                    found.setdefault((table, source_id), (record_id, patient_id))
        columns = _table(table).c
        rest = sorted(i for i in ids if (table, i) not in found and is_record_id(i))
        for chunk in _chunks(rest):
            query = select(columns.id, columns.patient_id).where(
                columns.clinic_id == clinic_id, _among(session, columns.id, chunk)
            )
            for record_id, patient_id in session.execute(query):
                found[(table, record_id)] = (record_id, patient_id)
    return found


def append_audit(
    session: Session, actor: Actor, action: str, patient_ids: list[str], outcome: str = "ok"
) -> None:
    """Append one ``action`` entry per patient to the audit chain, in the caller's transaction
    (an id longer than an id column, which only a refused source can address, is left out).

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
    for addressed in patient_ids:
        pid = audited_id(addressed)
        row = {
            "at": now(),
            "actor_id": actor.user_id,
            "actor_role": actor.role,
            "clinic_id": actor.clinic_id,
            "action": action,
            "resource": "patient",
            "resource_id": pid,
            "patient_id": pid,
            "outcome": outcome,
            "client": actor.client,
            "request_id": actor.request_id,
            "prev_hash": previous,
        }
        # The same hash as an AuditEvent would get, without an ORM object per entry.
        row["hash"] = previous = audit.entry_hash(previous, SimpleNamespace(**row))  # type: ignore[arg-type]
        rows.append(row)
    bulk.insert_rows(session, _table("audit_event"), rows)


def _again(report: Report, first: _Pending | None, again: _Pending) -> None:
    """Count a resource already held, unless this unit has just stored another with its
    identity and other content: that one is rejected, naming where the kept one was."""
    if first is None or first.values == again.values:
        report.already += 1
        report.entry(again.where, ALREADY)
        return
    where = first.where if first.file == again.file else f"{first.file}, {first.where}"
    report.problem(
        again.file,
        again.where,
        f"{again.kind} {again.source_id}: sent again with other content; the one at "
        f"{where} was kept",
    )


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _link(pending: _Pending, patient_id: str, record_id: str) -> tuple[str, ...]:
    """The ``fhir_source`` row's per-row columns (see :func:`_layout`)."""
    source = pending.source_id[:128]
    return (
        patient_id,
        pending.kind,
        pending.source_system,
        source,
        pending.table,
        record_id,
    )


def _insert(session: Session, layout: bulk.Layout, rows: list[tuple[Any, ...]]) -> None:
    bulk.insert_tuples(session, layout.table, layout.names, rows)


def _free(source_id: str, taken: dict[str, str]) -> str:
    """The source id as the record's id when it is free and has a record id's form (a UUID,
    as hipspine's own exports and Synthea's have), else a new id; either way now taken, so
    two resources of one unit that land in one table never share an id (a
    MedicationStatement and a MedicationRequest with the same id, say). An id of another
    form ("obs-1") is kept in ``fhir_source`` only: the API addresses records by UUID."""
    record_id = source_id if is_record_id(source_id) and source_id not in taken else new_id()
    taken[record_id] = ""
    return record_id


def _not_utf8(head: bytes) -> str | None:
    """Why a file starting with ``head`` cannot be FHIR JSON, which is UTF-8 (RFC 8259): it
    is UTF-16 or UTF-32 text (marked by its byte-order mark)."""
    marks = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    if head.startswith(marks):
        return "UTF-16 or UTF-32 text: FHIR JSON is UTF-8; save the file as UTF-8"
    return None


def _patient_ref(resource: Mapping[str, Any]) -> str | None:
    ref = resource.get("subject") or resource.get("patient")
    value = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(value, str) and value.startswith("Patient/"):
        return value.split("/_history", 1)[0]
    if isinstance(value, str) and "/Patient/" in value:
        return "Patient/" + value.rsplit("/Patient/", 1)[1].split("/", 1)[0]
    return None


def _among(session: Session, column: Any, values: list[str]) -> Any:
    """``column IN values`` with the whole list as one parameter: ``= ANY(array)`` on
    PostgreSQL, ``IN (SELECT value FROM json_each(?))`` on SQLite. The statement is then the
    same whatever the count, so neither SQLAlchemy nor the driver rebuilds it per list."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    listed = func.json_each(bindparam(None, orjson.dumps(values).decode(), type_=String))
    return column.in_(select(literal_column("value")).select_from(listed))


def _chunks(values: list[str], size: int = 2000) -> Iterator[list[str]]:
    # 2,000 ids a query: well inside SQLite's 32,766 bound parameters.
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
