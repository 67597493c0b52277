"""Muscle strength: manual muscle testing and hand-held dynamometry, per muscle and side.

Manual muscle testing uses the MRC scale from :mod:`hipspine.clinical.mmt`. Hand-held
dynamometry (HHD) keeps the force with its unit, test position and lever arm, because
position changes the value a lot: side-lying hip abduction peak force was about 30% higher
than standing and 27% higher than supine (Cerda Vega et al., *PLoS One* 2018;13:e0202248).

Normalisation:

* torque (N·m) = force (N) × lever arm (m);
* torque per body mass (N·m/kg) = force × lever arm / body mass;
* % body weight = force (N) / (body mass (kg) × 9.80665 m/s²) × 100.

Measurement error decides what may be called a change or a deficit:

* side-to-side asymmetry (limb symmetry index) is unreliable for the hip, MDC about 27%
  (hip strength battery preprint, Research Square rs-9252188); a smaller difference is within
  measurement error and is never called a deficit (a difference of at least the MDC is beyond
  it, the same rule as for questionnaire change). The common ">10–15% deficit" flag is an
  ACL/return-to-sport convention, never validated for the hip, so a larger asymmetry is only a
  *possible* deficit;
* change over time is judged against an MDC only where one was measured for the same action
  and position (hip extension, prone standing, 14.8 N·m; Physiother Can, PMC4961312);
  otherwise the result says that no hip-validated MDC exists;
* normative comparison only where verified: Alvarenga et al. 2019, % body weight, healthy
  women aged 20–29 years.

Reviewed values and citations live in ``data/strength.toml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from hipspine.clinical._data import load
from hipspine.clinical.mmt import MRCGrade

Side = Literal["left", "right"]
ForceUnit = Literal["N", "kgf"]
Sex = Literal["female", "male"]

SIDES: tuple[Side, ...] = ("left", "right")
FORCE_UNITS: tuple[ForceUnit, ...] = ("N", "kgf")


def _strength_data() -> dict[str, Any]:
    return load("strength")


STANDARD_GRAVITY: float = float(_strength_data()["standard_gravity_m_s2"])
# Tolerance for floating-point sums at a threshold (e.g. 114.8 − 100 ≠ 14.8 exactly).
_EPSILON = 1e-9


@cache
def _muscles() -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in load("muscles")["muscle"]}


@cache
def _actions() -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in _strength_data()["action"]}


@cache
def _positions() -> tuple[str, ...]:
    return tuple(entry["id"] for entry in _strength_data()["position"])


def _check_muscle_and_side(muscle: str, side: Side | None) -> None:
    muscles = _muscles()
    if muscle not in muscles:
        raise ValueError(f"muscle {muscle!r} is not one of {', '.join(sorted(muscles))}")
    if muscles[muscle]["sides"]:
        if side not in SIDES:
            raise ValueError(f"side for {muscle} must be one of {', '.join(SIDES)}, got {side!r}")
    elif side is not None:
        raise ValueError(f"side must be None for {muscle}, which is tested as one midline group")


# --- manual muscle testing ---------------------------------------------------------------


@dataclass(frozen=True)
class ManualMuscleTest:
    """One manual muscle test: muscle id (``muscles.toml``), side, and MRC grade."""

    muscle: str
    side: Side | None
    grade: MRCGrade

    def __post_init__(self) -> None:
        _check_muscle_and_side(self.muscle, self.side)
        if not isinstance(self.grade, MRCGrade):
            raise ValueError(f"grade must be an MRCGrade, got {self.grade!r}")


def manual_muscle_test(
    muscle: str, side: Side | None, grade: str | int | MRCGrade
) -> ManualMuscleTest:
    """Return a validated manual muscle test; ``grade`` may be written ``"4-"``, ``4`` or ``"4+"``.

    Grades follow the MRC scale (Medical Research Council Memorandum No. 45, 1976).
    """
    parsed = grade if isinstance(grade, MRCGrade) else MRCGrade.parse(grade)
    return ManualMuscleTest(muscle, side, parsed)


MMTStatus = Literal["weak", "normal power", "unknown"]


def mmt_status(tests: Iterable[ManualMuscleTest], muscle: str, side: Side | None) -> MMTStatus:
    """Return ``"weak"`` (MRC < 5), ``"normal power"`` (MRC 5) or ``"unknown"`` if not tested.

    A muscle that was not tested is unknown, never normal. When the muscle was tested more
    than once, the last test in ``tests`` counts. Grades: MRC Memorandum No. 45 (1976).
    """
    _check_muscle_and_side(muscle, side)
    found: ManualMuscleTest | None = None
    for test in tests:
        if test.muscle == muscle and test.side == side:
            found = test
    if found is None:
        return "unknown"
    return "weak" if found.grade.is_weak else "normal power"


MMTDirection = Literal["stronger", "unchanged", "weaker"]


@dataclass(frozen=True)
class GradeChange:
    """Change in MRC grade between two tests of the same muscle and side."""

    muscle: str
    side: Side | None
    before: MRCGrade
    after: MRCGrade
    steps: int
    direction: MMTDirection
    note: str


_MMT_CHANGE_NOTE = (
    "MRC grades are ordinal (MRC Memorandum No. 45, 1976) and the +/- steps are a clinical "
    "convention; no minimal detectable change exists for MRC grade changes, and manual testing "
    "is insensitive above grade 4, so use dynamometry to quantify change."
)


def grade_change(before: ManualMuscleTest, after: ManualMuscleTest) -> GradeChange:
    """Return the change in MRC grade, in ordinal steps on 0, 1, 2-, 2, 2+ … 4+, 5.

    Both tests must be of the same muscle and side. ``steps`` is the difference in rank
    (``4-`` → ``4+`` is 2 steps); it is ordinal, not an interval measure.
    """
    if (before.muscle, before.side) != (after.muscle, after.side):
        raise ValueError(
            "grade_change compares the same muscle and side, got "
            f"{before.muscle}/{before.side} and {after.muscle}/{after.side}"
        )
    steps = after.grade.rank - before.grade.rank
    direction: MMTDirection = "stronger" if steps > 0 else "weaker" if steps < 0 else "unchanged"
    return GradeChange(
        before.muscle, before.side, before.grade, after.grade, steps, direction, _MMT_CHANGE_NOTE
    )


# --- hand-held dynamometry ---------------------------------------------------------------


@dataclass(frozen=True)
class DynamometryReading:
    """One hand-held dynamometry reading: peak isometric force for an action, muscle and side.

    ``force`` is in ``unit`` (N or kgf). ``position`` is one of the positions in
    ``data/strength.toml`` and ``lever_arm_m`` the distance from joint axis to dynamometer
    (m), when measured. ``body_mass_kg`` allows normalisation. Missing values stay ``None``
    and make the dependent results ``None``, never a guess.
    """

    muscle: str
    side: Side | None
    action: str
    position: str
    force: float
    unit: ForceUnit
    lever_arm_m: float | None = None
    body_mass_kg: float | None = None

    def __post_init__(self) -> None:
        _check_muscle_and_side(self.muscle, self.side)
        actions = _actions()
        if self.action not in actions:
            raise ValueError(f"action {self.action!r} is not one of {', '.join(actions)}")
        if self.muscle not in actions[self.action]["muscles"]:
            raise ValueError(
                f"muscle {self.muscle!r} does not perform {self.action}; "
                f"allowed: {', '.join(actions[self.action]['muscles'])}"
            )
        if self.position not in _positions():
            raise ValueError(f"position {self.position!r} is not one of {', '.join(_positions())}")
        if self.unit not in FORCE_UNITS:
            raise ValueError(f"unit must be one of {', '.join(FORCE_UNITS)}, got {self.unit!r}")
        if not _is_finite(self.force) or self.force < 0:
            raise ValueError(f"force must be a finite number ≥ 0 {self.unit}, got {self.force!r}")
        if self.lever_arm_m is not None and (
            not _is_finite(self.lever_arm_m) or not 0 < self.lever_arm_m <= 1.5
        ):
            raise ValueError(f"lever_arm_m must be > 0 and ≤ 1.5 m, got {self.lever_arm_m!r}")
        if self.body_mass_kg is not None and (
            not _is_finite(self.body_mass_kg) or not 0 < self.body_mass_kg <= 400
        ):
            raise ValueError(f"body_mass_kg must be > 0 and ≤ 400 kg, got {self.body_mass_kg!r}")

    @property
    def force_n(self) -> float:
        """Force in newtons (1 kgf = 9.80665 N)."""
        return self.force * STANDARD_GRAVITY if self.unit == "kgf" else self.force

    @property
    def torque_nm(self) -> float | None:
        """Torque in N·m (force × lever arm), or ``None`` without a lever arm."""
        return None if self.lever_arm_m is None else self.force_n * self.lever_arm_m

    @property
    def torque_nm_per_kg(self) -> float | None:
        """Torque normalised to body mass (N·m/kg), or ``None`` if lever arm or mass is missing."""
        torque = self.torque_nm
        if torque is None or self.body_mass_kg is None:
            return None
        return torque / self.body_mass_kg

    @property
    def percent_body_weight(self) -> float | None:
        """Force as % body weight, force / (mass × 9.80665) × 100, or ``None`` without mass."""
        if self.body_mass_kg is None:
            return None
        return self.force_n / (self.body_mass_kg * STANDARD_GRAVITY) * 100.0


def _is_finite(value: float) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < float("inf")
    )


def _comparable_quantity(
    first: DynamometryReading, second: DynamometryReading
) -> tuple[Literal["torque", "force"], float, float]:
    """Torque when both lever arms are known, otherwise force (N) with equal lever arms."""
    if first.torque_nm is not None and second.torque_nm is not None:
        return "torque", first.torque_nm, second.torque_nm
    if first.lever_arm_m != second.lever_arm_m:
        raise ValueError(
            "lever_arm_m is known for only one reading; record both lever arms or neither"
        )
    return "force", first.force_n, second.force_n


# --- side-to-side asymmetry --------------------------------------------------------------

AsymmetryStatus = Literal["within measurement error", "possible deficit"]


@dataclass(frozen=True)
class Asymmetry:
    """Side-to-side comparison of one action with its measurement error.

    ``limb_symmetry_index`` = involved / uninvolved × 100 when the involved side is given,
    else weaker / stronger × 100; ``asymmetry_percent`` = (stronger − weaker) / stronger × 100,
    whichever side is involved. ``status`` is ``"possible deficit"`` only when the
    asymmetry reaches the MDC; it is never a confirmed deficit, because the hip LSI is
    unreliable (ICC < 0.50).
    """

    action: str
    position: str
    quantity: Literal["torque", "force"]
    left: float
    right: float
    weaker_side: Side | None
    limb_symmetry_index: float
    asymmetry_percent: float
    mdc_percent: float
    beyond_measurement_error: bool
    exceeds_conventional_threshold: bool
    status: AsymmetryStatus
    notes: tuple[str, ...]


def limb_symmetry(
    left: DynamometryReading, right: DynamometryReading, *, involved: Side | None = None
) -> Asymmetry:
    """Return the limb symmetry index of two readings of the same action and position.

    With ``involved`` the LSI is involved / uninvolved × 100 (may exceed 100); without it,
    weaker / stronger × 100. An asymmetry smaller than the LSI MDC (about 27%, hip strength
    battery preprint rs-9252188) is ``"within measurement error"``; one at least as large is a
    ``"possible deficit"``. ``exceeds_conventional_threshold`` reports the ACL/return-to-sport
    convention (>15%), which is not validated for the hip.
    """
    if left.side != "left" or right.side != "right":
        raise ValueError(
            f"limb_symmetry needs a left and a right reading, got {left.side!r} and {right.side!r}"
        )
    if (left.muscle, left.action) != (right.muscle, right.action):
        raise ValueError(
            "limb_symmetry compares the same muscle and action, got "
            f"{left.muscle}/{left.action} and {right.muscle}/{right.action}"
        )
    if left.position != right.position:
        raise ValueError(
            f"position differs ({left.position} vs {right.position}); position changes HHD "
            "values a lot (Cerda Vega 2018), so the sides cannot be compared"
        )
    if involved is not None and involved not in SIDES:
        raise ValueError(f"involved must be one of {', '.join(SIDES)} or None, got {involved!r}")
    quantity, left_value, right_value = _comparable_quantity(left, right)
    low, high = sorted((left_value, right_value))
    if high == 0:
        raise ValueError("force is 0 on both sides; the limb symmetry index is undefined")
    weaker: Side | None = (
        None if left_value == right_value else "left" if left_value < right_value else "right"
    )
    asymmetry = (high - low) / high * 100.0
    if involved is None:
        lsi = low / high * 100.0
    else:
        involved_value, other_value = (
            (left_value, right_value) if involved == "left" else (right_value, left_value)
        )
        if other_value == 0:
            raise ValueError("force on the uninvolved side is 0; the LSI is undefined")
        lsi = involved_value / other_value * 100.0
    asym = _strength_data()["asymmetry"]
    mdc = float(asym["lsi_mdc_percent"])
    conventional = float(asym["conventional_deficit_percent"])
    # The MDC is the smallest difference that counts as real, so reaching it is enough.
    beyond = asymmetry >= mdc - _EPSILON
    notes = [
        f"LSI measurement error: {asym['lsi_mdc_source']}.",
        f"Conventional threshold: {asym['conventional_deficit_source']}",
    ]
    if left.action == "hip_abduction":
        notes.append(str(asym["hip_abduction_note"]))
    return Asymmetry(
        action=left.action,
        position=left.position,
        quantity=quantity,
        left=left_value,
        right=right_value,
        weaker_side=weaker,
        limb_symmetry_index=lsi,
        asymmetry_percent=asymmetry,
        mdc_percent=mdc,
        beyond_measurement_error=beyond,
        exceeds_conventional_threshold=asymmetry > conventional,
        status="possible deficit" if beyond else "within measurement error",
        notes=tuple(notes),
    )


# --- change over time --------------------------------------------------------------------

ChangeStatus = Literal[
    "improved beyond MDC", "declined beyond MDC", "within measurement error", "no validated MDC"
]


@dataclass(frozen=True)
class StrengthChange:
    """Change in dynamometry between two readings of the same muscle, side, action, position."""

    muscle: str
    side: Side | None
    action: str
    position: str
    quantity: Literal["torque", "force"]
    unit: str
    before: float
    after: float
    change: float
    percent_change: float | None
    mdc: float | None
    status: ChangeStatus
    source: str


def _find_mdc(action: str, position: str, quantity: str) -> Mapping[str, Any] | None:
    for entry in _strength_data().get("mdc", []):
        if (entry["action"], entry["position"], entry["quantity"]) == (action, position, quantity):
            return dict(entry)
    return None


def strength_change(before: DynamometryReading, after: DynamometryReading) -> StrengthChange:
    """Return the change in dynamometry and whether it reaches the minimal detectable change.

    Readings must share muscle, side, action and position. Torque (N·m) is compared when
    both lever arms are known, otherwise force (N). The only MDC applied is the one measured
    for the same action, position and quantity: hip extension, prone standing, 14.8 N·m
    (Physiother Can, PMC4961312). A change of at least the MDC counts (the MDC is the
    smallest change that counts as real). Every other combination returns
    ``"no validated MDC"``.
    """
    for field in ("muscle", "side", "action", "position"):
        if getattr(before, field) != getattr(after, field):
            raise ValueError(
                f"strength_change compares readings with the same {field}, got "
                f"{getattr(before, field)!r} and {getattr(after, field)!r}"
            )
    quantity, before_value, after_value = _comparable_quantity(before, after)
    change = after_value - before_value
    percent = None if before_value == 0 else change / before_value * 100.0
    entry = _find_mdc(before.action, before.position, quantity)
    if entry is None:
        return StrengthChange(
            before.muscle,
            before.side,
            before.action,
            before.position,
            quantity,
            "N·m" if quantity == "torque" else "N",
            before_value,
            after_value,
            change,
            percent,
            None,
            "no validated MDC",
            f"No hip-validated MDC exists for {before.action} measured {before.position} as "
            f"{quantity}; the change cannot be separated from measurement error.",
        )
    mdc = float(entry["value"])
    status: ChangeStatus = (
        "improved beyond MDC"
        if change >= mdc - _EPSILON
        else "declined beyond MDC"
        if change <= -mdc + _EPSILON
        else "within measurement error"
    )
    return StrengthChange(
        before.muscle,
        before.side,
        before.action,
        before.position,
        quantity,
        str(entry["unit"]),
        before_value,
        after_value,
        change,
        percent,
        mdc,
        status,
        str(entry["source"]),
    )


# --- normative comparison ----------------------------------------------------------------

NormStatus = Literal["compared", "no verified norm", "unknown"]


@dataclass(frozen=True)
class NormComparison:
    """A reading compared with a verified normative mean, or the reason it cannot be."""

    status: NormStatus
    reason: str
    percent_body_weight: float | None = None
    reference_mean: float | None = None
    reference_ci: tuple[float, float] | None = None
    percent_of_reference: float | None = None
    population: str | None = None
    source: str | None = None
    caveat: str | None = None


def compare_to_norm(
    reading: DynamometryReading, *, age: int | None, sex: Sex | None
) -> NormComparison:
    """Compare a reading (as % body weight) with the only verified HHD norm, Alvarenga 2019.

    Alvarenga et al., *Acta Ortop Bras* 2019;27(2):124-128: 52 healthy women aged 20–29
    years, BMI 18.5–24.99 kg/m². Returns ``"no verified norm"`` for anyone else (men, other
    ages, trunk actions) and ``"unknown"`` when age, sex or body mass is missing. The result
    is % of the reference mean; the 95% CI describes that mean, not an individual normal
    range, so no "below normal" label is given.
    """
    if age is not None and (
        isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 120
    ):
        raise ValueError(f"age must be an integer 0–120 years, got {age!r}")
    if sex is not None and sex not in ("female", "male"):
        raise ValueError(f"sex must be 'female' or 'male', got {sex!r}")
    if age is None or sex is None:
        missing = "age" if age is None else "sex"
        return NormComparison("unknown", f"{missing} not recorded; cannot choose a norm")
    norm = _strength_data()["norm"]["alvarenga_2019"]
    values = norm["values"]
    if sex != norm["sex"] or not norm["age_min"] <= age <= norm["age_max"]:
        return NormComparison(
            "no verified norm",
            f"no verified HHD norm for a {sex} aged {age}; the only verified norm is for "
            f"{norm['population']}",
        )
    if reading.action not in values:
        return NormComparison("no verified norm", f"no verified HHD norm for {reading.action}")
    pbw = reading.percent_body_weight
    if pbw is None:
        return NormComparison("unknown", "body_mass_kg not recorded; % body weight unknown")
    ref = values[reading.action]
    mean = float(ref["mean"])
    return NormComparison(
        status="compared",
        reason="compared with the reference mean of the verified norm",
        percent_body_weight=pbw,
        reference_mean=mean,
        reference_ci=(float(ref["ci_low"]), float(ref["ci_high"])),
        percent_of_reference=pbw / mean * 100.0,
        population=str(norm["population"]),
        source=str(norm["source"]),
        caveat=str(norm["caveat"]),
    )
