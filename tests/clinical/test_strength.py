"""Strength: manual muscle testing, dynamometry normalisation, asymmetry, change, norms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipspine.clinical.mmt import MRCGrade
from hipspine.clinical.strength import (
    DynamometryReading,
    compare_to_norm,
    grade_change,
    limb_symmetry,
    manual_muscle_test,
    mmt_status,
    strength_change,
)


def hhd(
    force: float,
    *,
    side: str | None = "left",
    muscle: str = "gluteus_maximus",
    action: str = "hip_extension",
    position: str = "prone_standing",
    unit: str = "N",
    lever_arm_m: float | None = None,
    body_mass_kg: float | None = None,
) -> DynamometryReading:
    return DynamometryReading(
        muscle,
        side,  # type: ignore[arg-type]
        action,
        position,
        force,
        unit,  # type: ignore[arg-type]
        lever_arm_m,
        body_mass_kg,
    )


# --- manual muscle testing ---------------------------------------------------------------


def test_manual_muscle_test_parses_grade_and_keeps_side() -> None:
    test = manual_muscle_test("iliopsoas", "right", "4-")
    assert test.grade == MRCGrade(4, "-")
    assert test.side == "right"


def test_unknown_muscle_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match="muscle 'psoas_minor' is not one of"):
        manual_muscle_test("psoas_minor", "left", 4)


def test_sided_muscle_needs_a_side_and_midline_group_takes_none() -> None:
    with pytest.raises(ValueError, match="side for gluteus_maximus"):
        manual_muscle_test("gluteus_maximus", None, 4)
    with pytest.raises(ValueError, match="side must be None for abdominals"):
        manual_muscle_test("abdominals", "left", 4)
    assert manual_muscle_test("abdominals", None, "4+").side is None


def test_untested_muscle_is_unknown_not_normal() -> None:
    tests = [manual_muscle_test("iliopsoas", "left", 5)]
    assert mmt_status(tests, "iliopsoas", "right") == "unknown"
    assert mmt_status(tests, "gluteus_maximus", "left") == "unknown"
    assert mmt_status([], "abdominals", None) == "unknown"


def test_mmt_status_weak_below_five_and_last_test_counts() -> None:
    tests = [
        manual_muscle_test("gluteus_maximus", "left", "4-"),
        manual_muscle_test("gluteus_maximus", "left", 5),
    ]
    assert mmt_status(tests[:1], "gluteus_maximus", "left") == "weak"
    assert mmt_status(tests, "gluteus_maximus", "left") == "normal power"


def test_grade_change_counts_ordinal_steps() -> None:
    # 4- is rank 8 and 4+ is rank 10 on 0,1,2-,2,2+,3-,3,3+,4-,4,4+,5: two steps.
    change = grade_change(
        manual_muscle_test("iliopsoas", "left", "4-"),
        manual_muscle_test("iliopsoas", "left", "4+"),
    )
    assert change.steps == 2
    assert change.direction == "stronger"
    assert "no minimal detectable change" in change.note
    worse = grade_change(
        manual_muscle_test("iliopsoas", "left", 5), manual_muscle_test("iliopsoas", "left", "4")
    )
    assert (worse.steps, worse.direction) == (-2, "weaker")


def test_grade_change_refuses_different_sides() -> None:
    with pytest.raises(ValueError, match="same muscle and side"):
        grade_change(
            manual_muscle_test("iliopsoas", "left", 4),
            manual_muscle_test("iliopsoas", "right", 5),
        )


# --- dynamometry readings ----------------------------------------------------------------


def test_kgf_is_converted_and_normalised() -> None:
    reading = hhd(20, unit="kgf", lever_arm_m=0.3, body_mass_kg=80)
    # 20 kgf × 9.80665 = 196.133 N
    assert reading.force_n == pytest.approx(196.133)
    # 196.133 N × 0.3 m = 58.8399 N·m
    assert reading.torque_nm == pytest.approx(58.8399)
    # 58.8399 N·m / 80 kg = 0.73549875 N·m/kg
    assert reading.torque_nm_per_kg == pytest.approx(0.73549875)
    # 196.133 / (80 × 9.80665) × 100 = 20 / 80 × 100 = 25 %BW
    assert reading.percent_body_weight == pytest.approx(25.0)


def test_missing_lever_arm_or_mass_leaves_normalised_values_unknown() -> None:
    reading = hhd(200)
    assert reading.torque_nm is None
    assert reading.torque_nm_per_kg is None
    assert reading.percent_body_weight is None
    assert hhd(200, lever_arm_m=0.4).torque_nm_per_kg is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"force": -1.0}, "force"),
        ({"force": math.nan}, "force"),
        ({"force": 100.0, "unit": "lbf"}, "unit"),
        ({"force": 100.0, "position": "kneeling"}, "position"),
        ({"force": 100.0, "action": "knee_extension"}, "action"),
        ({"force": 100.0, "muscle": "abdominals", "side": None}, "muscle 'abdominals'"),
        ({"force": 100.0, "lever_arm_m": 0.0}, "lever_arm_m"),
        ({"force": 100.0, "lever_arm_m": -0.3}, "lever_arm_m"),
        ({"force": 100.0, "body_mass_kg": 0.0}, "body_mass_kg"),
    ],
)
def test_bad_dynamometry_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    force = kwargs.pop("force")
    with pytest.raises(ValueError, match=field):
        hhd(force, **kwargs)  # type: ignore[arg-type]


# --- side-to-side asymmetry --------------------------------------------------------------


def test_asymmetry_smaller_than_mdc_is_not_a_deficit() -> None:
    # left 300 N, right 400 N: LSI = 300 / 400 × 100 = 75 %, asymmetry 25 % ≤ MDC 27 %.
    result = limb_symmetry(hhd(300, side="left"), hhd(400, side="right"))
    assert result.limb_symmetry_index == pytest.approx(75.0)
    assert result.asymmetry_percent == pytest.approx(25.0)
    assert result.weaker_side == "left"
    assert result.status == "within measurement error"
    assert result.beyond_measurement_error is False
    # 25 % exceeds the ACL convention (15 %) but that convention is not hip-validated.
    assert result.exceeds_conventional_threshold is True


def test_asymmetry_at_mdc_boundary() -> None:
    # 73.1 vs 100 N: (100 − 73.1) / 100 × 100 = 26.9 % < MDC 27 %: within measurement error.
    below = limb_symmetry(hhd(73.1, side="left"), hhd(100, side="right"))
    assert below.asymmetry_percent == pytest.approx(26.9)
    assert below.status == "within measurement error"
    assert below.beyond_measurement_error is False
    # 73 vs 100 N: 27.0 % exactly = the MDC, the smallest difference that counts as real:
    # a possible deficit (never a confirmed one).
    at = limb_symmetry(hhd(73, side="left"), hhd(100, side="right"))
    assert at.asymmetry_percent == 27.0
    assert at.status == "possible deficit"
    assert at.beyond_measurement_error is True
    # 72.9 vs 100 N: 27.1 % > 27 %: a possible deficit.
    above = limb_symmetry(hhd(72.9, side="left"), hhd(100, side="right"))
    assert above.asymmetry_percent == pytest.approx(27.1)
    assert above.status == "possible deficit"
    assert above.weaker_side == "left"


def test_involved_side_lsi_may_exceed_100() -> None:
    # involved left 120 N vs uninvolved right 100 N: LSI 120 %; right is weaker by 16.7 %.
    result = limb_symmetry(hhd(120, side="left"), hhd(100, side="right"), involved="left")
    assert result.limb_symmetry_index == pytest.approx(120.0)
    assert result.weaker_side == "right"
    assert result.asymmetry_percent == pytest.approx(20 * 100 / 120)


def test_torque_is_compared_when_both_lever_arms_are_known() -> None:
    # 300 N × 0.40 m = 120 N·m vs 400 N × 0.30 m = 120 N·m: symmetric in torque.
    result = limb_symmetry(
        hhd(300, side="left", lever_arm_m=0.40), hhd(400, side="right", lever_arm_m=0.30)
    )
    assert result.quantity == "torque"
    assert result.asymmetry_percent == pytest.approx(0.0)
    assert result.weaker_side is None


def test_hip_abduction_asymmetry_carries_the_reliability_note() -> None:
    result = limb_symmetry(
        hhd(100, side="left", muscle="gluteus_medius_minimus", action="hip_abduction"),
        hhd(100, side="right", muscle="gluteus_medius_minimus", action="hip_abduction"),
    )
    assert any("not reliable" in note for note in result.notes)


def test_asymmetry_refuses_mismatched_readings() -> None:
    with pytest.raises(ValueError, match="position differs"):
        limb_symmetry(hhd(100, side="left"), hhd(100, side="right", position="prone"))
    with pytest.raises(ValueError, match="left and a right"):
        limb_symmetry(hhd(100, side="left"), hhd(100, side="left"))
    with pytest.raises(ValueError, match="lever_arm_m"):
        limb_symmetry(hhd(100, side="left", lever_arm_m=0.3), hhd(100, side="right"))
    with pytest.raises(ValueError, match="undefined"):
        limb_symmetry(hhd(0, side="left"), hhd(0, side="right"))


@given(
    st.floats(min_value=0.0, max_value=2000.0),
    st.floats(min_value=0.1, max_value=2000.0),
)
def test_asymmetry_is_bounded_and_status_follows_the_mdc(left: float, right: float) -> None:
    result = limb_symmetry(hhd(left, side="left"), hhd(right, side="right"))
    assert 0.0 <= result.asymmetry_percent <= 100.0
    assert 0.0 <= result.limb_symmetry_index <= 100.0
    assert (result.status == "possible deficit") == (result.asymmetry_percent >= 27.0 - 1e-9)


# --- change over time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_n", "status"),
    [
        # lever arm 1 m, so N equals N·m; before 100 N·m.
        (114.7, "within measurement error"),  # +14.7 N·m, just below the 14.8 MDC
        (114.8, "improved beyond MDC"),  # +14.8 N·m = the MDC: the smallest real change
        (114.9, "improved beyond MDC"),  # +14.9 N·m
        (85.3, "within measurement error"),  # −14.7 N·m, decline within the MDC
        (85.2, "declined beyond MDC"),  # −14.8 N·m = the MDC
        (85.1, "declined beyond MDC"),  # −14.9 N·m
    ],
)
def test_hip_extension_change_against_the_mdc(after_n: float, status: str) -> None:
    before = hhd(100, lever_arm_m=1.0)
    after = hhd(after_n, lever_arm_m=1.0)
    change = strength_change(before, after)
    assert change.quantity == "torque"
    assert change.mdc == 14.8
    assert change.status == status
    assert "PMC4961312" in change.source


def test_change_exactly_equal_to_the_mdc_is_beyond_measurement_error() -> None:
    # 0 → 14.8 N·m (lever arm 1 m): change is exactly 14.8, the MDC, so it counts as real
    # (the same ≥ MDC rule as questionnaire change in the trajectory).
    change = strength_change(hhd(0.0, lever_arm_m=1.0), hhd(14.8, lever_arm_m=1.0))
    assert change.change == 14.8
    assert change.percent_change is None  # undefined from a 0 baseline
    assert change.status == "improved beyond MDC"
    # 0 → 14.7 N·m: below the MDC.
    assert (
        strength_change(hhd(0.0, lever_arm_m=1.0), hhd(14.7, lever_arm_m=1.0)).status
        == "within measurement error"
    )


def test_change_in_hand_computed_torque() -> None:
    # 40 kgf × 9.80665 × 0.45 m = 176.5197 N·m → 45 kgf × 9.80665 × 0.45 = 198.584663 N·m
    change = strength_change(
        hhd(40, unit="kgf", lever_arm_m=0.45), hhd(45, unit="kgf", lever_arm_m=0.45)
    )
    assert change.change == pytest.approx(22.0649625)
    assert change.percent_change == pytest.approx(12.5)
    assert change.status == "improved beyond MDC"


def test_no_validated_mdc_for_other_actions_positions_or_force_only() -> None:
    abduction = strength_change(
        hhd(100, muscle="gluteus_medius_minimus", action="hip_abduction", position="side_lying"),
        hhd(200, muscle="gluteus_medius_minimus", action="hip_abduction", position="side_lying"),
    )
    assert abduction.status == "no validated MDC"
    assert abduction.mdc is None
    assert "No hip-validated MDC" in abduction.source
    prone = strength_change(
        hhd(100, position="prone", lever_arm_m=1), hhd(200, position="prone", lever_arm_m=1)
    )
    assert prone.status == "no validated MDC"
    force_only = strength_change(hhd(100), hhd(200))
    assert (force_only.quantity, force_only.status) == ("force", "no validated MDC")


def test_change_refuses_a_different_position() -> None:
    with pytest.raises(ValueError, match="same position"):
        strength_change(hhd(100), hhd(100, position="prone"))


# --- normative comparison ----------------------------------------------------------------


def abduction(force_kgf: float, mass: float | None = 60.0) -> DynamometryReading:
    return hhd(
        force_kgf,
        unit="kgf",
        muscle="gluteus_medius_minimus",
        action="hip_abduction",
        position="supine",
        body_mass_kg=mass,
    )


def test_young_woman_is_compared_with_alvarenga() -> None:
    # 10 kgf / 60 kg × 100 = 16.667 %BW; 16.667 / 16.85 × 100 = 98.91 % of the mean.
    result = compare_to_norm(abduction(10), age=25, sex="female")
    assert result.status == "compared"
    assert result.percent_body_weight == pytest.approx(16.6667, abs=1e-4)
    assert result.reference_mean == 16.85
    assert result.reference_ci == (16.03, 17.66)
    assert result.percent_of_reference == pytest.approx(98.912, abs=1e-3)
    assert result.population is not None and "women aged 20–29" in result.population


@pytest.mark.parametrize("age", [20, 29])
def test_alvarenga_age_bounds_are_inclusive(age: int) -> None:
    assert compare_to_norm(abduction(10), age=age, sex="female").status == "compared"


@pytest.mark.parametrize(("age", "sex"), [(19, "female"), (30, "female"), (25, "male")])
def test_no_verified_norm_outside_the_population(age: int, sex: str) -> None:
    result = compare_to_norm(abduction(10), age=age, sex=sex)  # type: ignore[arg-type]
    assert result.status == "no verified norm"
    assert result.percent_of_reference is None


def test_trunk_action_has_no_verified_norm() -> None:
    reading = hhd(
        200,
        side="left",
        muscle="lumbar_paraspinals",
        action="trunk_extension",
        position="prone",
        body_mass_kg=60,
    )
    assert compare_to_norm(reading, age=25, sex="female").status == "no verified norm"


def test_missing_values_give_unknown_not_normal() -> None:
    assert compare_to_norm(abduction(10, mass=None), age=25, sex="female").status == "unknown"
    assert compare_to_norm(abduction(10), age=None, sex="female").status == "unknown"
    assert compare_to_norm(abduction(10), age=25, sex=None).status == "unknown"


def test_norm_rejects_bad_age_and_sex() -> None:
    with pytest.raises(ValueError, match="age"):
        compare_to_norm(abduction(10), age=-3, sex="female")
    with pytest.raises(ValueError, match="sex"):
        compare_to_norm(abduction(10), age=25, sex="woman")  # type: ignore[arg-type]
