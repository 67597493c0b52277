"""Function tests: six-minute walk, 30-second chair stand, gait speed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipspine.clinical._data import load
from hipspine.clinical.function_tests import (
    chair_stand_30s,
    gait_speed,
    gait_speed_from_walk,
    predicted_six_minute_walk,
    six_minute_walk,
)

# --- six-minute walk ---------------------------------------------------------------------


def test_enright_sherrill_men() -> None:
    # 7.57 × 175 − 5.02 × 45 − 1.76 × 80 − 309 = 1324.75 − 225.9 − 140.8 − 309 = 649.05 m
    assert predicted_six_minute_walk(
        sex="male", age=45, height_cm=175, weight_kg=80
    ) == pytest.approx(649.05)


def test_enright_sherrill_women_use_their_own_coefficients() -> None:
    # 2.11 × 165 − 2.29 × 65 − 5.78 × 60 + 667 = 348.15 − 148.85 − 346.8 + 667 = 519.5 m
    assert predicted_six_minute_walk(
        sex="female", age=60, height_cm=165, weight_kg=65
    ) == pytest.approx(519.5)
    # 2.11 × 160 − 2.29 × 60 − 5.78 × 40 + 667 = 337.6 − 137.4 − 231.2 + 667 = 636.0 m
    assert predicted_six_minute_walk(
        sex="female", age=40, height_cm=160, weight_kg=60
    ) == pytest.approx(636.0)


def test_six_minute_walk_percent_predicted() -> None:
    # 500 m / 649.05 m × 100 = 77.036 %
    result = six_minute_walk(500, sex="male", age=45, height_cm=175, weight_kg=80)
    assert result.status == "compared"
    assert result.predicted_m == pytest.approx(649.05)
    assert result.percent_predicted == pytest.approx(77.0357, abs=1e-4)
    assert "Enright" in result.source
    assert "No hip-OA" in result.mcid_note


@pytest.mark.parametrize("missing", ["sex", "age", "height_cm", "weight_kg"])
def test_six_minute_walk_missing_value_is_unknown(missing: str) -> None:
    values: dict[str, object] = {"sex": "female", "age": 60, "height_cm": 165, "weight_kg": 65}
    values[missing] = None
    result = six_minute_walk(400, **values)  # type: ignore[arg-type]
    assert result.status == "unknown"
    assert result.percent_predicted is None
    assert missing in result.notes[0]


def test_six_minute_walk_outside_derivation_ages_is_flagged() -> None:
    result = six_minute_walk(400, sex="female", age=85, height_cm=160, weight_kg=60)
    assert any("extrapolation" in note for note in result.notes)
    assert not any(
        "extrapolation" in n
        for n in six_minute_walk(400, sex="female", age=80, height_cm=160, weight_kg=60).notes
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"distance_m": -1}, "distance_m"),
        ({"height_cm": 20}, "height_cm"),
        ({"weight_kg": -5}, "weight_kg"),
        ({"age": 130}, "age"),
        ({"sex": "x"}, "sex"),
    ],
)
def test_six_minute_walk_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "distance_m": 400,
        "sex": "male",
        "age": 60,
        "height_cm": 170,
        "weight_kg": 70,
    }
    values.update(kwargs)
    distance = values.pop("distance_m")
    with pytest.raises(ValueError, match=field):
        six_minute_walk(distance, **values)  # type: ignore[arg-type]


# --- 30-second chair stand ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("stands", "status"),
    [
        (11, "below normal range"),
        (12, "within normal range"),
        (17, "within normal range"),
        (18, "above normal range"),
    ],
)
def test_chair_stand_band_edges_women_60_64(stands: int, status: str) -> None:
    result = chair_stand_30s(stands, age=62, sex="female")
    assert result.normal_range == (12, 17)
    assert result.status == status


@pytest.mark.parametrize(
    ("age", "sex", "expected"),
    [
        (60, "female", (12, 17)),
        (64, "female", (12, 17)),
        (65, "female", (11, 16)),
        (69, "male", (12, 18)),
        (70, "male", (12, 17)),
        (79, "male", (11, 17)),
        (80, "female", (9, 14)),
        (89, "male", (8, 14)),
        (90, "female", (4, 11)),
        (94, "male", (7, 12)),
    ],
)
def test_chair_stand_age_brackets(age: int, sex: str, expected: tuple[int, int]) -> None:
    assert chair_stand_30s(10, age=age, sex=sex).normal_range == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("age", [59, 95, 40])
def test_chair_stand_outside_60_94_has_no_norm(age: int) -> None:
    result = chair_stand_30s(10, age=age, sex="male")
    assert result.status == "no norm"
    assert result.normal_range is None
    assert "60–94" in result.notes[0]


def test_chair_stand_2013_manual_variants() -> None:
    # Men 65–69: 1999 range 12–18, 2013 manual 13–18.
    assert chair_stand_30s(12, age=67, sex="male").status == "within normal range"
    late = chair_stand_30s(12, age=67, sex="male", edition="2013")
    assert (late.normal_range, late.status) == ((13, 18), "below normal range")
    # Men 85–89: 1999 range 8–14, 2013 manual 8–13.
    assert chair_stand_30s(14, age=86, sex="male").status == "within normal range"
    assert chair_stand_30s(14, age=86, sex="male", edition="2013").status == "above normal range"
    # Women are the same in both editions.
    assert chair_stand_30s(10, age=67, sex="female", edition="2013").normal_range == (11, 16)


def test_chair_stand_low_function_threshold() -> None:
    assert chair_stand_30s(7, age=90, sex="female").below_low_function_threshold is True
    assert chair_stand_30s(8, age=90, sex="female").below_low_function_threshold is False


def test_chair_stand_unknown_and_arms_used() -> None:
    assert chair_stand_30s(10, age=None, sex="male").status == "unknown"
    assert chair_stand_30s(10, age=70, sex=None).status == "unknown"
    assisted = chair_stand_30s(10, age=70, sex="male", arms_used=True)
    assert assisted.status == "no norm"
    assert assisted.below_low_function_threshold is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stands": -1}, "stands"),
        ({"stands": 3.5}, "stands"),
        ({"age": 200}, "age"),
        ({"sex": "f"}, "sex"),
        ({"edition": "2001"}, "edition"),
    ],
)
def test_chair_stand_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"stands": 10, "age": 70, "sex": "male"}
    values.update(kwargs)
    stands = values.pop("stands")
    with pytest.raises(ValueError, match=field):
        chair_stand_30s(stands, **values)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=80), st.integers(min_value=60, max_value=94))
def test_chair_stand_every_valid_age_has_a_band(stands: int, age: int) -> None:
    for sex in ("female", "male"):
        result = chair_stand_30s(stands, age=age, sex=sex)  # type: ignore[arg-type]
        assert result.normal_range is not None
        low, high = result.normal_range
        assert (result.status == "within normal range") == (low <= stands <= high)


# --- gait speed --------------------------------------------------------------------------


def test_gait_speed_from_walk() -> None:
    # 10 m in 8 s = 1.25 m/s
    assert gait_speed_from_walk(10, 8) == 1.25
    with pytest.raises(ValueError, match="seconds"):
        gait_speed_from_walk(10, 0)


@pytest.mark.parametrize("age", [40, 45, 49])
def test_gait_speed_verified_stratum_men_40_49(age: int) -> None:
    # 1.2 / 1.434 × 100 = 83.68 %
    result = gait_speed(1.2, age=age, sex="male")
    assert result.status == "compared"
    assert result.reference_mean_m_s == 1.434
    assert result.percent_of_reference == pytest.approx(83.682, abs=1e-3)
    assert result.stratum == "male 40–49"


@pytest.mark.parametrize("age", [80, 99])
def test_gait_speed_verified_stratum_women_80_99(age: int) -> None:
    # 0.943 / 0.943 × 100 = 100 %
    result = gait_speed(0.943, age=age, sex="female")
    assert result.status == "compared"
    assert result.percent_of_reference == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("age", "sex"), [(39, "male"), (50, "male"), (62, "male"), (45, "female"), (79, "female")]
)
def test_gait_speed_unverified_strata_are_not_interpreted(age: int, sex: str) -> None:
    result = gait_speed(1.2, age=age, sex=sex)  # type: ignore[arg-type]
    assert result.status == "no verified norm"
    assert result.reference_mean_m_s is None
    assert result.percent_of_reference is None
    assert "No verified norm" in result.notes[0]
    # Unknown is not negative: no unverified value is offered and nothing is called normal.
    assert "normal" not in result.notes[0].casefold()
    assert "m/s" not in result.notes[0]


def test_unverified_gait_strata_carry_no_value() -> None:
    strata = load("function_norms")["gait_speed"]["stratum"]
    assert len(strata) == 14  # 7 decades (80–99 as one) × 2 sexes
    for stratum in strata:
        assert ("mean_m_s" in stratum) == stratum["verified"], stratum


@pytest.mark.parametrize(("age", "where"), [(58, "under 60"), (20, "under 60"), (95, "over 94")])
def test_chair_stand_outside_the_norms_says_so_plainly(age: int, where: str) -> None:
    result = chair_stand_30s(16, age=age, sex="male")
    assert result.status == "no norm"
    assert where in result.notes[0]
    assert "not called normal" in result.notes[0]


@pytest.mark.parametrize("age", [19, 100])
def test_gait_speed_outside_20_99_has_no_norm(age: int) -> None:
    assert gait_speed(1.2, age=age, sex="female").status == "no norm"


def test_gait_speed_missing_age_or_sex_is_unknown() -> None:
    assert gait_speed(1.2, age=None, sex="male").status == "unknown"
    assert gait_speed(1.2, age=45, sex=None).status == "unknown"


def test_gait_speed_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="speed_m_s"):
        gait_speed(-0.1, age=45, sex="male")


def test_only_abstract_verified_gait_strata_are_marked_verified() -> None:
    strata = load("function_norms")["gait_speed"]["stratum"]
    verified = {(s["sex"], s["age_min"], s["age_max"]) for s in strata if s["verified"]}
    assert verified == {("male", 40, 49), ("female", 80, 99)}
    assert all("verified_by" in s for s in strata if s["verified"])
