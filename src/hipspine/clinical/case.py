"""The case: everything known about one patient's hip and back at one point in care.

A case is a versioned JSON document (format ``hipspine.case/1``; ``hipspine schema case``
prints its JSON Schema). It carries the patient, the complaint, diagnoses, medications with
their use pattern, the pain map, examination and imaging findings, manual muscle testing
and goals. Validation checks every name against the clinical vocabulary and every value
against its allowed range, and names the field and the allowed values when it refuses.

What a case does not record is unknown. Unknown is never read as absent: a pain map that was
not drawn is unknown (``pain_map`` null), while a drawn map with no mark on the knee says the
knee does not hurt.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Hashable, Sequence
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hipspine.clinical._data import load
from hipspine.clinical.mmt import MRC_GRADES, MRCGrade
from hipspine.clinical.vocabulary import (
    NERVE_ROOTS,
    SPINAL_LEVELS,
    Finding,
    Kind,
    Side,
    Stage,
    findings,
    muscles,
    regions,
)

CASE_FORMAT: Literal["hipspine.case/1"] = "hipspine.case/1"
ONE_SIDE = (Side.LEFT, Side.RIGHT, Side.BILATERAL)

_WHOLE_KINDS = frozenset({Kind.GRADE, Kind.COUNT})
"""Kinds whose value is a whole number."""

PAIN_MAP_RULE = (
    "null (or left out) when no pain map was drawn: where it hurts is then unknown. "
    "On a drawn map, a region with no mark means no pain there, and a mark with intensity 0 "
    "also means no pain; an empty list is a drawn map with no pain anywhere. Coarse marks "
    "(hip, thigh, leg) are less specific, not wrong."
)


def _count_tests() -> str:
    named = [
        f"{f.id}: {', '.join(f.tests)}"
        for f in findings().values()
        if f.kind is Kind.COUNT and f.tests
    ]
    return f" ({'; '.join(named)})" if named else ""


@cache
def condition_ids() -> tuple[str, ...]:
    """Identifiers of the diagnoses a case may carry (``conditions.toml``)."""
    return tuple(c["id"] for c in load("conditions")["condition"])


def _choose(kind: str, value: str, allowed: Collection[str]) -> str:
    # Membership first, in the collection as given (the vocabulary is a dict): every finding
    # of every imported case comes through here; the list is only for the error message.
    if value in allowed:
        return value
    _refuse(kind, value, allowed)


def _refuse(kind: str, value: str, allowed: Collection[str]) -> NoReturn:
    """Refuse a name that is not in the vocabulary, suggesting the closest allowed one."""
    allowed = list(allowed)
    close = difflib.get_close_matches(value, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = (
        ", ".join(allowed) if len(allowed) <= 15 else f"one of the {len(allowed)} in the vocabulary"
    )
    raise ValueError(f"unknown {kind} {value!r}{hint} Allowed: {listed}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Sex(StrEnum):
    """Sex recorded for norms and red flags."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class Patient(_Strict):
    """Who the case is about. Age matters to red flags and to the ACR criteria."""

    id: str | None = Field(default=None, description="The clinic's identifier for the patient")
    age: Annotated[int | None, Field(ge=0, le=120, description="Age in years")] = None
    sex: Sex = Field(default=Sex.UNKNOWN, description="male, female, other or unknown")
    height_cm: Annotated[float | None, Field(gt=50, lt=250, description="Height in cm")] = None
    weight_kg: Annotated[float | None, Field(gt=20, lt=350, description="Weight in kg")] = None


class Complaint(_Strict):
    """The presenting complaint. ``side`` is the side the assessment is made for."""

    side: Side | None = Field(
        default=None, description="left, right or bilateral; inferred from the pain map if absent"
    )
    onset: date | None = Field(default=None, description="When the complaint began (ISO date)")
    description: str | None = Field(default=None, description="The complaint in words")

    @field_validator("side")
    @classmethod
    def _one_side(cls, side: Side | None) -> Side | None:
        if side is Side.MIDLINE:
            raise ValueError("complaint side must be left, right or bilateral")
        return side


