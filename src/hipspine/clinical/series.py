"""The measurement series: one patient's dated visits after treatment (``hipspine.series/1``).

A series carries the patient, the baseline date, the procedures (date, type, target), the
goals and dated visits. A visit may record

* ``pain`` — NPRS 0–10 per body region (``lumbar``, ``groin``, ``buttock``, ``leg`` … ids
  from ``data/regions.toml``), optionally per side;
* ``questionnaires`` — answers (scored with the instrument's own scorer) or already
  computed scores of ODI, modified ODI, HOOS subscales, LEFS, STarT Back and GROC;
* ``psfs`` — Patient-Specific Functional Scale ratings by the patient's own activity names;
* ``mmt`` and ``dynamometry`` — MRC grades and hand-held dynamometry per muscle and side;
* ``function`` — six-minute walk, 30-second chair stand, gait speed;
* ``goal_ratings`` — Goal Attainment Scaling level (−2 … +2) per goal id;
* ``medications`` — use in days per week (``null`` = not asked, ``[]`` = none taken);
* ``patient_global`` — patient global assessment 0 (very well) … 10 (very poor).

``parse_series`` validates a document and names every bad field; ``series_json_schema``
returns its JSON Schema. :mod:`hipspine.clinical.trajectory` turns a series into results.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hipspine.clinical import instruments
from hipspine.clinical.case import MuscleTest, Patient
from hipspine.clinical.goals import (
    AttainmentLevel,
    FunctionalGoal,
)
from hipspine.clinical.instruments import InvalidAnswers
from hipspine.clinical.strength import (
    DynamometryReading,
)
from hipspine.clinical.vocabulary import Side, muscles, rated_regions, regions

SERIES_FORMAT: Literal["hipspine.series/1"] = "hipspine.series/1"
CHANGE_INSTRUMENTS = ("odi", "odi_modified", "hoos", "lefs", "start_back", "groc")
# Instruments whose manual defines subscale scores only: a "total" given for them is refused
# rather than stored (HOOS Scoring 2013: "There is no total score").
NO_TOTAL_SCORE = frozenset({"hoos"})
DrugClass = Literal["nsaid", "opioid", "paracetamol", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Procedure(_Strict):
    """A treatment given on a date, e.g. an ultrasound-guided injection into the right hip."""

    date: dt.date
    type: str = Field(min_length=1, description="e.g. 'adipose-derived cell injection'")
    target: str = Field(min_length=1, description="e.g. 'right hip joint', 'L4-L5 facets'")
    guidance: str | None = Field(default=None, description="e.g. 'ultrasound'")
    note: str | None = None


class PainRating(_Strict):
    """One NPRS rating (0–10) of one region; ``score`` null = asked but not answered.

    ``region`` is a pain-map region or ``unspecified`` (the record did not say where:
    :data:`~hipspine.clinical.vocabulary.SITE_NOT_RECORDED`), which has no side.
    """

    region: str = Field(json_schema_extra={"enum": list(rated_regions())})
    side: Side | None = None
    score: Annotated[int | None, Field(ge=0, le=10)]
    recall: Literal["now", "past_24_hours", "past_week"] = "past_week"

    @model_validator(mode="after")
    def _known(self) -> PainRating:
        if self.region not in rated_regions():
            raise ValueError(
                f"unknown region {self.region!r}; allowed: {', '.join(rated_regions())}"
            )
        allowed = regions()[self.region].sides if self.region in regions() else ()
        if self.side is not None and self.side not in allowed:
            raise ValueError(
                f"side {self.side.value!r} is not used for region {self.region!r}; "
                f"allowed: {', '.join(s.value for s in allowed) or 'none (leave it out)'}"
            )
        instruments.score(
            "nprs", {"region": self.region, "recall": self.recall, "pain": self.score}
        )
        return self


class Questionnaire(_Strict):
    """One completed questionnaire: its ``answers``, or its ``score`` and/or ``subscales``."""

    instrument: str = Field(json_schema_extra={"enum": list(CHANGE_INSTRUMENTS)})
    answers: dict[str, Any] | None = Field(
        default=None, description="item id → answer, scored with the instrument's own scorer"
    )
    score: float | None = Field(default=None, description="an already computed total score")
    subscales: dict[str, float | None] | None = Field(
        default=None, description="already computed subscale scores (HOOS: pain, adl …)"
    )

    @model_validator(mode="after")
    def _valid(self) -> Questionnaire:
        if self.instrument == "nprs":
            raise ValueError("record NPRS ratings in the visit's 'pain' list, one per region")
        if self.instrument == "psfs":
            raise ValueError("record PSFS ratings in the visit's 'psfs' object by activity name")
        if self.instrument not in CHANGE_INSTRUMENTS:
            raise ValueError(
                f"unknown instrument {self.instrument!r}; allowed: {', '.join(CHANGE_INSTRUMENTS)}"
            )
        given = self.score is not None or self.subscales is not None
        if (self.answers is None) == (not given):
            raise ValueError("give either 'answers' or 'score'/'subscales', not both or neither")
        definition = instruments.get(self.instrument)
        if self.instrument in NO_TOTAL_SCORE and self.score is not None:
            raise ValueError(
                f"score: the {definition.short_name} has no total score (its manual scores "
                f"{len(definition.subscales)} subscales only); give 'subscales' instead: "
                f"{', '.join(sub.id for sub in definition.subscales)}"
            )
        if self.answers is not None:
            try:
                instruments.score(self.instrument, self.answers)
            except InvalidAnswers as error:
                raise ValueError(str(error)) from None
            return self
        low, high = definition.score_min, definition.score_max
        if self.score is not None and not low <= self.score <= high:
            raise ValueError(f"score {self.score:g} is outside {low:g}–{high:g}")
        known = {s.id for s in definition.subscales}
        for name, value in (self.subscales or {}).items():
            if name not in known:
                raise ValueError(
                    f"{self.instrument} has no subscale {name!r}; allowed: "
                    f"{', '.join(sorted(known)) or 'none'}"
                )
            top = high if self.instrument != "start_back" else 5.0
            if value is not None and not low <= value <= top:
                raise ValueError(f"subscale {name!r}: {value:g} is outside {low:g}–{top:g}")
        return self

    def values(self) -> dict[str, float | None]:
        """Return the score and subscale values by scope (``"score"``, ``"pain"`` …)."""
        if self.answers is not None:
            result = instruments.score(self.instrument, self.answers)
            found: dict[str, float | None] = {"score": result.value}
            found.update({k: s.value for k, s in result.subscales.items()})
            return found
        found = {"score": self.score}
        found.update(self.subscales or {})
        return found


class Dynamometry(_Strict):
    """One hand-held dynamometry reading (see :class:`hipspine.clinical.strength.DynamometryReading`)."""

    muscle: str = Field(json_schema_extra={"enum": list(muscles())})
    side: Literal["left", "right"] | None = None
    action: str
    position: str
    force: float
    unit: Literal["N", "kgf"]
    lever_arm_m: float | None = None
    body_mass_kg: float | None = None

    @model_validator(mode="after")
    def _valid(self) -> Dynamometry:
        self.reading()
        return self

    def reading(self) -> DynamometryReading:
        """Return the validated reading of the strength module."""
        return DynamometryReading(
            self.muscle,
            self.side,
            self.action,
            self.position,
            self.force,
            self.unit,
            self.lever_arm_m,
            self.body_mass_kg,
        )


class FunctionTests(_Strict):
    """Physical function tests of one visit; a test not done stays null (unknown)."""

    six_minute_walk_m: Annotated[float | None, Field(ge=0, le=1500)] = None
    chair_stand_30s: Annotated[int | None, Field(ge=0, le=80)] = None
    gait_speed_m_s: Annotated[float | None, Field(ge=0, le=3)] = None


class MedicationUse(_Strict):
    """How often a medication was taken around this visit, in days per week."""

    name: str = Field(min_length=1)
    drug_class: DrugClass
    days_per_week: Annotated[float, Field(ge=0, le=7)]
    dose: str | None = None


class Goal(_Strict):
    """A functional goal with its target date; ``id`` is used by the visits' goal ratings."""

    id: str = Field(min_length=1)
    description: str = Field(min_length=1)
    set_on: dt.date
    target_date: dt.date
    psfs_activity: str | None = None
    level_descriptions: dict[int, str] = Field(default_factory=dict)
    weight: float = 1.0

    @model_validator(mode="after")
    def _valid(self) -> Goal:
        self.functional_goal()
        return self

    def functional_goal(self) -> FunctionalGoal:
        """Return the goal of the goals module."""
        return FunctionalGoal(
            self.description,
            self.target_date,
            self.set_on,
            self.psfs_activity,
            dict(self.level_descriptions),
            self.weight,
        )


