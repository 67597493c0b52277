"""A patient's recovery trajectory: change from baseline against published thresholds.

Input is a *series* (:mod:`hipspine.clinical.series`, format ``hipspine.series/1``): the
patient, the baseline date, procedures, goals and dated visits.

:func:`trajectory` returns, for every measure, the change from baseline at each visit and
whether it meets the preferred minimal clinically important difference (MCID; each instrument's
values and sources in ``data/instruments/``) and reaches the minimal detectable change (MDC);
responder status per instrument; the OMERACT-OARSI responder (Pham et al., *Osteoarthritis
Cartilage* 2004;12:389-399 — definition text **unverified**); time to first
clinically important improvement per pain region and whether it was sustained; strength
(MRC grades, dynamometry change, left/right asymmetry per muscle and visit against the limb
symmetry index's measurement error, and N·m/kg and % body weight when body mass is known),
function, goal and medication changes; cautions such as mixed NPRS recall periods; and the
follow-up schedule status (default or a clinic's own time points).

Rules (``data/responders.toml``):

* only thresholds with ``verified = True`` may make a change *clinically important*; a change
  that meets only an unverified threshold is reported as such;
* when an instrument lists both an absolute and a relative (30% of baseline) MCID, the change
  must meet both (Ostelo et al., *Spine* 2008;33:90-94 values; the "both" reading is hipspine's
  conservative choice);
* a change is beyond measurement error when it is **at least** the minimal detectable change
  (MDC): the MDC is the smallest change that counts as real;
* a change is clinically important when it is **at least** the MCID **and**, where the
  instrument has a *verified* MDC, not within measurement error (so with an MCID below the
  MDC, a change between the two is reported as meeting the MCID but within measurement
  error, never as clinically important). An unverified MDC is shown but does not decide;
* the Patient-Specific Functional Scale is judged against its single-activity MDC (3 points,
  Stratford 1995) when one activity is rated and for a goal's linked activity, and against
  the average-score MDC (2 points) otherwise;
* unknown stays unknown: a visit without a measure is never read as "no improvement".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from hipspine.clinical import instruments
from hipspine.clinical._data import load
from hipspine.clinical.function_tests import chair_stand_30s, gait_speed, six_minute_walk
from hipspine.clinical.goals import (
    AttainmentLevel,
    GoalProgress,
    GoalRating,
    gas_t_score,
    goal_progress,
    psfs_series,
)
from hipspine.clinical.instruments import ChangeThreshold, Direction
from hipspine.clinical.schedule import (
    ScheduleStatus,
    TimePointRule,
    follow_up_schedule,
    schedule_status,
)
from hipspine.clinical.series import (
    CHANGE_INSTRUMENTS,
    DrugClass,
    MedicationUse,
    Procedure,
    Series,
    SeriesError,
    Visit,
    sides_of,
)
from hipspine.clinical.strength import (
    Asymmetry,
    DynamometryReading,
    NormComparison,
    StrengthChange,
    compare_to_norm,
    grade_change,
    limb_symmetry,
    manual_muscle_test,
    strength_change,
)
from hipspine.clinical.vocabulary import Side, muscles, rated_regions

_EPSILON = 1e-9


# --- results -------------------------------------------------------------------------------

ChangeStatus = Literal[
    "baseline",
    "unknown",
    "clinically important improvement",
    "improvement meeting an unverified threshold",
    "improved, meets the MCID but within measurement error",
    "improved, below the MCID",
    "improved, no MCID available",
    "no change",
    "worse, meets the MCID but within measurement error",
    "worse, below the MCID",
    "worse, no MCID available",
    "worsening meeting an unverified threshold",
    "clinically important worsening",
]
MDCStatus = Literal[
    "improved beyond MDC", "worse beyond MDC", "within measurement error", "no MDC", "unknown"
]
ResponderStatus = Literal[
    "responder",
    "responder by an unverified threshold",
    "non-responder",
    "no MCID available",
    "unknown",
]


@dataclass(frozen=True)
class ThresholdCheck:
    """Whether one change met one published threshold, in the direction of the change."""

    kind: str
    value: float
    unit: str
    source: str
    verified: bool
    met: bool | None


@dataclass(frozen=True)
class ChangePoint:
    """One visit of one measure: value, change from baseline and its clinical meaning.

    ``change`` is after − before on the score's scale; ``improvement`` is the same change
    signed so that positive means better (``Direction.improvement``); ``percent_improvement``
    is ``improvement / |baseline| × 100`` (``None`` when the baseline is 0). ``mdc`` is the
    minimal detectable change this visit was judged against (PSFS: the single-activity MDC
    when one activity was rated), ``None`` when the instrument has none.
    """

    date: dt.date
    weeks_since_treatment: float
    value: float | None
    change: float | None
    improvement: float | None
    percent_improvement: float | None
    status: ChangeStatus
    mcid_checks: tuple[ThresholdCheck, ...]
    mdc_status: MDCStatus
    mdc: ChangeThreshold | None = None

    @property
    def clinically_important(self) -> bool | None:
        """True at a verified clinically important improvement; ``None`` when unknown."""
        if self.status in ("unknown", "baseline"):
            return None
        return self.status == "clinically important improvement"


@dataclass(frozen=True)
class Responder:
    """Responder status of one measure at its latest recorded visit after baseline."""

    status: ResponderStatus
    date: dt.date | None
    reason: str


@dataclass(frozen=True)
class MeasureTrajectory:
    """One measure (an NPRS region, an instrument or subscale) from baseline to the last visit.

    ``warnings`` names anything that weakens the comparison between visits (e.g. NPRS
    ratings given with different recall periods).
    """

    key: str
    label: str
    instrument_id: str
    scope: str
    region: str | None
    side: str | None
    direction: Direction
    baseline: float | None
    points: tuple[ChangePoint, ...]
    mcids: tuple[ChangeThreshold, ...]
    mdc: ChangeThreshold | None
    responder: Responder
    warnings: tuple[str, ...] = ()

    def latest_known(self) -> ChangePoint | None:
        """The last visit after baseline with a recorded value, or ``None``."""
        known = [p for p in self.points if p.status not in ("baseline", "unknown")]
        return known[-1] if known else None


@dataclass(frozen=True)
class FirstImprovement:
    """Time to the first clinically important improvement of one pain region after treatment.

    ``date`` and ``weeks_since_treatment`` are ``None`` when no visit reached it.
    ``sustained`` is ``True`` when every later visit kept a clinically important improvement,
    ``False`` when a later recorded visit lost it, and ``None`` when a later visit did not
    record the region or there is no later visit. ``unknown_before`` lists earlier visits
    after treatment that did not record the region: the improvement may have come sooner.
    """

    key: str
    label: str
    region: str
    side: str | None
    date: dt.date | None
    days_since_treatment: int | None
    weeks_since_treatment: float | None
    baseline: float | None
    value: float | None
    sustained: bool | None
    sustained_reason: str
    unknown_before: tuple[dt.date, ...]


@dataclass(frozen=True)
class DomainChange:
    """One OMERACT-OARSI domain, normalised to 0–100 with higher = worse."""

    domain: str
    measure: str
    baseline: float | None
    value: float | None
    absolute: float | None
    relative_percent: float | None
    high: bool | None
    moderate: bool | None


@dataclass(frozen=True)
class OmeractOarsi:
    """OMERACT-OARSI responder status at one visit (definition text unverified)."""

    date: dt.date
    responder: bool | None
    criterion: str
    domains: tuple[DomainChange, ...]
    label: str
    source: str


@dataclass(frozen=True)
class MuscleTrajectory:
    """MRC grades of one muscle and side from baseline; ``steps`` is latest − baseline rank."""

    muscle: str
    label: str
    side: str | None
    grades: tuple[tuple[dt.date, str | None], ...]
    baseline: str | None
    latest: str | None
    latest_date: dt.date | None
    steps: int | None
    direction: str
    note: str


@dataclass(frozen=True)
class DynamometryPoint:
    """One dynamometry reading at one visit with its normalised values.

    ``quantity`` is ``"torque"`` (N·m, force × lever arm) when the lever arm is known, else
    ``"force"`` (N). ``torque_nm_per_kg`` needs the lever arm and body mass;
    ``percent_body_weight`` = force / (mass × 9.80665) × 100 needs the body mass, taken from
    the reading or else from the patient record (``body_mass_source`` says which). ``norm``
    is the comparison with a verified HHD norm, or the reason there is none
    (:func:`hipspine.clinical.strength.compare_to_norm`).
    """

    date: dt.date
    muscle: str
    side: str | None
    action: str
    position: str
    quantity: Literal["torque", "force"]
    value: float
    unit: str
    force_n: float
    torque_nm: float | None
    torque_nm_per_kg: float | None
    percent_body_weight: float | None
    body_mass_kg: float | None
    body_mass_source: Literal["reading", "patient record", "not recorded"]
    norm: NormComparison


@dataclass(frozen=True)
class SideToSide:
    """Left and right dynamometry of one muscle, action and position at one visit.

    ``asymmetry`` carries the limb symmetry index (weaker / stronger × 100), the asymmetry
    in % and whether it reaches the LSI measurement error (MDC about 27%, hip strength
    battery preprint rs-9252188): only then is it a *possible* deficit; a smaller
    difference is within measurement error and is never called a deficit.
    """

    date: dt.date
    weeks_since_treatment: float
    muscle: str
    label: str
    action: str
    position: str
    left: DynamometryPoint
    right: DynamometryPoint
    asymmetry: Asymmetry


@dataclass(frozen=True)
class FunctionTrajectory:
    """One function test from baseline: values, their norm comparison and the change."""

    test: str
    label: str
    unit: str
    values: tuple[tuple[dt.date, float | None, str], ...]
    baseline: float | None
    latest: float | None
    latest_date: dt.date | None
    change: float | None
    note: str


@dataclass(frozen=True)
class GoalTrajectory:
    """A goal's GAS ratings, linked PSFS activity and progress towards its target date.

    ``psfs_change`` judges the linked activity's change from baseline against the PSFS
    single-activity MDC (3 points; Stratford 1995); ``None`` without a linked activity.
    """

    id: str
    description: str
    target_date: dt.date
    progress: GoalProgress
    gas: tuple[tuple[dt.date, int | None], ...]
    t_scores: tuple[tuple[dt.date, float], ...]
    psfs: tuple[tuple[dt.date, float | None], ...]
    psfs_activity: str | None = None
    psfs_change: MeasureTrajectory | None = None


@dataclass(frozen=True)
class MedicationChange:
    """Days per week of one medication (or of a drug class) at baseline and latest record."""

    name: str
    drug_class: str
    baseline: float | None
    latest: float | None
    latest_date: dt.date | None
    change: float | None


@dataclass(frozen=True)
class Trajectory:
    """The whole trajectory of one patient's series on ``today``."""

    patient_id: str | None
    baseline_date: dt.date
    treatment_date: dt.date
    procedures: tuple[Procedure, ...]
    today: dt.date
    visit_dates: tuple[dt.date, ...]
    pain: tuple[MeasureTrajectory, ...]
    questionnaires: tuple[MeasureTrajectory, ...]
    first_improvements: tuple[FirstImprovement, ...]
    global_ratings: tuple[tuple[dt.date, float, str], ...]
    omeract_oarsi: tuple[OmeractOarsi, ...]
    strength: tuple[MuscleTrajectory, ...]
    dynamometry: tuple[StrengthChange, ...]
    dynamometry_readings: tuple[DynamometryPoint, ...]
    side_to_side: tuple[SideToSide, ...]
    function: tuple[FunctionTrajectory, ...]
    goals: tuple[GoalTrajectory, ...]
    medications: tuple[MedicationChange, ...]
    nsaid: MedicationChange | None
    schedule: ScheduleStatus
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def weeks_since_treatment(self, day: dt.date) -> float:
        """Weeks from the treatment date to ``day`` (days / 7)."""
        return (day - self.treatment_date).days / 7