class Diagnosis(_Strict):
    """A diagnosis already made, e.g. hip osteoarthritis a year ago."""

    condition: str = Field(
        description="A diagnosis of the vocabulary (conditions)",
        json_schema_extra={"enum": list(condition_ids())},
    )
    side: Side | None = Field(default=None, description="left, right or bilateral, if sided")
    since: date | None = Field(default=None, description="When it was diagnosed (ISO date)")
    note: str | None = Field(default=None, description="Free text")

    @field_validator("condition")
    @classmethod
    def _known(cls, value: str) -> str:
        return _choose("condition", value, condition_ids())


class UsePattern(StrEnum):
    """How a medication is taken: ``regular`` on a schedule, ``as_needed`` on bad days only
    (say how often with ``days_per_week``), or ``stopped``."""

    REGULAR = "regular"
    AS_NEEDED = "as_needed"
    STOPPED = "stopped"


class Medication(_Strict):
    """A medication with its use pattern, e.g. ibuprofen as needed on bad days."""

    name: str = Field(min_length=1, description="Medication name, e.g. ibuprofen")
    dose: str | None = Field(default=None, description="Dose as written, e.g. 400 mg")
    pattern: UsePattern = Field(description="regular, as_needed (on bad days) or stopped")
    days_per_week: Annotated[
        float | None,
        Field(ge=0, le=7, description="For as_needed use: on how many days a week it is taken"),
    ] = None
    indication: str | None = Field(default=None, description="What it is taken for")
    since: date | None = Field(default=None, description="When it was started (ISO date)")


class PainEntry(_Strict):
    """One marked region of the pain map, with its side and 0–10 intensity."""

    region: str = Field(
        description="A pain-map region of the vocabulary",
        json_schema_extra={"enum": list(regions())},
    )
    side: Side = Field(description="left, right or bilateral; midline for the low back")
    intensity: Annotated[
        int | None, Field(ge=0, le=10, description="0–10 numeric rating; 0 means no pain")
    ] = None

    @model_validator(mode="after")
    def _known(self) -> PainEntry:
        _choose("region", self.region, regions())
        allowed = regions()[self.region].sides
        if self.side not in allowed:
            raise ValueError(
                f"side {self.side.value!r} is not used for region {self.region!r}; "
                f"allowed: {', '.join(s.value for s in allowed)}"
            )
        return self