class Visit(_Strict):
    """Everything measured at one dated visit. Anything not recorded is unknown."""

    date: dt.date
    label: str | None = None
    pain: tuple[PainRating, ...] = ()
    questionnaires: tuple[Questionnaire, ...] = ()
    psfs: dict[str, Annotated[int, Field(ge=0, le=10)]] | None = Field(
        default=None, description="patient-named activity → 0 (unable) … 10 (pre-injury level)"
    )
    mmt: tuple[MuscleTest, ...] = ()
    dynamometry: tuple[Dynamometry, ...] = ()
    function: FunctionTests = FunctionTests()
    goal_ratings: dict[str, int] = Field(default_factory=dict)
    medications: tuple[MedicationUse, ...] | None = Field(
        default=None, description="null = not asked (unknown); [] = no medication taken"
    )
    patient_global: Annotated[float | None, Field(ge=0, le=10)] = None

    @model_validator(mode="after")
    def _no_duplicates(self) -> Visit:
        seen_pain: set[tuple[str, Side | None]] = set()
        for i, rating in enumerate(self.pain):
            if (rating.region, rating.side) in seen_pain:
                raise ValueError(f"pain.{i}: {rating.region!r} is rated twice for the same side")
            seen_pain.add((rating.region, rating.side))
        seen_forms: set[str] = set()
        for i, form in enumerate(self.questionnaires):
            if form.instrument in seen_forms:
                raise ValueError(f"questionnaires.{i}: {form.instrument!r} is recorded twice")
            seen_forms.add(form.instrument)
        if self.psfs is not None and not 1 <= len(self.psfs) <= 5:
            raise ValueError("psfs: rate 1 to 5 activities (Stratford 1995)")
        tested: set[tuple[str, str | None]] = set()
        for i, test in enumerate(self.mmt):
            for side in sides_of(test):
                if (test.muscle, side) in tested:
                    raise ValueError(f"mmt.{i}: {test.muscle!r} is graded twice on side {side}")
                tested.add((test.muscle, side))
        for goal_id, level in self.goal_ratings.items():
            try:
                AttainmentLevel.parse(level)
            except ValueError as error:
                raise ValueError(f"goal_ratings.{goal_id}: {error}") from None
        names = [m.name.casefold() for m in self.medications or ()]
        if len(names) != len(set(names)):
            raise ValueError("medications: a medication is listed twice")
        readings: set[tuple[str, str | None, str, str]] = set()
        for i, entry in enumerate(self.dynamometry):
            key = (entry.muscle, entry.side, entry.action, entry.position)
            if key in readings:
                raise ValueError(
                    f"dynamometry.{i}: {entry.muscle} {entry.side or ''} {entry.action} "
                    f"({entry.position}) is recorded twice; record the best (peak) reading once"
                )
            readings.add(key)
        return self


