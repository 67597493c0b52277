"""ODI v2.1a and modified ODI scoring (Fairbank & Pynsent, Spine 2000;25(22):2940-52)."""

from __future__ import annotations

import pytest

from hipspine.clinical import instruments
from hipspine.clinical.instruments import InvalidAnswers

V21A = [
    "pain_intensity",
    "personal_care",
    "lifting",
    "walking",
    "sitting",
    "standing",
    "sleeping",
    "sex_life",
    "social_life",
    "travelling",
]


def odi(values: list[int | None], instrument: str = "odi") -> instruments.Score:
    ids = [i.id for i in instruments.get(instrument).scored_items]
    return instruments.score(instrument, dict(zip(ids, values, strict=True)))


def test_published_worked_example_16_of_45() -> None:
    # Fairbank & Pynsent 2000: one section missed, 16 scored points
    # → 16 / 45 × 100 = 35.555…% (printed as 35.5%; unrounded here).
    # 2+1+3+1+2+2+1+(sex life skipped)+2+2 = 16 over 9 sections.
    result = odi([2, 1, 3, 1, 2, 2, 1, None, 2, 2])
    assert result.value == pytest.approx(16 / 45 * 100)
    assert round(result.value or 0, 2) == 35.56
    assert result.answered == 9
    assert result.missing == 1
    assert result.band is not None and result.band.id == "moderate"
    assert result.missing_rule == "odi-fairbank-2000-denominator"
    assert result.version == "2.1a"
    assert "16 of 45 points" in result.explain
    assert result.notes == ()  # a single missing section is routine


def test_all_sections_answered_uses_denominator_50() -> None:
    # 16 points over 10 sections → 16 / 50 × 100 = 32.0
    result = odi([2, 1, 3, 1, 2, 2, 1, 0, 2, 2])
    assert result.value == pytest.approx(32.0)
    assert result.missing == 0


def test_score_is_not_rounded() -> None:
    # 1 point over 3 sections → 1 / 15 × 100 = 6.666…; must not be stored as 6.67 or 7.
    result = odi([1, 0, 0, None, None, None, None, None, None, None])
    assert result.value == pytest.approx(100 / 15)
    assert result.value != round(result.value or 0, 2)


def test_extremes() -> None:
    assert odi([0] * 10).value == 0.0
    assert odi([5] * 10).value == 100.0
    low, high = odi([0] * 10).band, odi([5] * 10).band
    assert low is not None and low.id == "minimal"
    assert high is not None and high.id == "bed_bound"


@pytest.mark.parametrize(
    ("points", "band"),
    [
        # 10 sections: value = points × 2 exactly.
        (10, "minimal"),  # 20% — top of 0–20
        (11, "moderate"),  # 22%
        (20, "moderate"),  # 40% — top of 21–40
        (21, "severe"),  # 42%
        (30, "severe"),  # 60%
        (31, "crippled"),  # 62%
        (40, "crippled"),  # 80%
        (41, "bed_bound"),  # 82%
    ],
)
def test_band_boundaries(points: int, band: str) -> None:
    values = [5] * (points // 5) + ([points % 5] if points % 5 else [])
    values += [0] * (10 - len(values))
    result = odi(values)
    assert result.value == pytest.approx(points * 2)
    assert result.band is not None and result.band.id == band


def test_band_boundary_between_integers_goes_up() -> None:
    # 9 sections, 10 points → 22.2%: above 20, so moderate (bands are upper-inclusive).
    result = odi([5, 5, 0, 0, 0, 0, 0, None, 0, 0])
    assert result.value == pytest.approx(1000 / 45)
    assert result.band is not None and result.band.id == "moderate"
    # 9 sections, 9 points → exactly 20.0% → minimal.
    result = odi([5, 4, 0, 0, 0, 0, 0, None, 0, 0])
    assert result.value == pytest.approx(20.0)
    assert result.band is not None and result.band.id == "minimal"


def test_single_answered_section_is_scored_per_manual() -> None:
    # Manual: "in theory only a single section is required". 3 / 5 × 100 = 60.
    result = odi([3, None, None, None, None, None, None, None, None, None])
    assert result.value == pytest.approx(60.0)
    assert result.answered == 1 and result.missing == 9
    assert any("9 sections unanswered" in n for n in result.notes)


def test_no_answered_section_gives_missing_result() -> None:
    result = odi([None] * 10)
    assert result.value is None
    assert result.band is None
    assert "no section" in result.reason


def test_two_missing_sections_add_a_note_one_does_not() -> None:
    assert odi([1] * 9 + [None]).notes == ()
    two = odi([1] * 8 + [None, None])
    assert two.value == pytest.approx(8 / 40 * 100)
    assert len(two.notes) == 1


def test_two_boxes_ticked_takes_the_higher() -> None:
    answers: dict[str, instruments.Answer] = {i: 0 for i in V21A}
    answers["pain_intensity"] = [1, 3]
    result = instruments.score("odi", answers)
    assert result.value == pytest.approx(3 / 50 * 100)
    assert any("pain_intensity" in n for n in result.notes)


def test_answer_by_label_case_insensitive() -> None:
    answers: dict[str, instruments.Answer] = {i: 0 for i in V21A}
    answers["pain_intensity"] = "the pain is MODERATE at the moment"
    answers["walking"] = "I am in bed most of the time"
    assert instruments.score("odi", answers).value == pytest.approx(7 / 50 * 100)


def test_out_of_range_section_names_item_and_allowed() -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("odi", {"lifting": 6})
    assert error.value.item == "lifting"
    assert "lifting" in str(error.value)
    assert "5 (I cannot lift or carry anything at all)" in str(error.value)


def test_modified_odi_is_a_separate_version() -> None:
    modified = instruments.get("odi_modified")
    assert modified.version != instruments.get("odi").version
    ids = [i.id for i in modified.scored_items]
    assert "employment_homemaking" in ids and "sex_life" not in ids
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("odi_modified", {"sex_life": 1})
    assert error.value.item == "sex_life"
    # Same arithmetic: 2+1+3+1+2+2+1+2+2+(employment 0) = 16 / 50 → 32.0
    result = odi([2, 1, 3, 1, 2, 2, 1, 2, 2, 0], "odi_modified")
    assert result.value == pytest.approx(32.0)
    assert result.band is None  # Fairbank's bands are not transferred to this version
    assert "no interpretation bands" in result.explain