# --- rules ---------------------------------------------------------------------------------


@cache
def _rules() -> dict[str, Any]:
    return load("responders")


def _at_least(value: float, threshold: float) -> bool:
    return value >= threshold - _EPSILON


def _meets(threshold: ChangeThreshold, baseline: float, gain: float) -> bool:
    """Whether a change of ``gain`` (in the wanted direction, > 0) meets ``threshold``."""
    if threshold.unit == "points":
        return _at_least(gain, threshold.value)
    if baseline == 0:
        return gain > 0
    return _at_least(gain / abs(baseline) * 100.0, threshold.value)


def _combine(results: Sequence[bool]) -> bool:
    combination = _rules()["mcid"]["combination"]
    return all(results) if combination == "all" else any(results)


def _within_error(mdc: ChangeThreshold | None, baseline: float, gain: float) -> bool:
    """Whether a change of ``gain`` (> 0) is smaller than a *verified* MDC.

    Only a verified MDC may stop a change from counting as clinically important; an
    unverified one is reported (``mdc_status``) but does not decide.
    """
    return mdc is not None and mdc.verified and not _meets(mdc, baseline, gain)


def _status(
    baseline: float,
    improvement: float,
    verified: Sequence[ChangeThreshold],
    unverified: Sequence[ChangeThreshold],
    mdc: ChangeThreshold | None = None,
) -> tuple[ChangeStatus, tuple[ThresholdCheck, ...]]:
    """Grade one change: clinically important only when the verified MCID is met **and**
    the change is not within the error of a verified MDC (``data/responders.toml``)."""
    gain = abs(improvement)
    checks = tuple(
        ThresholdCheck(t.kind, t.value, t.unit, t.source, t.verified, _meets(t, baseline, gain))
        for t in (*verified, *unverified)
    )
    if abs(improvement) <= _EPSILON:
        return "no change", checks
    better = improvement > 0
    within = _within_error(mdc, baseline, gain)
    if verified or unverified:
        met = _combine([_meets(t, baseline, gain) for t in (verified or unverified)])
        if not met:
            return ("improved, below the MCID" if better else "worse, below the MCID"), checks
        if within:
            return (
                "improved, meets the MCID but within measurement error"
                if better
                else "worse, meets the MCID but within measurement error"
            ), checks
        if verified:
            return (
                "clinically important improvement" if better else "clinically important worsening"
            ), checks
        return (
            "improvement meeting an unverified threshold"
            if better
            else "worsening meeting an unverified threshold"
        ), checks
    return ("improved, no MCID available" if better else "worse, no MCID available"), checks