def sides_of(test: MuscleTest) -> tuple[Literal["left", "right"] | None, ...]:
    """A lateral muscle graded 'bilateral' stands for the same grade on each side."""
    if not muscles()[test.muscle].lateral:
        return (None,)
    if test.side is Side.LEFT:
        return ("left",)
    if test.side is Side.RIGHT:
        return ("right",)
    return ("left", "right")


class Series(_Strict):
    """A patient's measurements from baseline onwards (format ``hipspine.series/1``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "$id": "https://hipspine.org/schema/series/1",
            "title": "hipspine measurement series",
        },
    )

    format: Literal["hipspine.series/1"] = SERIES_FORMAT
    patient: Patient = Patient()
    baseline_date: dt.date = Field(description="date of the baseline visit; a visit must have it")
    procedures: tuple[Procedure, ...] = ()
    goals: tuple[Goal, ...] = ()
    visits: tuple[Visit, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Series:
        dates = [v.date for v in self.visits]
        if len(dates) != len(set(dates)):
            raise ValueError("visits: two visits share a date; merge them into one")
        if self.baseline_date not in dates:
            raise ValueError(f"baseline_date {self.baseline_date}: no visit has this date")
        if min(dates) < self.baseline_date:
            raise ValueError(f"visits: a visit is dated before baseline_date {self.baseline_date}")
        lever: dict[tuple[str, str, str], tuple[bool, str]] = {}
        for i, visit in enumerate(self.visits):
            for j, entry in enumerate(visit.dynamometry):
                # Torque (with lever arm) and force (without) cannot be compared, over time
                # or side to side, so a test is recorded with a lever arm always or never.
                test = (entry.muscle, entry.action, entry.position)
                has = entry.lever_arm_m is not None
                where = f"visits.{i}.dynamometry.{j}"
                if test in lever and lever[test][0] != has:
                    raise ValueError(
                        f"{where}.lever_arm_m: {entry.muscle} {entry.action} ({entry.position}) "
                        f"is recorded {'with' if has else 'without'} a lever arm here but "
                        f"{'with' if lever[test][0] else 'without'} one at {lever[test][1]}; "
                        "record the lever arm every time or never, so readings compare"
                    )
                lever.setdefault(test, (has, where))
        goal_ids = {g.id for g in self.goals}
        if len(goal_ids) != len(self.goals):
            raise ValueError("goals: two goals share an id")
        for i, visit in enumerate(self.visits):
            for goal_id in visit.goal_ratings:
                if goal_id not in goal_ids:
                    raise ValueError(
                        f"visits.{i}.goal_ratings: unknown goal {goal_id!r}; "
                        f"allowed: {', '.join(sorted(goal_ids)) or 'none (no goals)'}"
                    )
        return self

    @property
    def treatment_date(self) -> dt.date:
        """The first procedure's date, or the baseline date when no procedure is recorded."""
        return min((p.date for p in self.procedures), default=self.baseline_date)

    @property
    def ordered_visits(self) -> tuple[Visit, ...]:
        """The visits in date order."""
        return tuple(sorted(self.visits, key=lambda v: v.date))


class SeriesError(ValueError):
    """A series that does not follow the format; ``problems`` names each bad field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid series:\n" + "\n".join(f"  - {p}" for p in problems))


def parse_series(data: Any) -> Series:
    """Return the validated series, or raise :class:`SeriesError` naming every bad field."""
    try:
        return Series.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "series"
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise SeriesError(problems) from None


def series_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the series format ``hipspine.series/1``."""
    schema = Series.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
