"""Keele STarT Back scoring and risk groups (keele.ac.uk/sbst)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import pytest

from hipspine.clinical import instruments
from hipspine.clinical.instruments import InvalidAnswers


def sbst(agree: set[int], bother: int | str = "Not at all") -> instruments.Score:
    answers: dict[str, instruments.Answer] = {f"q{i}": int(i in agree) for i in range(1, 9)}
    answers["q9"] = bother
    return instruments.score("start_back", answers)


@pytest.mark.parametrize(
    ("agree", "bother", "total", "psychosocial", "group"),
    [
        (set(), "Not at all", 0, 0, "low"),
        ({1, 2, 3}, "Not at all", 3, 0, "low"),  # total 3: top of low
        ({5, 6, 7}, "Moderately", 3, 3, "low"),  # total ≤ 3 is low whatever the subscale
        ({1, 5, 6, 7}, "Slightly", 4, 3, "medium"),  # total 4, subscale 3
        ({1, 2, 3, 4, 5, 6, 7}, "Slightly", 7, 3, "medium"),  # subscale 3 stays medium
        ({5, 6, 7, 8}, "Not at all", 4, 4, "high"),  # subscale 4: high
        ({5, 6, 7}, "Very much", 4, 4, "high"),  # item 9 'Very much' scores 1
        ({1, 2, 3, 4, 5, 6, 7, 8}, "Extremely", 9, 5, "high"),
    ],
)
def test_total_subscale_and_risk_group(
    agree: set[int], bother: str, total: int, psychosocial: int, group: str
) -> None:
    result = sbst(agree, bother)
    assert result.value == float(total)
    assert result.subscales["psychosocial"].value == float(psychosocial)
    assert result.band is not None and result.band.id == group


@pytest.mark.parametrize(("code", "scores"), [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1)])
def test_item9_response_codes(code: int, scores: int) -> None:
    assert sbst(set(), code).value == float(scores)


def test_labels_agree_disagree() -> None:
    answers: dict[str, instruments.Answer] = {f"q{i}": "Agree" for i in range(1, 9)}
    answers["q9"] = "Extremely"
    assert instruments.score("start_back", answers).value == 9.0


def test_any_missing_item_gives_no_group() -> None:
    answers: dict[str, instruments.Answer] = {f"q{i}": 1 for i in range(1, 9)}
    result = instruments.score("start_back", answers)  # q9 missing
    assert result.value is None and result.band is None
    assert "q9" in result.reason


def test_invalid_answer_names_item() -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("start_back", {"q3": 2})
    assert error.value.item == "q3" and "1 (Agree)" in str(error.value)


def test_cut_offs_come_from_the_data_file() -> None:
    risk = cast(Mapping[str, object], instruments.get("start_back").extra["risk"])
    assert risk["low_max_total"] == 3
    assert risk["high_min_psychosocial"] == 4
    with pytest.raises(ValueError, match="scoring rule"):
        instruments.get("start_back").band_for(5)