def _mdc_status(mdc: ChangeThreshold | None, baseline: float, improvement: float) -> MDCStatus:
    """Beyond measurement error when the change is **at least** the MDC (the smallest change
    that counts as real); an unverified MDC is still reported, flagged by the caller."""
    if mdc is None:
        return "no MDC"
    if abs(improvement) <= _EPSILON or not _meets(mdc, baseline, abs(improvement)):
        return "within measurement error"
    return "improved beyond MDC" if improvement > 0 else "worse beyond MDC"


def measure_trajectory(
    *,
    key: str,
    label: str,
    instrument_id: str,
    scope: str,
    values: Sequence[tuple[dt.date, float | None]],
    baseline_date: dt.date,
    treatment_date: dt.date,
    region: str | None = None,
    side: str | None = None,
    mdc_by_date: Mapping[dt.date, ChangeThreshold] | None = None,
    warnings: Sequence[str] = (),
) -> MeasureTrajectory:
    """Return the change from baseline of one measure at each visit, judged against thresholds.

    ``values`` holds one (date, value) per visit, ``None`` where the measure was not
    recorded. The preferred MCID entries (kinds mcid, mcii, mid) and MDC of the instrument
    or subscale come from its data file (:func:`instruments.change_thresholds`); only
    verified ones make a change clinically important, and only when the change is at least
    a verified MDC (rules in ``data/responders.toml``; values cited there, e.g. NPRS MCID
    2 points and 30%, Ostelo et al., Spine 2008;33:90-94, and MDC 2 points, Childs et al.,
    Spine 2005;30:1331-1334). ``mdc_by_date`` replaces the MDC at the visits it names (the
    PSFS single-activity MDC when one activity was rated).
    """
    thresholds = instruments.change_thresholds(instrument_id, None if scope == "score" else scope)
    direction = thresholds.direction
    mcids = thresholds.preferred("mcid", "mcii", "mid")
    verified = tuple(t for t in mcids if t.verified)
    unverified = tuple(t for t in mcids if not t.verified)
    mdcs = thresholds.preferred("mdc")
    mdc = mdcs[0] if mdcs else None
    by_date = dict(values)
    baseline = by_date.get(baseline_date)
    points: list[ChangePoint] = []
    for day, value in sorted(values):
        weeks = (day - treatment_date).days / 7
        if day == baseline_date:
            points.append(
                ChangePoint(day, weeks, value, None, None, None, "baseline", (), "unknown")
            )
            continue
        if value is None or baseline is None:
            points.append(
                ChangePoint(day, weeks, value, None, None, None, "unknown", (), "unknown")
            )
            continue
        improvement = direction.improvement(baseline, value)
        percent = None if baseline == 0 else improvement / abs(baseline) * 100.0
        point_mdc = (mdc_by_date or {}).get(day, mdc)
        status, checks = _status(baseline, improvement, verified, unverified, point_mdc)
        points.append(
            ChangePoint(
                day,
                weeks,
                value,
                value - baseline,
                improvement,
                percent,
                status,
                checks,
                _mdc_status(point_mdc, baseline, improvement),
                point_mdc,
            )
        )
    result = MeasureTrajectory(
        key,
        label,
        instrument_id,
        scope,
        region,
        side,
        direction,
        baseline,
        tuple(points),
        mcids,
        mdc,
        Responder("unknown", None, ""),
        tuple(warnings),
    )
    return _with_responder(result)