class Observation(_Strict):
    """One finding as observed: present, absent, unknown, or a measured value."""

    finding: str = Field(
        description="A finding of the vocabulary", json_schema_extra={"enum": list(findings())}
    )
    side: Side | None = Field(
        default=None, description="left, right or bilateral for sided findings; else left out"
    )
    result: str | None = Field(
        default=None,
        description=(
            "present/absent/unknown; for range of motion without degrees "
            "reduced/normal/painful (painful leaves the range unknown); or a listed choice"
        ),
    )
    value: float | None = Field(
        default=None,
        description="number in the finding's unit; for a count finding, how many tests were positive"
        + _count_tests(),
    )
    of: int | None = Field(
        default=None,
        ge=1,
        description="count findings: how many of the cluster's tests were performed"
        + _count_tests(),
    )
    level: str | None = Field(
        default=None,
        description="spinal level, for findings recorded by level",
        json_schema_extra={"enum": list(SPINAL_LEVELS)},
    )
    roots: tuple[str, ...] = Field(
        default=(),
        description="nerve roots, for findings recorded by root",
        json_schema_extra={"items": {"enum": list(NERVE_ROOTS)}},
    )
    location: str | None = Field(default=None, description="region where the test caused pain")
    angle: float | None = Field(default=None, ge=0, le=120, description="degrees at positivity")
    stage: Stage | None = Field(default=None, description="override the finding's usual stage")
    note: str | None = Field(default=None, description="Free text")

    @property
    def definition(self) -> Finding:
        """The vocabulary entry of this observation's finding."""
        return findings()[self.finding]

    @property
    def when(self) -> Stage:
        """The stage of the visit at which this observation was known."""
        return self.stage or self.definition.stage

    @model_validator(mode="after")
    def _valid(self) -> Observation:
        # Every finding of every imported case comes through here (the FHIR bulk import parses
        # the case of each Encounter), so the vocabulary entry is looked up once and a valid
        # observation costs a few attribute reads. The checks and their order are unchanged:
        # only the first problem of an observation is reported.
        finding = findings().get(self.finding)
        if finding is None:
            _refuse("finding", self.finding, findings())
        name = finding.id
        side = self.side
        if side is None:
            if finding.lateral:
                raise ValueError(f"side is required for {name!r}; allowed: left, right, bilateral")
        elif not finding.lateral:
            raise ValueError(f"{name!r} is not recorded by side; leave side out")
        elif side is Side.MIDLINE:
            raise ValueError(
                f"side 'midline' is not used for {name!r}; allowed: left, right, bilateral"
            )
        if self.result is not None and self.result not in finding.results:
            raise ValueError(
                f"result {self.result!r} is not allowed for {name!r}; "
                f"allowed: {', '.join(finding.results)}"
            )
        self._check_value(finding)
        # Most observations carry none of these; those that do are checked in full.
        if (
            self.level is not None
            or self.location is not None
            or self.angle is not None
            or self.roots
        ):
            self._check_extras(finding)
        return self

    def _check_extras(self, finding: Finding) -> None:
        """Level, location, angle and roots: only for findings that take them, and named."""
        name = finding.id
        for extra, allowed in (
            ("level", finding.level),
            ("location", finding.locations),
            ("angle", finding.angle),
        ):
            if getattr(self, extra) is not None and not allowed:
                raise ValueError(f"{name!r} takes no {extra}")
        if self.roots and not finding.roots:
            raise ValueError(f"{name!r} takes no roots")
        for root in self.roots:
            _choose("nerve root", root, NERVE_ROOTS)
        if self.level is not None:
            _choose("spinal level", self.level, SPINAL_LEVELS)
        if self.location is not None:
            _choose("region", self.location, regions())

    def _check_value(self, finding: Finding) -> None:
        name = finding.id
        kind = finding.kind
        if not finding.takes_value:
            if self.value is not None:
                raise ValueError(f"{name!r} takes a result, not a value")
            if self.result is None:
                raise ValueError(
                    f"result is required for {name!r}; allowed: {', '.join(finding.results)}"
                )
            return
        if self.value is None:
            if kind is Kind.ANGLE and self.result is not None:
                return
            if self.result == "unknown":
                return
            raise ValueError(f"value ({finding.unit or 'number'}) is required for {name!r}")
        low, high = finding.minimum, finding.maximum
        if low is not None and high is not None and not low <= self.value <= high:
            raise ValueError(
                f"value {self.value:g} for {name!r} is outside {low:g}–{high:g} {finding.unit or ''}".rstrip()
            )
        if kind in _WHOLE_KINDS and self.value != int(self.value):
            raise ValueError(f"value for {name!r} must be a whole number")
        if kind is Kind.COUNT:
            if self.of is None:
                raise ValueError(f"'of' (number of tests performed) is required for {name!r}")
            if self.value > self.of:
                raise ValueError(f"{name!r}: {self.value:g} positive of only {self.of} performed")
            if high is not None and self.of > high:
                raise ValueError(f"{name!r}: at most {high:g} tests in the cluster")
        elif self.of is not None:
            raise ValueError(f"{name!r} takes no 'of'")


class MuscleTest(_Strict):
    """Manual muscle testing of one muscle on one side, MRC 0–5 with optional + or −."""

    muscle: str = Field(
        description="A muscle of the hip–spine chain", json_schema_extra={"enum": list(muscles())}
    )
    side: Side | None = Field(
        default=None, description="left, right or bilateral for sided muscles"
    )
    mrc: str = Field(
        description="MRC grade 0–5 with optional - or + on 2–4; below 5 is weak",
        json_schema_extra={"enum": list(MRC_GRADES)},
    )
    stage: Stage | None = Field(default=None, description="override the usual stage (exam)")

    @model_validator(mode="after")
    def _valid(self) -> MuscleTest:
        muscle = muscles().get(self.muscle)
        if muscle is None:
            _refuse("muscle", self.muscle, muscles())
        # A grade written as listed needs no parsing; others (" 4 +") are parsed, or refused.
        if self.mrc not in MRC_GRADES:
            try:
                MRCGrade.parse(self.mrc)
            except ValueError as error:
                raise ValueError(f"mrc: {error}; allowed: {', '.join(MRC_GRADES)}") from None
        if muscle.lateral and self.side not in ONE_SIDE:
            raise ValueError(f"side is required for {muscle.id!r}; allowed: left, right, bilateral")
        return self

    @property
    def grade(self) -> MRCGrade:
        """The parsed MRC grade."""
        return MRCGrade.parse(self.mrc)

    @property
    def when(self) -> Stage:
        """Manual muscle testing is part of the examination unless stated otherwise."""
        return self.stage or Stage.EXAM


