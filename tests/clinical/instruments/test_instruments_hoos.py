"""HOOS LK2.0 subscale scoring (HOOS Scoring 2013, koos.nu)."""

from __future__ import annotations

import pytest

from hipspine.clinical import instruments
from hipspine.clinical.instruments import InvalidAnswers

PAIN = [f"p{i}" for i in range(1, 11)]
SYMPTOMS = [f"s{i}" for i in range(1, 6)]
ADL = [f"a{i}" for i in range(1, 18)]
SPORT = [f"sp{i}" for i in range(1, 5)]
QOL = [f"q{i}" for i in range(1, 5)]


def hoos(answers: dict[str, instruments.Answer]) -> instruments.Score:
    return instruments.score("hoos", answers)


def test_hand_computed_subscales() -> None:
    answers: dict[str, instruments.Answer] = {}
    # Pain: 1+2+3+0+1+2+3+0+1+2 = 15, mean 1.5 → 100 − 1.5/4×100 = 62.5
    answers |= dict(zip(PAIN, [1, 2, 3, 0, 1, 2, 3, 0, 1, 2], strict=True))
    # Symptoms: 4+3+2+1+0 = 10, mean 2 → 50
    answers |= dict(zip(SYMPTOMS, [4, 3, 2, 1, 0], strict=True))
    # ADL: all 1 → mean 1 → 75
    answers |= dict.fromkeys(ADL, 1)
    # Sport/rec: 2+2+3+1 = 8, mean 2 → 50
    answers |= dict(zip(SPORT, [2, 2, 3, 1], strict=True))
    # QoL: 4+4+4+3 = 15, mean 3.75 → 6.25
    answers |= dict(zip(QOL, [4, 4, 4, 3], strict=True))
    result = hoos(answers)
    values = {k: v.value for k, v in result.subscales.items()}
    assert values == {
        "pain": pytest.approx(62.5),
        "symptoms": pytest.approx(50.0),
        "adl": pytest.approx(75.0),
        "sport_rec": pytest.approx(50.0),
        "qol": pytest.approx(6.25),
    }
    assert result.value is None  # no total score exists
    assert "no total" in result.reason
    assert result.answered == 40 and result.missing == 0
    assert result.missing_rule == "hoos-2013-half-items"


def test_extremes() -> None:
    ids = PAIN + SYMPTOMS + ADL + SPORT + QOL
    best = hoos(dict.fromkeys(ids, 0))
    worst = hoos(dict.fromkeys(ids, 4))
    assert all(s.value == 100.0 for s in best.subscales.values())
    assert all(s.value == 0.0 for s in worst.subscales.values())


@pytest.mark.parametrize(
    ("subscale", "items", "needed"),
    [("pain", PAIN, 5), ("symptoms", SYMPTOMS, 3), ("adl", ADL, 9), ("sport_rec", SPORT, 2),
     ("qol", QOL, 2)],
)  # fmt: skip
def test_half_the_items_rule_at_its_boundary(subscale: str, items: list[str], needed: int) -> None:
    enough = hoos(dict.fromkeys(items[:needed], 2))
    assert enough.subscales[subscale].value == pytest.approx(50.0)
    assert enough.subscales[subscale].answered == needed
    too_few = hoos(dict.fromkeys(items[: needed - 1], 2))
    assert too_few.subscales[subscale].value is None
    assert f"at least {needed} needed" in too_few.subscales[subscale].reason


def test_mean_is_over_answered_items_only() -> None:
    # Pain with 5 of 10 answered: 4+4+4+4+0 = 16, mean 3.2 → 100 − 80 = 20
    result = hoos(dict(zip(PAIN[:5], [4, 4, 4, 4, 0], strict=True)))
    assert result.subscales["pain"].value == pytest.approx(20.0)
    assert result.subscales["pain"].missing == 5


def test_subscales_are_independent() -> None:
    # Symptoms invalid (2 of 5) does not stop QoL (2 of 4) being scored.
    result = hoos({"s1": 1, "s2": 1, "q1": 2, "q2": 2})
    assert result.subscales["symptoms"].value is None
    assert result.subscales["qol"].value == pytest.approx(50.0)


def test_two_boxes_marked_takes_the_more_severe() -> None:
    # p1 marked Monthly (1) and Daily (3): the more severe (3) counts.
    # Pain items 3,0,0,0,0 → mean 0.6 → 100 − 0.6/4×100 = 85
    answers: dict[str, instruments.Answer] = dict.fromkeys(PAIN[1:5], 0)
    answers["p1"] = ["Monthly", "Daily"]
    result = hoos(answers)
    assert result.subscales["pain"].value == pytest.approx(85.0)
    assert result.notes


def test_answer_labels_per_item_wording() -> None:
    # s1 uses Never…Always, q1 Never…Constantly, q2 Not at all…Totally.
    result = hoos({"s1": "Always", "s2": 0, "s3": 0, "q1": "Constantly", "q2": "Totally"})
    assert result.subscales["symptoms"].value == pytest.approx(100 - (4 / 3) / 4 * 100)
    assert result.subscales["qol"].value == pytest.approx(0.0)
    with pytest.raises(InvalidAnswers) as error:
        hoos({"q2": "Extreme"})
    assert error.value.item == "q2"
    assert "4 (Totally)" in str(error.value)


def test_out_of_range_names_item() -> None:
    with pytest.raises(InvalidAnswers) as error:
        hoos({"a17": 5})
    assert error.value.item == "a17"
    assert "0 (None)" in str(error.value)