def _with_responder(measure: MeasureTrajectory) -> MeasureTrajectory:
    latest = measure.latest_known()
    if measure.baseline is None:
        responder = Responder("unknown", None, "no baseline value")
    elif latest is None:
        responder = Responder("unknown", None, "not recorded after baseline")
    elif not measure.mcids:
        responder = Responder("no MCID available", latest.date, "the instrument lists no MCID")
    elif latest.status == "clinically important improvement":
        responder = Responder("responder", latest.date, "verified MCID met at the latest visit")
    elif latest.status == "improvement meeting an unverified threshold":
        responder = Responder(
            "responder by an unverified threshold",
            latest.date,
            "only an unverified MCID was met; not called clinically important",
        )
    else:
        responder = Responder("non-responder", latest.date, f"latest change: {latest.status}")
    return MeasureTrajectory(**{**measure.__dict__, "responder": responder})


# --- pain regions and time to improvement --------------------------------------------------


def _pain_key(region: str, side: Side | None) -> str:
    return f"nprs:{region}" if side is None else f"nprs:{region}:{side.value}"


def _pain_label(region: str, side: Side | None) -> str:
    name = rated_regions()[region]
    if side in (Side.LEFT, Side.RIGHT, Side.BILATERAL):
        return f"{name} ({side.value})"
    return name


def _pain_measures(series: Series) -> tuple[MeasureTrajectory, ...]:
    visits = series.ordered_visits
    keys: dict[tuple[str, Side | None], None] = {}
    for visit in visits:
        for rating in visit.pain:
            keys.setdefault((rating.region, rating.side), None)
    order = list(rated_regions())
    measures = []
    for region, side in sorted(keys, key=lambda k: (order.index(k[0]), str(k[1]))):
        values: list[tuple[dt.date, float | None]] = []
        recalls: dict[str, list[dt.date]] = {}
        for visit in visits:
            found = next(
                (r for r in visit.pain if (r.region, r.side) == (region, side)),
                None,
            )
            values.append(
                (visit.date, None if found is None or found.score is None else float(found.score))
            )
            if found is not None and found.score is not None:
                recalls.setdefault(found.recall, []).append(visit.date)
        warnings = []
        if len(recalls) > 1:
            # A rating of pain "now" and one over the past week are not the same measure;
            # the core outcome set asks for 1-week recall (Chiarotto et al., Pain 2018).
            listed = "; ".join(
                f"{recall.replace('_', ' ')} on {', '.join(d.isoformat() for d in days)}"
                for recall, days in recalls.items()
            )
            warnings.append(
                f"{_pain_label(region, side)}: NPRS recall periods differ between visits "
                f"({listed}); part of the change may come from the recall period."
            )
        measures.append(
            measure_trajectory(
                key=_pain_key(region, side),
                label=_pain_label(region, side),
                instrument_id="nprs",
                scope="score",
                values=values,
                baseline_date=series.baseline_date,
                treatment_date=series.treatment_date,
                region=region,
                side=None if side is None else side.value,
                warnings=warnings,
            )
        )
    return tuple(measures)


def first_improvement(measure: MeasureTrajectory, treatment_date: dt.date) -> FirstImprovement:
    """Return when a measure first reached a clinically important improvement after treatment.

    Searches visits dated after ``treatment_date`` in order; weeks = days / 7. Sustained
    means every later visit also shows a clinically important improvement; a later visit
    without the measure makes ``sustained`` unknown (``None``), never ``False``.
    """
    after = [p for p in measure.points if p.date > treatment_date and p.status != "baseline"]
    unknown_before: list[dt.date] = []
    first: ChangePoint | None = None
    for point in after:
        if point.clinically_important:
            first = point
            break
        if point.clinically_important is None:
            unknown_before.append(point.date)
    region = measure.region or measure.key
    if first is None:
        return FirstImprovement(
            measure.key,
            measure.label,
            region,
            measure.side,
            None,
            None,
            None,
            measure.baseline,
            None,
            None,
            "no clinically important improvement recorded",
            tuple(unknown_before),
        )
    later = [p for p in after if p.date > first.date]
    sustained: bool | None
    if not later:
        sustained, reason = None, "no later visit yet"
    elif any(p.clinically_important is False for p in later):
        lost = next(p for p in later if p.clinically_important is False)
        sustained, reason = False, f"lost at {lost.date.isoformat()} ({lost.status})"
    elif any(p.clinically_important is None for p in later):
        missing = next(p for p in later if p.clinically_important is None)
        sustained, reason = None, f"not recorded at {missing.date.isoformat()}"
    else:
        sustained, reason = True, f"kept at all {len(later)} later visit(s)"
    days = (first.date - treatment_date).days
    return FirstImprovement(
        measure.key,
        measure.label,
        region,
        measure.side,
        first.date,
        days,
        days / 7,
        measure.baseline,
        first.value,
        sustained,
        reason,
        tuple(unknown_before),
    )


