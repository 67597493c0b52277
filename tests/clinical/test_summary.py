"""Plain-language summaries: every sentence is backed by numbers from the trajectory."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from hipspine.clinical import instruments
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


_DIRECTION = re.compile(r"\b(up|down) from (\d+(?:\.\d+)?)")


def _check_backed(sentences: tuple[Sentence, ...]) -> None:
    """Every number in a sentence, scale anchors included ("out of 80", "/10", "0–100"),
    must come from its evidence, and every "up from" / "down from" must match it."""
    for sentence in sentences:
        assert sentence.evidence, f"no evidence for: {sentence.text}"
        unbacked = [n for n in _NUMBER.findall(sentence.text) if n not in _backing(sentence)]
        assert not unbacked, f"{unbacked} not backed by evidence in: {sentence.text}"
        _check_scale(sentence)
        _check_direction(sentence)


def _check_scale(sentence: Sentence) -> None:
    """A patient score "out of N" must use the instrument's own maximum."""
    measure = sentence.evidence.get("measure")
    for top in re.findall(r"out of (\d+)", sentence.text):
        assert sentence.evidence.get("scale_max") is not None, sentence.text
        assert float(top) == sentence.evidence["scale_max"], sentence.text
        if isinstance(measure, str) and not measure.startswith("nprs"):
            instrument = measure.split(":")[0]
            assert float(top) == instruments.get(instrument).score_max, sentence.text


def _check_direction(sentence: Sentence) -> None:
    """ "up from X" / "down from X" must agree with the numbers that back it."""
    pairs = [("psfs_first", "psfs_latest"), ("baseline", "latest"), ("gas_first", "gas_latest")]
    for word, before_text in _DIRECTION.findall(sentence.text):
        before = float(before_text)
        matches = [
            (sentence.evidence[a], sentence.evidence[b])
            for a, b in pairs
            if a in sentence.evidence and sentence.evidence[a] == before
        ]
        assert matches, f"no evidence for '{word} from {before_text}' in: {sentence.text}"
        for first, latest in matches:
            assert isinstance(first, int | float) and isinstance(latest, int | float)
            assert (latest > first) == (word == "up"), f"wrong direction in: {sentence.text}"


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


# --- other scales and directions ---------------------------------------------------------------

BASE = "2025-01-06"


def _series(*visits: dict[str, object], **extra: object) -> Trajectory:
    data = {
        "format": "hipspine.series/1",
        "patient": {"id": "t", "age": 66, "sex": "female", "weight_kg": 70},
        "baseline_date": BASE,
        "procedures": [{"date": "2025-01-13", "type": "injection", "target": "left hip joint"}],
        "visits": list(visits),
        **extra,
    }
    return trajectory(parse_series(data), today=date(2025, 6, 1))


def _lefs_falling_psfs() -> Trajectory:
    goal = {
        "id": "garden",
        "description": "Kneel in the garden",
        "set_on": BASE,
        "target_date": "2025-09-30",
        "psfs_activity": "Kneel",
    }
    return _series(
        {
            "date": BASE,
            "questionnaires": [{"instrument": "lefs", "score": 40}],
            "psfs": {"Kneel": 6, "Walk": 5},
            "goal_ratings": {"garden": -1},
            "mmt": [{"muscle": "gluteus_maximus", "side": "left", "mrc": "4"}],
        },
        {
            "date": "2025-04-14",
            "questionnaires": [{"instrument": "lefs", "score": 52}],
            "psfs": {"Kneel": 4, "Walk": 5},
            "goal_ratings": {"garden": -1},
            "mmt": [{"muscle": "gluteus_maximus", "side": "left", "mrc": "4+"}],
        },
        goals=[goal],
    )


def test_patient_lefs_sentence_uses_its_own_scale() -> None:
    t = _lefs_falling_psfs()
    lefs = next(s for s in patient_summary(t) if s.evidence.get("measure") == "lefs")
    # LEFS is scored 0–80 (Binkley 1999); +12 ≥ MCID 9 and ≥ MDC 9: clinically important
    assert lefs.text == (
        "Your leg function score (LEFS, higher is better) went from 40 to 52 out of 80: "
        "a clear improvement."
    )
    assert "out of 100" not in " ".join(s.text for s in patient_summary(t))


def test_falling_psfs_says_down_from() -> None:
    t = _lefs_falling_psfs()
    goal = next(s for s in patient_summary(t) if s.text.startswith("Your goal"))
    assert "you rate this activity 4 out of 10, down from 6" in goal.text
    assert "up from" not in goal.text
    clinician = next(s for s in clinician_summary(t) if s.text.startswith("Goal"))
    # 6 → 4: −2, within the single-activity MDC 3
    assert (
        "linked PSFS activity 6 → 4/10 (−2; single-activity MDC 3: within measurement error)"
        in (clinician.text)
    )


