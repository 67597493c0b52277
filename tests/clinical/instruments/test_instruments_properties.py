"""Property tests: no valid answer set crashes a scorer and every score stays in range."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipspine.clinical import instruments
from hipspine.clinical.instruments import Instrument, InvalidAnswers, Item


def _one(item: Item) -> st.SearchStrategy[Any]:
    values = [o.value for o in item.options]
    labels = [o.label for o in item.options if o.label and not o.label.lstrip("-").isdigit()]
    choices: st.SearchStrategy[Any] = st.sampled_from(values)
    if labels:
        choices = choices | st.sampled_from(labels)
    return choices


def _answers(instrument: Instrument) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for item in instrument.items:
        if item.kind == "context":
            fields[item.id] = st.sampled_from(item.allowed_text)
            continue
        options = _one(item)
        if instrument.missing_data.multiple_marks == "highest":
            options = options | st.lists(_one(item), min_size=1, max_size=3)
        fields[item.id] = st.none() | options
    return st.fixed_dictionaries(fields)


def _in_range(instrument: Instrument, value: float | None) -> bool:
    return value is None or instrument.score_min <= value <= instrument.score_max


@pytest.mark.parametrize("instrument_id", instruments.INSTRUMENT_IDS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_valid_answers_never_crash_and_stay_in_range(instrument_id: str, data: Any) -> None:
    instrument = instruments.get(instrument_id)
    answers = data.draw(_answers(instrument))
    result = instruments.score(instrument_id, answers)
    assert result.instrument_id == instrument_id and result.version == instrument.version
    assert result.answered + result.missing == len(instrument.scored_items)
    assert _in_range(instrument, result.value)
    for subscale in result.subscales.values():
        assert _in_range(instrument, subscale.value)
    assert result.explain
    if result.value is None:
        assert result.reason
    if result.band is not None and result.value is not None:
        assert result.value <= result.band.upper


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_hoos_subscale_scored_exactly_when_half_answered(data: Any) -> None:
    instrument = instruments.get("hoos")
    answers = data.draw(_answers(instrument))
    result = instruments.score("hoos", answers)
    for subscale in instrument.subscales:
        answered = sum(answers[i] is not None and answers[i] != [] for i in subscale.items)
        scored = result.subscales[subscale.id].value is not None
        assert scored == (answered >= subscale.minimum_answered)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.integers(0, 5), min_size=10, max_size=10))
def test_odi_matches_the_manual_formula(values: list[int | None]) -> None:
    ids = [i.id for i in instruments.get("odi").scored_items]
    result = instruments.score("odi", dict(zip(ids, values, strict=True)))
    given_ = [v for v in values if v is not None]
    if not given_:
        assert result.value is None
    else:
        assert result.value == pytest.approx(sum(given_) / (5 * len(given_)) * 100)


@pytest.mark.parametrize("instrument_id", instruments.INSTRUMENT_IDS)
@settings(max_examples=60, deadline=None)
@given(bad=st.integers(-50, 50), data=st.data())
def test_out_of_range_integer_raises_naming_the_item(
    instrument_id: str, bad: int, data: Any
) -> None:
    instrument = instruments.get(instrument_id)
    item = data.draw(st.sampled_from(instrument.scored_items))
    if bad in {o.value for o in item.options}:
        return
    answers: dict[str, Any] = {"region": "lumbar"} if instrument_id == "nprs" else {}
    answers[item.id] = bad
    with pytest.raises(InvalidAnswers) as error:
        instruments.score(instrument_id, answers)
    assert error.value.item == item.id
    assert item.id in str(error.value)