def time_to_improvement(
    series: Series, region: str, side: Side | str | None = None
) -> FirstImprovement:
    """Return the time to first clinically important NPRS improvement of one region.

    Thresholds: NPRS MCID 2 points and 30% of baseline (Ostelo et al., Spine 2008;33:90-94),
    both required (``data/responders.toml``). Raises ``KeyError`` when the series never rates
    that region (and side).
    """
    wanted = None if side is None else Side(side)
    for measure in _pain_measures(series):
        if measure.region == region and (wanted is None or measure.side == wanted.value):
            return first_improvement(measure, series.treatment_date)
    raise KeyError(f"the series has no NPRS rating of region {region!r}")


# --- questionnaires ------------------------------------------------------------------------


def _questionnaire_measures(series: Series) -> tuple[MeasureTrajectory, ...]:
    visits = series.ordered_visits
    per_visit = [
        {f.instrument: f.values() for f in visit.questionnaires if f.instrument != "groc"}
        for visit in visits
    ]
    measures = []
    for instrument_id in CHANGE_INSTRUMENTS:
        if instrument_id == "groc" or not any(instrument_id in v for v in per_visit):
            continue
        definition = instruments.get(instrument_id)
        scopes = ["score"] if instrument_id != "hoos" else []
        scopes += [s.id for s in definition.subscales]
        for scope in scopes:
            values = [
                (visit.date, found.get(instrument_id, {}).get(scope))
                for visit, found in zip(visits, per_visit, strict=True)
            ]
            if all(v is None for _, v in values):
                continue
            name = (
                definition.short_name
                if scope == "score"
                else (
                    f"{definition.short_name} {next(s.name for s in definition.subscales if s.id == scope)}"
                )
            )
            measures.append(
                measure_trajectory(
                    key=instrument_id if scope == "score" else f"{instrument_id}:{scope}",
                    label=name,
                    instrument_id=instrument_id,
                    scope=scope,
                    values=values,
                    baseline_date=series.baseline_date,
                    treatment_date=series.treatment_date,
                )
            )
    psfs = [
        (
            visit.date,
            None
            if visit.psfs is None
            else instruments.score(
                "psfs", {f"activity_{i + 1}": v for i, v in enumerate(visit.psfs.values())}
            ).value,
        )
        for visit in visits
    ]
    if any(v is not None for _, v in psfs):
        rated = {v.date: len(v.psfs) for v in visits if v.psfs is not None}
        single = _psfs_single_activity_mdc()
        # With one activity the score is that activity's rating, so its change is read
        # against the single-activity MDC (Stratford 1995), at the baseline or the visit.
        mdc_by_date = {
            day: single
            for day, count in rated.items()
            if count == 1 or rated.get(series.baseline_date) == 1
        }
        measures.append(
            measure_trajectory(
                key="psfs",
                label="PSFS (mean of activities)",
                instrument_id="psfs",
                scope="score",
                values=psfs,
                baseline_date=series.baseline_date,
                treatment_date=series.treatment_date,
                mdc_by_date=mdc_by_date,
            )
        )
    return tuple(measures)


def _psfs_single_activity_mdc() -> ChangeThreshold:
    """The PSFS single-activity MDC (3 points, MDC90; Stratford et al., Physiother Can 1995)."""
    return instruments.change_thresholds("psfs", "single_item").preferred("mdc")[0]


def _global_ratings(series: Series) -> tuple[tuple[dt.date, float, str], ...]:
    found = []
    for visit in series.ordered_visits:
        for form in visit.questionnaires:
            if form.instrument == "groc":
                value = form.values()["score"]
                if value is not None:
                    band = instruments.get("groc").band_for(value)
                    found.append((visit.date, value, band.label if band else ""))
    return tuple(found)


# --- OMERACT-OARSI -------------------------------------------------------------------------


def _normalised_sources(
    series: Series, measures: Mapping[str, MeasureTrajectory]
) -> dict[str, tuple[str, list[tuple[dt.date, float | None]]]]:
    transforms: dict[str, Callable[[float], float]] = {
        "100_minus": lambda x: 100.0 - x,
        "times_10": lambda x: 10.0 * x,
    }
    chosen: dict[str, tuple[str, list[tuple[dt.date, float | None]]]] = {}
    for source in _rules()["omeract_oarsi"]["source_of"]:
        domain, measure_key = source["domain"], source["measure"]
        if domain in chosen:
            continue
        transform = transforms[source["transform"]]
        raw: list[tuple[dt.date, float | None]]
        if measure_key == "patient_global":
            raw = [(v.date, v.patient_global) for v in series.ordered_visits]
        else:
            matches = [
                m
                for k, m in measures.items()
                if k == measure_key or k.startswith(measure_key + ":")
            ]
            if len(matches) != 1:
                continue
            raw = [(p.date, p.value) for p in matches[0].points]
        base = dict(raw).get(series.baseline_date)
        if base is None:
            continue
        chosen[domain] = (
            measure_key,
            [(day, None if value is None else transform(value)) for day, value in raw],
        )
    return chosen


def _domain(domain: str, measure: str, baseline: float | None, value: float | None) -> DomainChange:
    rules = _rules()["omeract_oarsi"]
    if baseline is None or value is None:
        return DomainChange(domain, measure, baseline, value, None, None, None, None)
    absolute = baseline - value  # higher = worse, so a fall is an improvement
    relative = None if baseline == 0 else absolute / baseline * 100.0
    rel = relative if relative is not None else (math.inf if absolute > 0 else 0.0)
    high = _at_least(rel, rules["high_relative_percent"]) and _at_least(
        absolute, rules["high_absolute"]
    )
    moderate = _at_least(rel, rules["moderate_relative_percent"]) and _at_least(
        absolute, rules["moderate_absolute"]
    )
    return DomainChange(domain, measure, baseline, value, absolute, relative, high, moderate)


