"""Trajectories: change from baseline against MCID/MDC, responders, time to improvement.

Thresholds used below (from the instruments' data files):
NPRS MCID 2 points AND 30% of baseline (Ostelo 2008; both required, data/responders.toml),
NPRS MDC 2 points (Childs 2005; must be exceeded); ODI MCID 10 points AND 30%, MDC 10
(unverified); HOOS pain MCII 24; LEFS MCID 9, MDC 9.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hipspine.clinical import trajectory as tr
from hipspine.clinical.instruments import ChangeThreshold
from hipspine.clinical.series import SeriesError, parse_series, series_json_schema
from hipspine.clinical.trajectory import time_to_improvement, trajectory

ROOT = Path(__file__).resolve().parents[2]
JOHN = ROOT / "examples" / "john-followup.json"
BASE = "2025-01-06"
TREAT = "2025-01-13"
TODAY = date(2026, 1, 1)


def doc(*visits: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "format": "hipspine.series/1",
        "patient": {"id": "t", "age": 58, "sex": "male", "height_cm": 180, "weight_kg": 84},
        "baseline_date": BASE,
        "procedures": [{"date": TREAT, "type": "injection", "target": "right hip joint"}],
        "visits": list(visits),
        **extra,
    }


def pain(day: str, **scores: int | None) -> dict[str, Any]:
    return {
        "date": day,
        "pain": [{"region": r, "score": s} for r, s in scores.items() if s is not None],
    }


def form(day: str, instrument: str, **kw: Any) -> dict[str, Any]:
    return {"date": day, "questionnaires": [{"instrument": instrument, **kw}]}


def run(data: dict[str, Any], today: date = TODAY) -> tr.Trajectory:
    return trajectory(parse_series(data), today=today)


def lumbar_status(before: int, after: int) -> tr.ChangePoint:
    t = run(doc(pain(BASE, lumbar=before), pain("2025-02-24", lumbar=after)))
    return t.pain[0].points[1]


# --- NPRS: hand-computed and boundaries ------------------------------------------------------


def test_hand_computed_nprs_change() -> None:
    point = lumbar_status(8, 5)
    # change = 5 − 8 = −3; higher is worse, so improvement = +3; 3 / 8 × 100 = 37.5%
    assert point.change == -3
    assert point.improvement == 3
    assert point.percent_improvement == pytest.approx(37.5)
    assert point.status == "clinically important improvement"
    assert point.clinically_important is True
    # 3 > MDC 2 → beyond measurement error
    assert point.mdc_status == "improved beyond MDC"
    # 2025-02-24 − 2025-01-13 = 42 days = 6.0 weeks
    assert point.weeks_since_treatment == 6.0


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        # points boundary (2 points; percent comfortably above 30%)
        (5, 4, "improved, below the MCID"),  # 1 point, 20%
        (5, 3, "clinically important improvement"),  # 2 points (at), 40%
        (5, 2, "clinically important improvement"),  # 3 points (above), 60%
        # percent boundary (30% of baseline; points ≥ 2)
        (7, 5, "improved, below the MCID"),  # 2 points, 28.57% (just below)
        (10, 7, "clinically important improvement"),  # 3 points, 30% exactly (at)
        (9, 6, "clinically important improvement"),  # 3 points, 33.3% (just above)
        (10, 8, "improved, below the MCID"),  # 2 points but 20%: both are required
        # worsening, same thresholds
        (4, 5, "worse, below the MCID"),  # 1 point
        (4, 6, "clinically important worsening"),  # 2 points, 50%
        (8, 10, "worse, below the MCID"),  # 2 points, 25% of 8
        (6, 6, "no change"),
    ],
)
def test_nprs_mcid_boundaries(before: int, after: int, status: str) -> None:
    assert lumbar_status(before, after).status == status


@pytest.mark.parametrize(
    ("before", "after", "mdc"),
    [
        (8, 7, "within measurement error"),  # 1 < 2
        (8, 6, "within measurement error"),  # 2 = MDC, not beyond
        (8, 5, "improved beyond MDC"),  # 3 > 2
        (3, 5, "within measurement error"),  # worse by 2 = MDC
        (3, 6, "worse beyond MDC"),  # worse by 3
    ],
)
def test_nprs_mdc_must_be_exceeded(before: int, after: int, mdc: str) -> None:
    assert lumbar_status(before, after).mdc_status == mdc


def test_nprs_at_mcid_but_not_beyond_mdc() -> None:
    point = lumbar_status(6, 4)  # 2 points (= MCID, = MDC), 33.3%
    assert point.status == "clinically important improvement"
    assert point.mdc_status == "within measurement error"


# --- other instruments -----------------------------------------------------------------------


def odi_point(before: float, after: float) -> tr.ChangePoint:
    t = run(doc(form(BASE, "odi", score=before), form("2025-04-14", "odi", score=after)))
    return t.questionnaires[0].points[1]


@pytest.mark.parametrize(
    ("before", "after", "status", "mdc"),
    [
        (40, 30, "improved, below the MCID", "within measurement error"),  # 10 pts but 25%
        (40, 28, "clinically important improvement", "improved beyond MDC"),  # 12 pts, 30%
        (50, 41, "improved, below the MCID", "within measurement error"),  # 9 pts, 18%
        (50, 35, "clinically important improvement", "improved beyond MDC"),  # 15 pts, 30%
        (30, 40, "clinically important worsening", "within measurement error"),  # +10, 33%
        (30, 41, "clinically important worsening", "worse beyond MDC"),  # +11 > MDC 10
    ],
)
def test_odi_boundaries(before: float, after: float, status: str, mdc: str) -> None:
    point = odi_point(before, after)
    assert (point.status, point.mdc_status) == (status, mdc)


def test_odi_mdc_is_reported_unverified() -> None:
    t = run(doc(form(BASE, "odi", score=40), form("2025-04-14", "odi", score=20)))
    assert t.questionnaires[0].mdc is not None
    assert t.questionnaires[0].mdc.verified is False


def test_odi_scored_from_answers() -> None:
    answers = {
        "pain_intensity": 3, "personal_care": 1, "lifting": 3, "walking": 2, "sitting": 3,
        "standing": 3, "sleeping": 1, "sex_life": 2, "social_life": 2, "travelling": 1,
    }  # fmt: skip
    t = run(doc(form(BASE, "odi", answers=answers)))
    # 21 of 50 points × 100 = 42%
    assert t.questionnaires[0].baseline == pytest.approx(42.0)


@pytest.mark.parametrize(
    ("after", "status"),
    [
        (63.9, "improved, below the MCID"),  # +23.9 < MCII 24
        (64.0, "clinically important improvement"),  # +24 (at)
        (64.1, "clinically important improvement"),  # +24.1
        (16.0, "clinically important worsening"),  # −24, higher is better
        (16.1, "worse, below the MCID"),  # −23.9
    ],
)
def test_hoos_pain_mcii_boundaries_higher_is_better(after: float, status: str) -> None:
    t = run(
        doc(
            form(BASE, "hoos", subscales={"pain": 40.0}),
            form("2025-07-14", "hoos", subscales={"pain": after}),
        )
    )
    point = t.questionnaires[0].points[1]
    assert point.status == status


@pytest.mark.parametrize(
    ("after", "status", "mdc"),
    [
        (48, "improved, below the MCID", "within measurement error"),  # +8
        (49, "clinically important improvement", "within measurement error"),  # +9 = MCID = MDC
        (50, "clinically important improvement", "improved beyond MDC"),  # +10
        (31, "clinically important worsening", "within measurement error"),  # −9
        (30, "clinically important worsening", "worse beyond MDC"),  # −10
    ],
)
def test_lefs_boundaries(after: int, status: str, mdc: str) -> None:
    t = run(doc(form(BASE, "lefs", score=40), form("2025-07-14", "lefs", score=after)))
    point = t.questionnaires[0].points[1]
    assert (point.status, point.mdc_status) == (status, mdc)


def test_only_verified_thresholds_make_a_change_clinically_important() -> None:
    unverified = ChangeThreshold(
        "mcid", 5.0, "points", "score", "somebody", "someone", preferred=True, verified=False
    )
    status, checks = tr._status(20.0, 6.0, (), (unverified,))
    assert status == "improvement meeting an unverified threshold"
    assert checks[0].verified is False and checks[0].met is True
    status, _ = tr._status(20.0, 4.0, (), (unverified,))
    assert status == "improved, below the MCID"
    status, _ = tr._status(20.0, -6.0, (), (unverified,))
    assert status == "worsening meeting an unverified threshold"
    status, _ = tr._status(20.0, 6.0, (), ())
    assert status == "improved, no MCID available"


def test_instrument_without_mcid_is_not_graded() -> None:
    t = run(
        doc(
            form(BASE, "hoos", subscales={"adl": 40.0}),
            form("2025-07-14", "hoos", subscales={"adl": 90.0}),
        )
    )
    adl = t.questionnaires[0]
    assert adl.points[1].status == "improved, no MCID available"
    assert adl.responder.status == "no MCID available"


# --- unknowns, responders, time to improvement -----------------------------------------------


def test_missing_visit_is_unknown_not_no_improvement() -> None:
    t = run(
        doc(
            pain(BASE, lumbar=8, groin=6),
            pain("2025-02-24", groin=6),  # lumbar not rated
            pain("2025-04-14", lumbar=4, groin=6),
        )
    )
    lumbar = next(m for m in t.pain if m.region == "lumbar")
    assert lumbar.points[1].status == "unknown"
    assert lumbar.points[1].clinically_important is None
    first = time_to_improvement(parse_series(doc(
        pain(BASE, lumbar=8), pain("2025-02-24"), pain("2025-04-14", lumbar=4)
    )), "lumbar")  # fmt: skip
    # first known improvement on 2025-04-14: 91 days = 13.0 weeks after 2025-01-13
    assert first.date == date(2025, 4, 14)
    assert first.days_since_treatment == 91
    assert first.weeks_since_treatment == 13.0
    assert first.unknown_before == (date(2025, 2, 24),)
    assert first.sustained is None and first.sustained_reason == "no later visit yet"


def test_missing_baseline_leaves_everything_unknown() -> None:
    t = run(doc(pain(BASE, groin=5), pain("2025-02-24", lumbar=3, groin=5)))
    lumbar = next(m for m in t.pain if m.region == "lumbar")
    assert lumbar.baseline is None
    assert lumbar.points[1].status == "unknown"
    assert lumbar.responder.status == "unknown"


def test_sustained_and_not_sustained() -> None:
    kept = parse_series(
        doc(pain(BASE, lumbar=8), pain("2025-02-24", lumbar=5), pain("2025-04-14", lumbar=4))
    )
    assert time_to_improvement(kept, "lumbar").sustained is True
    lost = parse_series(
        doc(pain(BASE, lumbar=8), pain("2025-02-24", lumbar=5), pain("2025-04-14", lumbar=7))
    )
    result = time_to_improvement(lost, "lumbar")
    assert result.sustained is False
    assert "2025-04-14" in result.sustained_reason
    gap = parse_series(
        doc(
            pain(BASE, lumbar=8),
            pain("2025-02-24", lumbar=5),
            pain("2025-04-14"),
            pain("2025-07-14", lumbar=4),
        )
    )
    assert time_to_improvement(gap, "lumbar").sustained is None


def test_never_improved_region() -> None:
    s = parse_series(doc(pain(BASE, groin=6), pain("2025-02-24", groin=5)))
    result = time_to_improvement(s, "groin")
    assert result.date is None and result.weeks_since_treatment is None
    with pytest.raises(KeyError):
        time_to_improvement(s, "lumbar")


def test_responder_uses_latest_recorded_visit() -> None:
    t = run(doc(pain(BASE, lumbar=8), pain("2025-02-24", lumbar=5), pain("2025-04-14", groin=3)))
    lumbar = next(m for m in t.pain if m.region == "lumbar")
    assert lumbar.responder.status == "responder"
    assert lumbar.responder.date == date(2025, 2, 24)


# --- OMERACT-OARSI ---------------------------------------------------------------------------


def hoos_visit(day: str, global_: float | None = None, **subscales: float) -> dict[str, Any]:
    visit: dict[str, Any] = {
        "date": day,
        "questionnaires": [{"instrument": "hoos", "subscales": subscales}],
    }
    if global_ is not None:
        visit["patient_global"] = global_
    return visit


def omeract(*visits: dict[str, Any]) -> tr.OmeractOarsi:
    return run(doc(*visits)).omeract_oarsi[-1]


def test_omeract_high_pain_improvement() -> None:
    # HOOS pain 40 → 70 is 60 → 30 on a 0–100 higher-worse scale: −30 points, 50% → high
    result = omeract(hoos_visit(BASE, pain=40), hoos_visit("2025-07-14", pain=70))
    assert result.responder is True
    assert result.criterion == "high improvement in pain"
    assert result.label == "definition text unverified"
    pain_domain = result.domains[0]
    assert (pain_domain.baseline, pain_domain.value, pain_domain.absolute) == (60, 30, 30)


def test_omeract_two_moderate_domains() -> None:
    # pain 50 → 38: 12 points, 24%; function 50 → 40: 10 points, 20% → both moderate (at)
    result = omeract(hoos_visit(BASE, pain=50, adl=50), hoos_visit("2025-07-14", pain=62, adl=60))
    assert result.responder is True
    assert result.criterion == "improvement in pain and function"


def test_omeract_just_below_moderate() -> None:
    # function 50 → 41: 9 points (< 10); global 6 → 6 → only pain moderate
    result = omeract(
        hoos_visit(BASE, 6, pain=50, adl=50), hoos_visit("2025-07-14", 6, pain=62, adl=59)
    )
    assert result.responder is False


def test_omeract_unknown_when_domains_missing() -> None:
    # pain 50 → 45: 5 points; function and global unknown could still decide it
    result = omeract(hoos_visit(BASE, pain=50), hoos_visit("2025-07-14", pain=55))
    assert result.responder is None
    assert result.criterion.startswith("unknown")


# --- strength, function, goals, medication, schedule ----------------------------------------


def test_bilateral_mmt_expands_to_both_sides() -> None:
    t = run(
        doc(
            {"date": BASE, "mmt": [{"muscle": "lumbar_paraspinals", "side": "bilateral", "mrc": "4"}]},
            {"date": "2025-04-14", "mmt": [{"muscle": "lumbar_paraspinals", "side": "bilateral", "mrc": "5"}]},
        )
    )  # fmt: skip
    # 4 → 5 is two ordinal steps (4, 4+, 5)
    assert [(s.side, s.steps) for s in t.strength] == [("left", 2), ("right", 2)]


def test_medication_unknown_versus_none() -> None:
    ibu = {"name": "Ibuprofen", "drug_class": "nsaid", "days_per_week": 3}
    t = run(
        doc(
            {"date": BASE, "medications": [ibu]},
            {"date": "2025-02-24"},  # not asked
            {"date": "2025-04-14", "medications": []},  # asked: none taken
        )
    )
    assert t.nsaid is not None
    assert (t.nsaid.baseline, t.nsaid.latest, t.nsaid.change) == (3, 0, -3)
    only_unknown = run(doc({"date": BASE, "medications": [ibu]}, {"date": "2025-02-24"}))
    assert only_unknown.medications[0].latest is None
    assert only_unknown.medications[0].change is None


def test_schedule_due_and_overdue() -> None:
    data = doc(pain(BASE, lumbar=8))
    # 6-week target 2025-02-24, window 2025-02-17 … 2025-03-03
    due = run(data, today=date(2025, 2, 20)).schedule.time_points
    assert [p.status for p in due[:2]] == ["completed", "due"]
    overdue = run(data, today=date(2025, 3, 4)).schedule.time_points
    assert overdue[1].status == "overdue"


def test_visit_after_today_is_rejected() -> None:
    with pytest.raises(SeriesError, match="after today"):
        run(doc(pain(BASE, lumbar=8), pain("2025-03-01", lumbar=5)), today=date(2025, 2, 1))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["visits"][0]["pain"].append({"region": "elbow", "score": 3}), "visits.0.pain.1"),
        (lambda d: d["visits"][0]["pain"].append({"region": "knee", "score": 11}), "visits.0.pain.1.score"),
        (lambda d: d.update(baseline_date="2024-01-01"), "baseline_date"),
        (lambda d: d["visits"][0].update(goal_ratings={"walk": 0}), "goal_ratings"),
        (lambda d: d["visits"][0].update(questionnaires=[{"instrument": "odi", "answers": {"lifting": 9}}]), "lifting"),
        (lambda d: d["visits"][0].update(questionnaires=[{"instrument": "hoos", "subscales": {"pian": 3}}]), "pian"),
    ],
)  # fmt: skip
def test_bad_series_names_the_field(mutate: Any, field: str) -> None:
    data = doc(pain(BASE, lumbar=8))
    mutate(data)
    with pytest.raises(SeriesError) as error:
        parse_series(data)
    assert field in str(error.value)


# --- John ------------------------------------------------------------------------------------


def john() -> tr.Trajectory:
    return trajectory(
        parse_series(json.loads(JOHN.read_text(encoding="utf-8"))), today=date(2026, 8, 10)
    )


def test_john_back_improves_first_and_hip_later() -> None:
    t = john()
    assert t.treatment_date == date(2025, 12, 8)
    firsts = {f.region: f for f in t.first_improvements}
    back, hip = firsts["lumbar"], firsts["groin"]
    # back: 2026-01-19 − 2025-12-08 = 42 days = 6.0 weeks; NPRS 8 → 5
    assert back.date == date(2026, 1, 19) and back.days_since_treatment == 42
    assert back.weeks_since_treatment == 6.0
    # hip: 2026-03-09 − 2025-12-08 = 91 days = 13.0 weeks; NPRS 6 → 4
    assert hip.date == date(2026, 3, 9) and hip.days_since_treatment == 91
    assert hip.weeks_since_treatment == 13.0
    assert back.date < hip.date
    assert back.sustained is True and hip.sustained is True
    assert t.first_improvements[0].region == "lumbar"


def test_john_outcomes_follow_the_seed() -> None:
    t = john()
    odi = next(m for m in t.questionnaires if m.key == "odi")
    assert odi.baseline == pytest.approx(42.0)
    assert odi.responder.status == "responder"
    assert next(m for m in t.questionnaires if m.key == "hoos:pain").responder.status == "responder"
    steps = {(s.muscle, s.side): s.steps for s in t.strength}
    for muscle in ("gluteus_maximus", "iliopsoas"):
        assert (steps[(muscle, "right")] or 0) > 0
    assert (steps[("abdominals", None)] or 0) > 0
    assert (steps[("lumbar_paraspinals", "left")] or 0) > 0
    assert t.nsaid is not None and (t.nsaid.change or 0) < 0
    walk = next(f for f in t.function if f.test == "six_minute_walk_m")
    assert (walk.change or 0) > 0
    hike = t.goals[0]
    assert hike.gas[0][1] == -2 and hike.gas[-1][1] == -1
    assert hike.progress.status == "in progress"
    assert t.omeract_oarsi[-1].responder is True
    assert t.dynamometry[0].status == "improved beyond MDC"  # 72 → 92 N·m, +20 > 14.8


def test_john_series_is_not_mutated_by_analysis() -> None:
    data = json.loads(JOHN.read_text(encoding="utf-8"))
    before = copy.deepcopy(data)
    trajectory(parse_series(data), today=date(2026, 8, 10))
    assert data == before


def test_to_dict_is_json_ready() -> None:
    payload = tr.to_dict(john())
    text = json.dumps(payload)
    assert '"clinically_important": true' in text
    assert payload["first_improvements"][0]["region"] == "lumbar"


def test_series_schema_names_the_format() -> None:
    schema = series_json_schema()
    assert schema["$id"] == "https://hipspine.org/schema/series/1"