class Goal(_Strict):
    """A functional goal, e.g. a 6-mile hike with elevation gain by October."""

    description: str = Field(min_length=1, description="The goal in the patient's words")
    target_date: date | None = Field(default=None, description="By when (ISO date)")


class Case(_Strict):
    """One patient's case at a point in care (format ``hipspine.case/1``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": "https://hipspine.org/schema/case/1", "title": "hipspine case"},
    )

    format: Literal["hipspine.case/1"] = Field(
        default=CASE_FORMAT, description="Format and version of the document"
    )
    patient: Patient = Field(default=Patient(), description="Who the case is about")
    visit_date: date | None = Field(default=None, description="Date of the visit (ISO date)")
    complaint: Complaint = Field(default=Complaint(), description="The presenting complaint")
    diagnoses: tuple[Diagnosis, ...] = Field(default=(), description="Diagnoses already made")
    medications: tuple[Medication, ...] = Field(
        default=(), description="Medications with their use pattern"
    )
    pain_map: tuple[PainEntry, ...] | None = Field(default=None, description=PAIN_MAP_RULE)
    findings: tuple[Observation, ...] = Field(
        default=(), description="History, examination, laboratory, imaging and block findings"
    )
    strength: tuple[MuscleTest, ...] = Field(default=(), description="Manual muscle testing")
    goals: tuple[Goal, ...] = Field(default=(), description="The patient's functional goals")

    @model_validator(mode="after")
    def _no_duplicates(self) -> Case:
        i = _first_repeat([(obs.finding, obs.side, obs.level) for obs in self.findings])
        if i is not None:
            raise ValueError(
                f"findings.{i}: {self.findings[i].finding!r} is recorded twice for the same side "
                "and level"
            )
        i = _first_repeat([(test.muscle, test.side) for test in self.strength])
        if i is not None:
            raise ValueError(
                f"strength.{i}: {self.strength[i].muscle!r} is graded twice on the same side"
            )
        return self

    def through(self, stage: Stage) -> Case:
        """The case as it stood once ``stage`` was complete: later findings are unknown."""
        return self.model_copy(
            update={
                "findings": tuple(o for o in self.findings if o.when.order <= stage.order),
                "strength": tuple(t for t in self.strength if t.when.order <= stage.order),
            }
        )

    def stages_present(self) -> tuple[Stage, ...]:
        """The visit stages at which this case recorded anything, history always first."""
        seen = {Stage.HISTORY} | {o.when for o in self.findings} | {t.when for t in self.strength}
        return tuple(s for s in Stage if s in seen)


def _first_repeat(keys: Sequence[Hashable]) -> int | None:
    """The position of the first key already seen earlier in ``keys``, or None."""
    # One set build settles the usual case, no repeat; the walk runs only to name the repeat.
    if len(set(keys)) == len(keys):
        return None
    seen: set[Hashable] = set()
    for i, key in enumerate(keys):
        if key in seen:
            return i
        seen.add(key)
    return None


class CaseError(ValueError):
    """A case document that does not follow the case format; ``problems`` lists each field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid case:\n" + "\n".join(f"  - {p}" for p in problems))


def parse_case(data: Any) -> Case:
    """Return the validated case, or raise :class:`CaseError` naming every bad field."""
    try:
        return Case.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "case"
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                allowed = _fields_at(item["loc"][:-1])
                message = f"unknown field; allowed here: {', '.join(allowed)}"
            problems.append(f"{where}: {message}")
        raise CaseError(problems) from None


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the case-format object found at ``loc`` (for error messages)."""
    model: type[BaseModel] = Case
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        nested = [
            a for a in _flatten(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not nested:
            break
        model = nested[0]
    return list(model.model_fields)


def _flatten(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return [annotation]
    return [leaf for arg in args for leaf in _flatten(arg)]


def case_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the case format."""
    schema = Case.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