def omeract_oarsi(domains: Mapping[str, DomainChange], day: dt.date) -> OmeractOarsi:
    """Return the OMERACT-OARSI responder status from pain, function and global changes.

    Responder if pain **or** function improves by ≥ 50% and ≥ 20 (0–100 scale), or if at
    least two of pain, function and patient global improve by ≥ 20% and ≥ 10 (Pham et al.,
    Osteoarthritis Cartilage 2004;12:389-399; **definition text unverified**: the
    paper was not retrieved). A missing domain leaves the answer unknown unless the known domains decide it.
    """
    rules = _rules()["omeract_oarsi"]
    all_domains = [
        domains.get(d) or DomainChange(d, "", None, None, None, None, None, None)
        for d in ("pain", "function", "global")
    ]
    responder: bool | None
    high = [d for d in all_domains[:2] if d.high]
    moderate = [d for d in all_domains if d.moderate]
    unknown = [d for d in all_domains if d.moderate is None]
    needed = int(rules["moderate_domains_needed"])
    if high:
        responder, criterion = True, f"high improvement in {high[0].domain}"
    elif len(moderate) >= needed:
        responder = True
        criterion = f"improvement in {' and '.join(d.domain for d in moderate)}"
    elif any(d.high is None for d in all_domains[:2]) or len(moderate) + len(unknown) >= needed:
        responder = None
        criterion = "unknown: " + ", ".join(d.domain for d in unknown) + " not recorded"
    else:
        responder, criterion = False, "criteria not met"
    return OmeractOarsi(
        day,
        responder,
        criterion,
        tuple(all_domains),
        str(rules["label"]),
        str(rules["source"]),
    )


def _omeract_series(
    series: Series, measures: Mapping[str, MeasureTrajectory]
) -> tuple[OmeractOarsi, ...]:
    sources = _normalised_sources(series, measures)
    if not sources:
        return ()
    results = []
    for visit in series.ordered_visits:
        if visit.date == series.baseline_date:
            continue
        domains = {}
        for domain, (measure, values) in sources.items():
            by_date = dict(values)
            domains[domain] = _domain(
                domain, measure, by_date.get(series.baseline_date), by_date.get(visit.date)
            )
        results.append(omeract_oarsi(domains, visit.date))
    return tuple(results)


# --- strength, function, goals, medication -------------------------------------------------


def _strength(series: Series) -> tuple[MuscleTrajectory, ...]:
    visits = series.ordered_visits
    grades: dict[tuple[str, Literal["left", "right"] | None], dict[dt.date, str]] = {}
    for visit in visits:
        for test in visit.mmt:
            for tested_side in sides_of(test):
                grades.setdefault((test.muscle, tested_side), {})[visit.date] = str(test.grade)
    order = list(muscles())
    result = []
    for (muscle, side), found in sorted(
        grades.items(), key=lambda kv: (order.index(kv[0][0]), str(kv[0][1]))
    ):
        row = tuple((v.date, found.get(v.date)) for v in visits)
        baseline = found.get(series.baseline_date)
        later = [(d, g) for d, g in row if g is not None and d > series.baseline_date]
        latest_date, latest = later[-1] if later else (None, None)
        steps: int | None = None
        direction, note = "unknown", "not graded at baseline and after it"
        if baseline is not None and latest is not None:
            change = grade_change(
                manual_muscle_test(muscle, side, baseline),
                manual_muscle_test(muscle, side, latest),
            )
            steps, direction, note = change.steps, change.direction, change.note
        result.append(
            MuscleTrajectory(
                muscle,
                muscles()[muscle].label,
                side,
                row,
                baseline,
                latest,
                latest_date,
                steps,
                direction,
                note,
            )
        )
    return tuple(result)


def _dynamometry(series: Series) -> tuple[StrengthChange, ...]:
    readings: dict[tuple[str, str | None, str, str], list[tuple[dt.date, DynamometryReading]]] = {}
    for visit in series.ordered_visits:
        for entry in visit.dynamometry:
            key = (entry.muscle, entry.side, entry.action, entry.position)
            readings.setdefault(key, []).append((visit.date, entry.reading()))
    changes = []
    for found in readings.values():
        base = [r for d, r in found if d == series.baseline_date]
        later = [r for d, r in found if d > series.baseline_date]
        if base and later:
            changes.append(strength_change(base[0], later[-1]))
    return tuple(changes)


def _with_body_mass(
    reading: DynamometryReading, series: Series
) -> tuple[DynamometryReading, Literal["reading", "patient record", "not recorded"]]:
    if reading.body_mass_kg is not None:
        return reading, "reading"
    if series.patient.weight_kg is not None:
        return replace(reading, body_mass_kg=series.patient.weight_kg), "patient record"
    return reading, "not recorded"


def _dynamometry_point(
    day: dt.date, reading: DynamometryReading, series: Series
) -> DynamometryPoint:
    weighed, source = _with_body_mass(reading, series)
    torque = weighed.torque_nm
    quantity: Literal["torque", "force"] = "torque" if torque is not None else "force"
    return DynamometryPoint(
        date=day,
        muscle=reading.muscle,
        side=reading.side,
        action=reading.action,
        position=reading.position,
        quantity=quantity,
        value=torque if torque is not None else weighed.force_n,
        unit="N·m" if torque is not None else "N",
        force_n=weighed.force_n,
        torque_nm=torque,
        torque_nm_per_kg=weighed.torque_nm_per_kg,
        percent_body_weight=weighed.percent_body_weight,
        body_mass_kg=weighed.body_mass_kg,
        body_mass_source=source,
        norm=compare_to_norm(weighed, age=series.patient.age, sex=_norm_sex(series)),
    )


