"""Plain-language summaries: every sentence is backed by numbers from the trajectory."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from hipspine.clinical.series import parse_series
from hipspine.clinical.summary import (
    Sentence,
    clinician_summary,
    long_date,
    number,
    patient_summary,
)
from hipspine.clinical.trajectory import Trajectory, trajectory

ROOT = Path(__file__).resolve().parents[2]
JOHN = ROOT / "examples" / "john-followup.json"
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:\.\d+)?")


def john() -> Trajectory:
    return trajectory(
        parse_series(json.loads(JOHN.read_text(encoding="utf-8"))), today=date(2026, 8, 10)
    )


def _backing(sentence: Sentence) -> set[str]:
    """Every number the evidence can justify: numeric values (rounded as shown) and any
    digits inside evidence text (dates, labels such as '30-second chair stand')."""
    allowed: set[str] = set()
    for value in sentence.evidence.values():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            for decimals in (0, 1, 2):
                allowed.add(number(abs(value), decimals))
            if isinstance(value, float) and value.is_integer():
                allowed.add(str(int(abs(value))))
        else:
            allowed.update(_NUMBER.findall(str(value)))
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
                day = date.fromisoformat(str(value))
                allowed.update(_NUMBER.findall(long_date(day)))
    return allowed


def _check_backed(sentences: tuple[Sentence, ...]) -> None:
    for sentence in sentences:
        assert sentence.evidence, f"no evidence for: {sentence.text}"
        unbacked = [n for n in _NUMBER.findall(sentence.text) if n not in _backing(sentence)]
        # "out of 10/100", "/10" and "0–100" are scale anchors, not claims
        unbacked = [n for n in unbacked if n not in {"10", "100", "0"}]
        assert not unbacked, f"{unbacked} not backed by evidence in: {sentence.text}"


def test_every_clinician_sentence_is_backed_by_its_evidence() -> None:
    _check_backed(clinician_summary(john()))


def test_every_patient_sentence_is_backed_by_its_evidence() -> None:
    _check_backed(patient_summary(john()))


def test_evidence_matches_the_trajectory() -> None:
    t = john()
    pain = {m.key: m for m in t.pain}
    checked = 0
    for sentence in (*clinician_summary(t), *patient_summary(t)):
        ev = sentence.evidence
        key = ev.get("measure")
        if (
            isinstance(key, str)
            and key in pain
            and ev.get("date")
            and "weeks_since_treatment" in ev
        ):
            m = pain[key]
            day = date.fromisoformat(str(ev["date"]))
            point = next(p for p in m.points if p.date == day)
            assert ev["baseline"] == m.baseline
            assert ev["value"] == point.value
            assert point.clinically_important is True
            assert ev["weeks_since_treatment"] == (day - t.treatment_date).days / 7
            checked += 1
    assert checked >= 4  # clinician and patient sentences for back, buttock, hip


def test_clinician_summary_says_back_first_hip_later() -> None:
    texts = [s.text for s in clinician_summary(john())]
    back = next(t for t in texts if t.startswith("Low back (lumbar) pain"))
    hip = next(t for t in texts if t.startswith("Anterior hip / groin (right) pain"))
    assert "improved first" in back and "6 weeks after the procedure (2026-01-19)" in back
    assert "NPRS 8 → 5/10" in back
    assert "improved later" in hip and "13 weeks after the procedure (2026-03-09)" in hip
    # 13 − 6 = 7 weeks between the back and the hip
    assert "7 weeks after low back (lumbar) pain" in hip
    assert texts.index(back) < texts.index(hip)


def test_patient_summary_in_simple_words() -> None:
    sentences = patient_summary(john())
    texts = [s.text for s in sentences]
    assert texts[0].startswith("Your low back pain eased first")
    assert "about 6 weeks" in texts[0] and "from 8 to 5 out of 10" in texts[0]
    hip = next(t for t in texts if "hip (groin) pain started to ease later" in t)
    assert "about 13 weeks" in hip
    assert any("ibuprofen about 1 day a week, down from 3" in t for t in texts)
    assert any("135 metres further" in t for t in texts)
    assert any("12 months, around 8 December 2026" in t for t in texts)
    for word in ("MCID", "OMERACT", "NPRS"):
        assert all(word not in t for t in texts)


def test_clinician_summary_covers_strength_function_goal_medication() -> None:
    t = john()
    text = " ".join(s.text for s in clinician_summary(t))
    assert "iliopsoas right 4- → 4+ (+2)" in text
    assert "gluteus maximus right 4- → 4+ (+2)" in text
    assert "abdominals" in text and "lumbar paraspinals" in text
    assert "Six-minute walk 410 → 545 m" in text
    assert "GAS −2 → −1" in text
    assert "Ibuprofen (NSAID): 3 → 1 days per week" in text
    assert "definition text unverified" in text
    assert "MDC unverified" in text  # ODI MDC is not verified


def test_summary_of_unknown_regions_makes_no_claim() -> None:
    data = {
        "format": "hipspine.series/1",
        "baseline_date": "2025-01-06",
        "procedures": [{"date": "2025-01-13", "type": "injection", "target": "hip"}],
        "visits": [
            {"date": "2025-01-06", "pain": [{"region": "groin", "score": 6}]},
            {"date": "2025-02-24", "pain": [{"region": "lumbar", "score": 2}]},
        ],
    }
    t = trajectory(parse_series(data), today=date(2025, 3, 1))
    clinician = clinician_summary(t)
    patient = patient_summary(t)
    assert not any("improved" in s.text or "eased" in s.text for s in (*clinician, *patient))
    assert any("change unknown" in s.text for s in clinician)
    _check_backed(clinician)
    _check_backed(patient)


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [(6.0, 1, "6"), (37.5, 1, "37.5"), (-3.0, 1, "−3"), (410.0, 0, "410"), (0.0, 1, "0")],
)
def test_number_format(value: float, decimals: int, text: str) -> None:
    assert number(value, decimals) == text


def test_backing_check_catches_an_unbacked_number() -> None:
    with pytest.raises(AssertionError, match="not backed"):
        _check_backed((Sentence("NPRS 8 → 4 at 6 weeks.", {"baseline": 8, "value": 5, "w": 6}),))
