"""NPRS, LEFS, PSFS and GROC scoring, with hand-computed cases."""

from __future__ import annotations

import pytest

from hipspine.clinical import instruments
from hipspine.clinical.instruments import InvalidAnswers

# --- NPRS -------------------------------------------------------------------------------


def test_nprs_rating_with_region_and_default_recall() -> None:
    result = instruments.score("nprs", {"region": "lumbar", "pain": 6})
    assert result.value == 6.0
    assert result.context == {"region": "lumbar", "recall": "past_week"}
    assert result.band is not None and result.band.id == "pain"
    assert "low back (lumbar)" in result.explain and "past week" in result.explain


@pytest.mark.parametrize(("rating", "band"), [(0, "no_pain"), (1, "pain"), (10, "pain")])
def test_nprs_band_boundaries(rating: int, band: str) -> None:
    result = instruments.score("nprs", {"region": "groin", "recall": "now", "pain": rating})
    assert result.band is not None and result.band.id == band


def test_nprs_region_is_required_and_checked() -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("nprs", {"pain": 3})
    assert error.value.item == "region"
    assert "lumbar" in error.value.allowed
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("nprs", {"region": "elbow", "pain": 3})
    assert error.value.item == "region" and "buttock" in str(error.value)


def test_nprs_rejects_out_of_range_and_bad_recall() -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("nprs", {"region": "lumbar", "pain": 11})
    assert error.value.item == "pain" and "10 (Worst imaginable pain)" in str(error.value)
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("nprs", {"region": "lumbar", "recall": "last_month", "pain": 1})
    assert error.value.item == "recall"


def test_nprs_unanswered_rating_gives_no_score() -> None:
    result = instruments.score("nprs", {"region": "buttock", "pain": None})
    assert result.value is None and "not answered" in result.reason
    assert result.missing == 1


# --- LEFS -------------------------------------------------------------------------------

LEFS = [f"q{i}" for i in range(1, 21)]


def test_lefs_hand_computed_total() -> None:
    # Items 1..20 answered i mod 5 → 1,2,3,4,0 four times → (1+2+3+4+0) × 4 = 40
    result = instruments.score("lefs", {q: i % 5 for i, q in enumerate(LEFS, 1)})
    assert result.value == 40.0
    assert instruments.score("lefs", dict.fromkeys(LEFS, 4)).value == 80.0
    assert instruments.score("lefs", dict.fromkeys(LEFS, 0)).value == 0.0


def test_lefs_labels() -> None:
    answers: dict[str, instruments.Answer] = dict.fromkeys(LEFS, "No difficulty")
    answers["q6"] = "Extreme difficulty or unable to perform activity"
    assert instruments.score("lefs", answers).value == 76.0  # 19 × 4 + 0


def test_lefs_missing_item_boundary() -> None:
    answers: dict[str, instruments.Answer] = dict.fromkeys(LEFS, 3)
    assert instruments.score("lefs", answers).value == 60.0
    answers["q12"] = None
    result = instruments.score("lefs", answers)
    assert result.value is None
    assert "q12" in result.reason and result.answered == 19 and result.missing == 1


def test_lefs_rejects_two_marks() -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("lefs", {"q3": [1, 2]})
    assert error.value.item == "q3" and "exactly one" in str(error.value)


# --- PSFS -------------------------------------------------------------------------------


def test_psfs_mean_of_rated_activities() -> None:
    # (3 + 5 + 7) / 3 = 5.0
    result = instruments.score("psfs", {"activity_1": 3, "activity_2": 5, "activity_3": 7})
    assert result.value == pytest.approx(5.0)
    assert result.notes == ()
    assert set(result.subscales) == {"activity_1", "activity_2", "activity_3"}
    # (1 + 1 + 2) / 3 = 1.333…, unrounded
    result = instruments.score("psfs", {"activity_1": 1, "activity_2": 1, "activity_3": 2})
    assert result.value == pytest.approx(4 / 3)
    # five activities: (10 + 9 + 8 + 7 + 6) / 5 = 8.0
    five = {f"activity_{i}": 11 - i for i in range(1, 6)}
    assert instruments.score("psfs", five).value == pytest.approx(8.0)


def test_psfs_two_activities_divide_by_two_not_three() -> None:
    # (3 + 4) / 2 = 3.5 (dividing by a fixed 3 would give 2.33)
    result = instruments.score("psfs", {"activity_1": 3, "activity_3": 4})
    assert result.value == pytest.approx(3.5)


def test_psfs_single_activity_is_scored_and_flagged() -> None:
    result = instruments.score("psfs", {"activity_2": 4})
    assert result.value == 4.0
    assert any("single-activity MDC (3 points)" in n for n in result.notes)
    single = instruments.change_thresholds("psfs", "single_item").of_kind("mdc")
    assert [t.value for t in single] == [3.0]


def test_psfs_no_activity_gives_no_score() -> None:
    result = instruments.score("psfs", {})
    assert result.value is None and "no activity" in result.reason


def test_psfs_out_of_range() -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("psfs", {"activity_1": 11})
    assert error.value.item == "activity_1"


# --- GROC -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rating", "band"),
    [(-7, "worse"), (-1, "worse"), (0, "no_change"), (1, "better"), (7, "better")],
)
def test_groc_band_boundaries(rating: int, band: str) -> None:
    result = instruments.score("groc", {"groc": rating})
    assert result.value == float(rating)
    assert result.band is not None and result.band.id == band


def test_groc_label_and_range() -> None:
    assert instruments.score("groc", {"groc": "Somewhat better"}).value == 3.0
    assert instruments.score("groc", {"groc": "-7"}).value == -7.0
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("groc", {"groc": 8})
    assert error.value.item == "groc" and "-7 (A very great deal worse)" in str(error.value)
    assert instruments.score("groc", {}).value is None