def _dynamometry_readings(
    series: Series,
) -> tuple[tuple[DynamometryPoint, ...], tuple[SideToSide, ...]]:
    """Every reading with its normalised values, and each visit's left/right pairs."""
    points: list[DynamometryPoint] = []
    pairs: list[SideToSide] = []
    for visit in series.ordered_visits:
        by_test: dict[
            tuple[str, str, str], dict[str | None, tuple[DynamometryReading, DynamometryPoint]]
        ] = {}
        for entry in visit.dynamometry:
            reading = entry.reading()
            point = _dynamometry_point(visit.date, reading, series)
            points.append(point)
            by_test.setdefault((entry.muscle, entry.action, entry.position), {})[entry.side] = (
                reading,
                point,
            )
        for (muscle, action, position), sides in by_test.items():
            if "left" not in sides or "right" not in sides:
                continue
            (left, left_point), (right, right_point) = sides["left"], sides["right"]
            if left_point.value == 0 and right_point.value == 0:
                continue  # no force on either side: the symmetry index is undefined
            pairs.append(
                SideToSide(
                    date=visit.date,
                    weeks_since_treatment=(visit.date - series.treatment_date).days / 7,
                    muscle=muscle,
                    label=muscles()[muscle].label,
                    action=action,
                    position=position,
                    left=left_point,
                    right=right_point,
                    asymmetry=limb_symmetry(left, right),
                )
            )
    return tuple(points), tuple(pairs)


def _function(series: Series) -> tuple[FunctionTrajectory, ...]:
    sex = _norm_sex(series)
    age = series.patient.age
    norms: dict[str, tuple[str, str, Callable[[float], str]]] = {
        "six_minute_walk_m": ("Six-minute walk", "m", lambda v: _six_minute(v, series)),
        "chair_stand_30s": (
            "30-second chair stand",
            "stands",
            lambda v: _chair(int(v), age, sex),
        ),
        "gait_speed_m_s": (
            "Gait speed",
            "m/s",
            lambda v: _gait(v, age, sex),
        ),
    }
    notes = {
        "six_minute_walk_m": "% of predicted: Enright & Sherrill, Am J Respir Crit Care Med "
        "1998;158:1384-1387. " + str(load("function_norms")["six_minute_walk"]["mcid_note"]),
        "chair_stand_30s": str(load("function_norms")["chair_stand"]["mcid_note"]),
        "gait_speed_m_s": "No hip-OA MCID for gait speed in the sources; the change is not graded.",
    }
    result = []
    for test, (label, unit, interpret) in norms.items():
        raw = [(v.date, getattr(v.function, test)) for v in series.ordered_visits]
        if all(value is None for _, value in raw):
            continue
        values = tuple(
            (
                day,
                None if value is None else float(value),
                "" if value is None else interpret(value),
            )
            for day, value in raw
        )
        baseline = dict(raw).get(series.baseline_date)
        later = [(d, v) for d, v in raw if v is not None and d > series.baseline_date]
        latest_date, latest = later[-1] if later else (None, None)
        change = None if baseline is None or latest is None else float(latest) - float(baseline)
        result.append(
            FunctionTrajectory(
                test,
                label,
                unit,
                values,
                None if baseline is None else float(baseline),
                None if latest is None else float(latest),
                latest_date,
                change,
                notes[test],
            )
        )
    return tuple(result)


def _six_minute(distance: float, series: Series) -> str:
    p = series.patient
    walk = six_minute_walk(
        distance,
        sex=_norm_sex(series),
        age=p.age,
        height_cm=p.height_cm,
        weight_kg=p.weight_kg,
    )
    if walk.percent_predicted is None:
        return "predicted distance unknown"
    return f"{walk.percent_predicted:.0f}% of predicted"


def _norm_sex(series: Series) -> Literal["female", "male"] | None:
    """Norms exist for female and male only; any other recorded sex leaves them unknown."""
    sex = series.patient.sex.value
    return "female" if sex == "female" else "male" if sex == "male" else None


def _chair(stands: int, age: int | None, sex: Literal["female", "male"] | None) -> str:
    """The count against Rikli & Jones; never "normal" where no norm exists (under 60)."""
    result = chair_stand_30s(stands, age=age, sex=sex)
    if result.normal_range is not None:
        low, high = result.normal_range
        return f"{result.status} ({low}–{high} for a {sex} aged {age})"
    if result.status == "unknown":
        return f"norm unknown ({result.notes[0]})"
    if age is not None and age < 60:
        return f"no Rikli & Jones norm under age 60 (norms cover ages 60–94; age {age})"
    return f"no norm ({result.notes[0]})"


def _gait(speed: float, age: int | None, sex: Literal["female", "male"] | None) -> str:
    """Speed against Bohannon & Andrews; an unchecked stratum is "no verified norm"."""
    result = gait_speed(speed, age=age, sex=sex)
    if result.percent_of_reference is not None:
        return f"{result.percent_of_reference:.0f}% of the {result.stratum} mean"
    if result.status == "no verified norm":
        return f"no verified norm for {result.stratum}"
    if result.status == "unknown":
        return f"norm unknown ({result.notes[0]})"
    return f"no norm ({result.notes[0]})"


