"""The public API: definitions, licence switches, thresholds and error handling."""

from __future__ import annotations

import pytest

from hipspine.clinical import instruments
from hipspine.clinical.instruments import Direction, InvalidAnswers

EXPECTED = ("nprs", "odi", "odi_modified", "hoos", "lefs", "psfs", "groc", "start_back")


def test_all_instruments_load_with_complete_metadata() -> None:
    assert tuple(i.id for i in instruments.all_instruments()) == EXPECTED
    for instrument in instruments.all_instruments():
        assert instrument.name and instrument.version and instrument.source
        assert instrument.recall_period and instrument.scoring_rule and instrument.rounding
        assert instrument.licence.notice and instrument.licence.terms
        assert instrument.missing_data.rule and instrument.missing_data.follows
        assert instrument.score_min < instrument.score_max
        for item in instrument.items:
            assert item.text.strip()
            assert item.kind == "context" or item.options
        for threshold in instrument.thresholds:
            assert threshold.source and threshold.population
            assert threshold.value > 0
        for band in instrument.bands:
            assert band.source


def test_item_counts_match_the_published_instruments() -> None:
    counts = {i.id: len(i.scored_items) for i in instruments.all_instruments()}
    assert counts == {
        "nprs": 1,
        "odi": 10,
        "odi_modified": 10,
        "hoos": 40,
        "lefs": 20,
        "psfs": 5,
        "groc": 1,
        "start_back": 9,
    }
    hoos = instruments.get("hoos")
    assert {s.id: len(s.items) for s in hoos.subscales} == {
        "pain": 10,
        "symptoms": 5,
        "adl": 17,
        "sport_rec": 4,
        "qol": 4,
    }
    assert all(len(i.options) == 6 for i in instruments.get("odi").scored_items)


def test_loinc_codes_from_clinical_reference() -> None:
    def codes(instrument_id: str) -> dict[str, str]:
        return {c.target: c.code for c in instruments.get(instrument_id).loinc}

    assert codes("nprs") == {"score": "72514-3"}
    assert codes("odi") == {"panel": "97908-8", "score": "97909-6"}
    assert codes("hoos") == {
        "pain": "72097-9",
        "symptoms": "72096-1",
        "adl": "72095-3",
        "sport_rec": "72094-6",
        "qol": "72093-8",
    }
    assert codes("lefs") == {} and codes("psfs") == {} and codes("odi_modified") == {}


def test_hoos_jr_is_not_shipped_and_the_package_says_why() -> None:
    assert "hoos_jr" not in instruments.INSTRUMENT_IDS
    doc = instruments.__doc__ or ""
    assert "HOOS JR is deliberately absent" in doc and "linear" in doc
    with pytest.raises(KeyError, match="unknown instrument 'hoos_jr'"):
        instruments.get("hoos_jr")


def test_licence_switches() -> None:
    odi = instruments.get("odi")
    assert "Fairbank" in odi.licence.notice
    assert "commercial use" in odi.licence.requires_permission_for
    assert "Keele University, 2007" in instruments.get("start_back").licence.notice
    clinic = instruments.enabled(["odi", "odi_modified"])
    assert [i.id for i in clinic] == ["nprs", "hoos", "lefs", "psfs", "groc", "start_back"]
    assert len(instruments.enabled()) == len(EXPECTED)
    with pytest.raises(KeyError, match="odii"):
        instruments.enabled(["odii"])


def test_change_thresholds_odi() -> None:
    thresholds = instruments.change_thresholds("odi")
    assert thresholds.direction is Direction.HIGHER_IS_WORSE
    preferred = thresholds.preferred("mcid")
    assert {(t.value, t.unit) for t in preferred} == {
        (10.0, "points"),
        (30.0, "percent_of_baseline"),
    }
    assert all("Ostelo" in t.source and t.verified for t in preferred)
    mdc = thresholds.of_kind("mdc")
    assert [t.value for t in mdc] == [10.0] and not mdc[0].verified


def test_change_thresholds_other_instruments() -> None:
    nprs = instruments.change_thresholds("nprs")
    assert {(t.value, t.unit) for t in nprs.preferred("mcid")} == {
        (2.0, "points"),
        (30.0, "percent_of_baseline"),
    }
    lefs = instruments.change_thresholds("lefs")
    assert lefs.direction is Direction.HIGHER_IS_BETTER
    assert [(t.kind, t.value) for t in lefs.entries] == [("mcid", 9.0), ("mdc", 9.0)]
    psfs = instruments.change_thresholds("psfs")
    assert [t.value for t in psfs.of_kind("mdc")] == [2.0]
    pain = instruments.change_thresholds("hoos", "pain")
    mcii = pain.of_kind("mcii")
    assert [t.value for t in mcii] == [24.0]
    assert "arthroplasty" in mcii[0].population
    assert [t.value for t in instruments.change_thresholds("hoos", "qol").of_kind("mcii")] == [17.0]
    assert instruments.change_thresholds("hoos").entries == ()  # HOOS has no total
    assert all(not t.verified for t in instruments.change_thresholds("groc").entries)
    assert instruments.change_thresholds("start_back").entries == ()
    with pytest.raises(KeyError, match="no subscale 'stiffness'"):
        instruments.change_thresholds("hoos", "stiffness")


def test_direction_turns_change_into_improvement() -> None:
    # ODI 40 → 30 is a 10-point improvement; LEFS 40 → 30 is a 10-point worsening.
    assert instruments.direction("odi").improvement(40, 30) == 10
    assert instruments.direction("lefs").improvement(40, 30) == -10


def test_unknown_item_names_item_and_lists_items() -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("lefs", {"q21": 3})
    assert isinstance(error.value, ValueError)
    assert error.value.item == "q21" and "q20" in error.value.allowed


@pytest.mark.parametrize("bad", [True, 2.5, 3.0, {"a": 1}, "three"])
def test_non_answers_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidAnswers) as error:
        instruments.score("groc", {"groc": bad})  # type: ignore[dict-item]
    assert error.value.item == "groc"


def test_answers_must_be_a_mapping() -> None:
    with pytest.raises(InvalidAnswers):
        instruments.score("groc", [("groc", 1)])  # type: ignore[arg-type]


def test_unknown_instrument() -> None:
    with pytest.raises(KeyError, match="known: nprs"):
        instruments.score("womac", {})