def test_lefs_and_falling_psfs_sentences_are_backed() -> None:
    t = _lefs_falling_psfs()
    _check_backed(clinician_summary(t))
    _check_backed(patient_summary(t))


def test_backing_check_catches_a_wrong_scale_and_direction() -> None:
    with pytest.raises(AssertionError):
        _check_backed(
            (Sentence("LEFS 40 to 52 out of 100.", {"measure": "lefs", "baseline": 40,
                                                   "value": 52, "scale_max": 100}),)
        )  # fmt: skip
    with pytest.raises(AssertionError, match="wrong direction"):
        _check_backed(
            (Sentence("You rate it 4 out of 10, up from 6.",
                      {"psfs_first": 6, "psfs_latest": 4, "scale_max": 10}),)
        )  # fmt: skip


def test_single_mrc_step_carries_the_caveat_for_the_patient() -> None:
    t = _lefs_falling_psfs()  # gluteus maximus left 4 → 4+: one ordinal step
    texts = [s.text for s in patient_summary(t)]
    assert not any("went up for" in text for text in texts)
    step = next(text for text in texts if "one small step" in text)
    assert "main buttock muscle (gluteus maximus) on the left" in step
    assert "normal variation between two tests" in step
    clinician = " ".join(s.text for s in clinician_summary(t))
    assert "grades are ordinal and no MDC exists for them" in clinician


def test_john_patient_strength_separates_single_steps() -> None:
    texts = [s.text for s in patient_summary(john())]
    gained = next(text for text in texts if "went up for" in text)
    assert "rough scale" in gained
    assert "gluteus maximus) on the right" in gained and "on the left" not in gained
    small = next(text for text in texts if "one small step" in text)
    assert "gluteus maximus) on the left" in small
    assert "gluteus medius and minimus) on the right" in small


def test_groc_is_summarised_without_an_unverified_responder_call() -> None:
    t = john()
    clinician = next(s for s in clinician_summary(t) if s.text.startswith("Global rating"))
    # John: +2 at 6 weeks, +6 at 8 months (−7 … +7); cut-offs ≥ +3 / ≥ +5 unverified
    assert "+2 (better) on 2026-01-19 → +6 (better) on 2026-08-10" in clinician.text
    assert "unverified, so no responder status is given" in clinician.text
    patient = next(s for s in patient_summary(t) if "overall change" in s.text)
    assert "+6" in patient.text and "−7" in patient.text and "+7" in patient.text


def test_side_to_side_sentence_for_john() -> None:
    texts = [s.text for s in clinician_summary(john())]
    glute = next(t for t in texts if t.startswith("Dynamometry side to side, gluteus maximus"))
    # 72 / 104 = 69.2%, asymmetry 30.8% ≥ 27%; 92 / 106 = 86.8%, 13.2% < 27%
    assert "left 104 vs right 72 N·m, right weaker, LSI 69.2% (asymmetry 30.8%" in glute
    assert "a possible deficit, not a confirmed one" in glute
    assert "LSI 86.8% (asymmetry 13.2%, below the 27% LSI measurement error" in glute
    # 72 / 84 = 0.86 N·m/kg, 180 / (84 × 9.80665) = 21.9 %BW; 92 / 84 = 1.1; 230 → 27.9 %BW
    assert "right side normalised 0.86 N·m/kg, 21.9% body weight → 1.1 N·m/kg, 27.9%" in glute
    assert "no verified HHD norm for a male aged 58" in glute
    patient = " ".join(s.text for s in patient_summary(john()))
    assert "right main buttock muscle (gluteus maximus) was weaker than the other side" in patient


def test_unverified_threshold_is_never_a_clear_improvement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = instruments.change_thresholds

    def unverified(iid: str, subscale: str | None = None) -> instruments.Thresholds:
        found = real(iid, subscale)
        if iid != "hoos":
            return found
        return replace(found, entries=tuple(replace(e, verified=False) for e in found.entries))

    monkeypatch.setattr(instruments, "change_thresholds", unverified)
    t = john()
    hoos = next(s for s in patient_summary(t) if s.evidence.get("measure") == "hoos:pain")
    assert "clear improvement" not in hoos.text
    assert "not confirmed" in hoos.text
    clinician = next(s for s in clinician_summary(t) if s.text.startswith("HOOS Pain"))
    assert "improvement meeting an unverified threshold" in clinician.text
    assert "MCII 24 points, unverified" in clinician.text