def _goals(series: Series, today: dt.date) -> tuple[GoalTrajectory, ...]:
    visits = series.ordered_visits
    result = []
    for goal in series.goals:
        functional = goal.functional_goal()
        ratings = [
            GoalRating(v.date, AttainmentLevel.parse(v.goal_ratings[goal.id]))
            for v in visits
            if goal.id in v.goal_ratings
        ]
        progress = goal_progress(functional, ratings, today=today)
        gas = tuple((v.date, v.goal_ratings.get(goal.id)) for v in visits)
        t_scores = tuple(
            (v.date, gas_t_score([v.goal_ratings[goal.id]], [goal.weight]))
            for v in visits
            if goal.id in v.goal_ratings
        )
        psfs: tuple[tuple[dt.date, float | None], ...] = ()
        change: MeasureTrajectory | None = None
        if goal.psfs_activity is not None:
            recorded = {v.date: dict(v.psfs) for v in visits if v.psfs is not None}
            by_date = dict(psfs_series(functional, recorded))
            psfs = tuple((v.date, by_date.get(v.date)) for v in visits)
            change = measure_trajectory(
                key=f"psfs:{goal.id}",
                label=f"PSFS activity '{goal.psfs_activity}'",
                instrument_id="psfs",
                scope="single_item",
                values=psfs,
                baseline_date=series.baseline_date,
                treatment_date=series.treatment_date,
            )
        result.append(
            GoalTrajectory(
                goal.id,
                goal.description,
                goal.target_date,
                progress,
                gas,
                t_scores,
                psfs,
                goal.psfs_activity,
                change,
            )
        )
    return tuple(result)


def _medications(series: Series) -> tuple[tuple[MedicationChange, ...], MedicationChange | None]:
    visits = series.ordered_visits
    recorded = [v for v in visits if v.medications is not None]
    names: dict[str, tuple[str, DrugClass]] = {}
    for visit in recorded:
        for med in visit.medications or ():
            names.setdefault(med.name.casefold(), (med.name, med.drug_class))
    base_visit = next((v for v in recorded if v.date == series.baseline_date), None)
    later = [v for v in recorded if v.date > series.baseline_date]
    latest_visit = later[-1] if later else None

    def days(visit: Visit | None, wanted: Callable[[MedicationUse], bool]) -> float | None:
        if visit is None or visit.medications is None:
            return None
        return float(sum(m.days_per_week for m in visit.medications if wanted(m)))

    def change(
        name: str, drug_class: str, wanted: Callable[[MedicationUse], bool]
    ) -> MedicationChange:
        before, after = days(base_visit, wanted), days(latest_visit, wanted)
        return MedicationChange(
            name,
            drug_class,
            before,
            after,
            None if latest_visit is None else latest_visit.date,
            None if before is None or after is None else after - before,
        )

    def named(folded: str) -> Callable[[MedicationUse], bool]:
        return lambda m: m.name.casefold() == folded

    per_drug = tuple(
        change(name, drug_class, named(folded)) for folded, (name, drug_class) in names.items()
    )
    nsaid = (
        change("NSAIDs", "nsaid", lambda m: m.drug_class == "nsaid")
        if any(c == "nsaid" for _, c in names.values())
        else None
    )
    return per_drug, nsaid


# --- the whole trajectory ------------------------------------------------------------------


def trajectory(
    series: Series, *, today: dt.date, schedule: Sequence[TimePointRule] | None = None
) -> Trajectory:
    """Return the recovery trajectory of a series as it stands on ``today``.

    Everything is computed from the series and the reviewed data files: thresholds from
    ``data/instruments/`` (cited there), responder rules from ``data/responders.toml``, and
    the follow-up schedule started at the treatment date: ``schedule`` (time points, e.g.
    from :func:`hipspine.clinical.schedule.parse_schedule`) or by default
    ``data/schedule.toml`` (baseline, 6 weeks, 3, 6, 12 months, then yearly; ICHOM, Rolfson
    2016 and Clement 2015). Visits after ``today`` are rejected (:class:`SeriesError`); a
    schedule whose windows overlap raises :class:`hipspine.clinical.schedule.ScheduleError`.
    """
    late = [v.date for v in series.visits if v.date > today]
    if late:
        raise SeriesError([f"visits: visit dated {late[0]} is after today ({today})"])
    pain = _pain_measures(series)
    forms = _questionnaire_measures(series)
    by_key = {m.key: m for m in (*pain, *forms)}
    order = list(rated_regions())
    firsts = sorted(
        (first_improvement(m, series.treatment_date) for m in pain),
        key=lambda f: (f.date is None, f.date or dt.date.max, order.index(f.region), f.key),
    )
    medications, nsaid = _medications(series)
    points = follow_up_schedule(series.treatment_date, schedule)
    status = schedule_status(points, [v.date for v in series.visits], today=today)
    readings, side_to_side = _dynamometry_readings(series)
    rules = _rules()
    notes = (
        f"MCID combination: {rules['mcid']['combination']} preferred thresholds must be met "
        f"({rules['mcid']['combination_source']}).",
        str(rules["mcid"]["comparison"]),
        str(rules["mcid"]["psfs_note"]),
        str(rules["mcid"]["worsening_note"]),
        f"OMERACT-OARSI: {rules['omeract_oarsi']['rule']} ({rules['omeract_oarsi']['label']}).",
    )
    return Trajectory(
        patient_id=series.patient.id,
        baseline_date=series.baseline_date,
        treatment_date=series.treatment_date,
        procedures=series.procedures,
        today=today,
        visit_dates=tuple(v.date for v in series.ordered_visits),
        pain=pain,
        questionnaires=forms,
        first_improvements=tuple(firsts),
        global_ratings=_global_ratings(series),
        omeract_oarsi=_omeract_series(series, by_key),
        strength=_strength(series),
        dynamometry=_dynamometry(series),
        dynamometry_readings=readings,
        side_to_side=side_to_side,
        function=_function(series),
        goals=_goals(series, today),
        medications=medications,
        nsaid=nsaid,
        schedule=status,
        notes=notes,
        warnings=tuple(w for m in (*pain, *forms) for w in m.warnings),
    )


def to_dict(value: Any) -> Any:
    """Return a trajectory (or any part of it) as plain JSON-ready data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        result = {name: to_dict(getattr(value, name)) for name in value.__dataclass_fields__}
        if isinstance(value, ChangePoint):
            result["clinically_important"] = value.clinically_important
        return result
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Direction):
        return value.value
    if isinstance(value, AttainmentLevel):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [to_dict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
