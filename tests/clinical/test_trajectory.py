"""Trajectories: change from baseline against MCID/MDC, responders, time to improvement.

Thresholds used below (from the instruments' data files):
NPRS MCID 2 points AND 30% of baseline (Ostelo 2008; both required, data/responders.toml),
NPRS MDC 2 points (Childs 2005); ODI MCID 10 points AND 30%, MDC 10 (unverified); HOOS pain
MCII 24; LEFS MCID 9, MDC 9; PSFS MDC 2 (average) and 3 (single activity).

The rule: a change is beyond measurement error when |change| ≥ MDC; it is clinically
important when it meets the MCID and, where a verified MDC exists, is not within measurement
error. Boundary tests sit at MCID = MDC (NPRS, LEFS) and, with thresholds swapped in, at
MDC > MCID.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hipspine.clinical import instruments
from hipspine.clinical import trajectory as tr
from hipspine.clinical.instruments import ChangeThreshold, Thresholds
from hipspine.clinical.schedule import ScheduleError, parse_schedule
from hipspine.clinical.series import SeriesError, parse_series, series_json_schema
from hipspine.clinical.summary import clinician_summary, patient_summary
from hipspine.clinical.trajectory import time_to_improvement, trajectory
from hipspine.clinical.vocabulary import regions

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
        (8, 6, "improved beyond MDC"),  # 2 = MDC: the smallest change that counts as real
        (8, 5, "improved beyond MDC"),  # 3 > 2
        (3, 4, "within measurement error"),  # worse by 1
        (3, 5, "worse beyond MDC"),  # worse by 2 = MDC
        (3, 6, "worse beyond MDC"),  # worse by 3
        (5, 5, "within measurement error"),  # no change
    ],
)
def test_nprs_mdc_is_reached_at_its_value(before: int, after: int, mdc: str) -> None:
    assert lumbar_status(before, after).mdc_status == mdc


def test_nprs_change_equal_to_mcid_and_mdc_is_important_and_real() -> None:
    # 6 → 4: 2 points (= MCID = MDC), 33.3% (≥ 30%): important AND beyond measurement error,
    # never both "important" and "within measurement error".
    point = lumbar_status(6, 4)
    assert point.status == "clinically important improvement"
    assert point.mdc_status == "improved beyond MDC"
    assert point.mdc is not None and point.mdc.value == 2.0
    # 6 → 5: 1 point: below both.
    below = lumbar_status(6, 5)
    assert below.status == "improved, below the MCID"
    assert below.mdc_status == "within measurement error"


@pytest.mark.parametrize(("before", "after"), [(b, a) for b in range(11) for a in range(11)])
def test_nprs_never_important_and_within_error(before: int, after: int) -> None:
    point = lumbar_status(before, after)
    if point.status in ("clinically important improvement", "clinically important worsening"):
        assert point.mdc_status != "within measurement error"


# --- other instruments -----------------------------------------------------------------------


def odi_point(before: float, after: float) -> tr.ChangePoint:
    t = run(doc(form(BASE, "odi", score=before), form("2025-04-14", "odi", score=after)))
    return t.questionnaires[0].points[1]


@pytest.mark.parametrize(
    ("before", "after", "status", "mdc"),
    [
        (40, 30, "improved, below the MCID", "improved beyond MDC"),  # 10 pts = MDC, but 25%
        (40, 28, "clinically important improvement", "improved beyond MDC"),  # 12 pts, 30%
        (50, 41, "improved, below the MCID", "within measurement error"),  # 9 pts, 18%
        (50, 35, "clinically important improvement", "improved beyond MDC"),  # 15 pts, 30%
        (30, 39, "worse, below the MCID", "within measurement error"),  # +9
        (30, 40, "clinically important worsening", "worse beyond MDC"),  # +10 = MDC, 33%
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
        (49, "clinically important improvement", "improved beyond MDC"),  # +9 = MCID = MDC
        (50, "clinically important improvement", "improved beyond MDC"),  # +10
        (32, "worse, below the MCID", "within measurement error"),  # −8
        (31, "clinically important worsening", "worse beyond MDC"),  # −9 = MCID = MDC
        (30, "clinically important worsening", "worse beyond MDC"),  # −10
    ],
)
def test_lefs_boundaries(after: int, status: str, mdc: str) -> None:
    t = run(doc(form(BASE, "lefs", score=40), form("2025-07-14", "lefs", score=after)))
    point = t.questionnaires[0].points[1]
    assert (point.status, point.mdc_status) == (status, mdc)


def swap_mdc(
    monkeypatch: pytest.MonkeyPatch, instrument_id: str, value: float, *, verified: bool = True
) -> None:
    """Give one instrument a different MDC, to test the rule where MDC > MCID."""
    real = instruments.change_thresholds

    def patched(iid: str, subscale: str | None = None) -> Thresholds:
        found = real(iid, subscale)
        if iid != instrument_id:
            return found
        entries = tuple(
            replace(e, value=value, verified=verified) if e.kind == "mdc" else e
            for e in found.entries
        )
        return replace(found, entries=entries)

    monkeypatch.setattr(instruments, "change_thresholds", patched)


@pytest.mark.parametrize(
    ("after", "status", "mdc", "important"),
    [
        (48, "improved, below the MCID", "within measurement error", False),  # +8 < MCID 9
        # +9 meets the MCID but is below the verified MDC 12: not clinically important
        (49, "improved, meets the MCID but within measurement error", "within measurement error", False),
        (51.9, "improved, meets the MCID but within measurement error", "within measurement error", False),
        (52, "clinically important improvement", "improved beyond MDC", True),  # +12 = MDC
        (53, "clinically important improvement", "improved beyond MDC", True),  # +13
        (31, "worse, meets the MCID but within measurement error", "within measurement error", False),
        (28, "clinically important worsening", "worse beyond MDC", False),  # −12 = MDC
    ],
)  # fmt: skip
def test_mdc_above_mcid_decides(
    monkeypatch: pytest.MonkeyPatch, after: float, status: str, mdc: str, important: bool
) -> None:
    swap_mdc(monkeypatch, "lefs", 12.0)  # LEFS MCID 9 (Binkley 1999), MDC swapped to 12
    t = run(doc(form(BASE, "lefs", score=40), form("2025-07-14", "lefs", score=after)))
    lefs = t.questionnaires[0]
    point = lefs.points[1]
    assert (point.status, point.mdc_status) == (status, mdc)
    assert point.clinically_important is important
    assert lefs.responder.status == ("responder" if important else "non-responder")


def test_unverified_mdc_is_shown_but_does_not_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    swap_mdc(monkeypatch, "lefs", 12.0, verified=False)
    t = run(doc(form(BASE, "lefs", score=40), form("2025-07-14", "lefs", score=49)))
    point = t.questionnaires[0].points[1]
    # +9 meets the verified MCID; the unverified MDC 12 is reported, not applied.
    assert point.status == "clinically important improvement"
    assert point.mdc_status == "within measurement error"
    assert point.mdc is not None and point.mdc.verified is False


def test_time_to_first_improvement_uses_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    swap_mdc(monkeypatch, "nprs", 3.0)  # NPRS MCID 2 points and 30%; MDC swapped to 3
    data = doc(
        pain(BASE, lumbar=6),
        pain("2025-02-24", lumbar=4),  # 2 points, 33%: meets the MCID, below the MDC 3
        pain("2025-04-14", lumbar=3),  # 3 points, 50%: meets both
    )
    t = run(data)
    lumbar = t.pain[0]
    assert lumbar.points[1].status == "improved, meets the MCID but within measurement error"
    first = t.first_improvements[0]
    # 2025-04-14 − 2025-01-13 = 91 days = 13.0 weeks (not the 6-week visit)
    assert first.date == date(2025, 4, 14) and first.weeks_since_treatment == 13.0
    assert time_to_improvement(parse_series(data), "lumbar").date == date(2025, 4, 14)
    clinician = " ".join(s.text for s in clinician_summary(t))
    patient = " ".join(s.text for s in patient_summary(t))
    assert "clinically important by 13 weeks after the procedure (2025-04-14)" in clinician
    assert "about 13 weeks after your procedure" in patient
    assert "about 6 weeks" not in patient


def test_status_rule_directly() -> None:
    mcid = ChangeThreshold("mcid", 5.0, "points", "score", "s", "p", preferred=True, verified=True)
    mdc = ChangeThreshold("mdc", 8.0, "points", "score", "s", "p", preferred=True, verified=True)
    assert tr._status(20.0, 5.0, (mcid,), (), mdc)[0] == (
        "improved, meets the MCID but within measurement error"
    )
    assert tr._status(20.0, 8.0, (mcid,), (), mdc)[0] == "clinically important improvement"
    assert tr._status(20.0, 5.0, (mcid,), (), None)[0] == "clinically important improvement"
    assert tr._mdc_status(mdc, 20.0, 8.0) == "improved beyond MDC"
    assert tr._mdc_status(mdc, 20.0, 7.999) == "within measurement error"
    assert tr._mdc_status(mdc, 20.0, -8.0) == "worse beyond MDC"
    assert tr._mdc_status(None, 20.0, 8.0) == "no MDC"


# --- PSFS: single-activity MDC ---------------------------------------------------------------


def psfs(day: str, **ratings: int) -> dict[str, Any]:
    return {"date": day, "psfs": {name.replace("_", " "): v for name, v in ratings.items()}}


@pytest.mark.parametrize(
    ("before", "after", "mdc_value", "mdc_status"),
    [
        # one activity: single-activity MDC 3 (Stratford 1995)
        ({"walk": 3}, {"walk": 5}, 3.0, "within measurement error"),  # +2 < 3
        ({"walk": 3}, {"walk": 6}, 3.0, "improved beyond MDC"),  # +3 = 3
        # two activities: average-score MDC 2
        ({"walk": 3, "stairs": 3}, {"walk": 4, "stairs": 5}, 2.0, "within measurement error"),
        ({"walk": 3, "stairs": 3}, {"walk": 5, "stairs": 5}, 2.0, "improved beyond MDC"),
        # one activity at the visit only: its score is one rating, so the single MDC applies
        ({"walk": 3, "stairs": 3}, {"walk": 5}, 3.0, "within measurement error"),
        # one activity at baseline only
        ({"walk": 3}, {"walk": 6, "stairs": 6}, 3.0, "improved beyond MDC"),
    ],
)
def test_psfs_single_activity_uses_the_single_item_mdc(
    before: dict[str, int], after: dict[str, int], mdc_value: float, mdc_status: str
) -> None:
    t = run(doc(psfs(BASE, **before), psfs("2025-04-14", **after)))
    point = next(m for m in t.questionnaires if m.key == "psfs").points[1]
    assert point.mdc is not None and point.mdc.value == mdc_value
    assert point.mdc_status == mdc_status


def test_goal_linked_psfs_activity_uses_the_single_item_mdc() -> None:
    goal = {
        "id": "hike",
        "description": "Hike 6 miles",
        "set_on": BASE,
        "target_date": "2025-10-31",
        "psfs_activity": "hike",
    }
    visits = (
        psfs(BASE, hike=2, stairs=4),
        psfs("2025-02-24", hike=4, stairs=4),  # +2: within the single-activity MDC 3
        psfs("2025-04-14", hike=5, stairs=4),  # +3: at it
    )
    t = run(doc(*visits, goals=[goal]))
    change = t.goals[0].psfs_change
    assert change is not None and change.mdc is not None and change.mdc.value == 3.0
    assert [p.mdc_status for p in change.points[1:]] == [
        "within measurement error",
        "improved beyond MDC",
    ]
    text = next(s.text for s in clinician_summary(t) if s.text.startswith("Goal"))
    assert "linked PSFS activity 2 → 5/10 (+3; single-activity MDC 3: improved beyond MDC)" in text


# --- strength: side to side, normalised --------------------------------------------------------


def hhd(side: str, force: float, **extra: Any) -> dict[str, Any]:
    return {
        "muscle": "gluteus_maximus",
        "side": side,
        "action": "hip_extension",
        "position": "prone_standing",
        "force": force,
        "unit": "N",
        **extra,
    }


@pytest.mark.parametrize(
    ("left", "right", "status"),
    [
        (73.1, 100, "within measurement error"),  # 26.9% < MDC 27%
        (73, 100, "possible deficit"),  # 27.0% = MDC
        (72.9, 100, "possible deficit"),  # 27.1%
    ],
)
def test_side_to_side_at_the_lsi_mdc(left: float, right: float, status: str) -> None:
    t = run(doc({"date": BASE, "dynamometry": [hhd("left", left), hhd("right", right)]}))
    (pair,) = t.side_to_side
    assert pair.asymmetry.status == status
    assert pair.asymmetry.weaker_side == "left"
    assert pair.asymmetry.limb_symmetry_index == pytest.approx(left)  # weaker / stronger × 100


def test_normalised_values_and_body_mass_source() -> None:
    reading = hhd("right", 180.0, lever_arm_m=0.4)
    t = run(doc({"date": BASE, "dynamometry": [reading]}))  # patient record: 84 kg
    (point,) = t.dynamometry_readings
    # 180 N × 0.4 m = 72 N·m; 72 / 84 = 0.857 N·m/kg; 180 / (84 × 9.80665) × 100 = 21.85 %BW
    assert point.torque_nm == pytest.approx(72.0)
    assert point.torque_nm_per_kg == pytest.approx(72 / 84)
    assert point.percent_body_weight == pytest.approx(180 / (84 * 9.80665) * 100)
    assert point.body_mass_source == "patient record"
    assert t.side_to_side == ()  # one side only: no asymmetry is claimed
    own = run(doc({"date": BASE, "dynamometry": [{**reading, "body_mass_kg": 90}]}))
    assert own.dynamometry_readings[0].body_mass_source == "reading"
    assert own.dynamometry_readings[0].torque_nm_per_kg == pytest.approx(72 / 90)
    data = doc({"date": BASE, "dynamometry": [hhd("right", 180.0)]})
    del data["patient"]["weight_kg"]
    unknown = run(data).dynamometry_readings[0]
    assert unknown.body_mass_source == "not recorded"
    assert unknown.percent_body_weight is None and unknown.torque_nm_per_kg is None
    assert unknown.norm.status == "no verified norm"  # a man of 58: no verified HHD norm


def test_verified_norm_is_compared_for_young_women() -> None:
    data = doc(
        {
            "date": BASE,
            "dynamometry": [
                {"muscle": "iliopsoas", "side": "left", "action": "hip_flexion",
                 "position": "supine", "force": 230.0, "unit": "N"},
            ],
        }
    )  # fmt: skip
    data["patient"] = {"id": "w", "age": 25, "sex": "female", "weight_kg": 60}
    point = run(data).dynamometry_readings[0]
    # 230 / (60 × 9.80665) × 100 = 39.09 %BW; / 38.54 (Alvarenga 2019 flexors) × 100
    assert point.norm.status == "compared"
    assert point.norm.percent_of_reference == pytest.approx(
        230 / (60 * 9.80665) * 100 / 38.54 * 100
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda v: v["dynamometry"].append(hhd("left", 100)), "recorded twice"),
        (lambda v: v["dynamometry"].__setitem__(0, hhd("left", 100, lever_arm_m=0.4)), "lever_arm_m"),
    ],
)  # fmt: skip
def test_dynamometry_that_cannot_be_compared_is_refused(mutate: Any, field: str) -> None:
    visit = {"date": BASE, "dynamometry": [hhd("left", 100), hhd("right", 120)]}
    mutate(visit)
    with pytest.raises(SeriesError, match=field):
        parse_series(doc(visit))


def test_john_side_to_side_asymmetry_resolves() -> None:
    t = john()
    pairs = {(p.muscle, p.date): p for p in t.side_to_side}
    start = pairs[("gluteus_maximus", date(2025, 11, 17))]
    # left 260 N × 0.4 = 104 N·m, right 180 N × 0.4 = 72 N·m: LSI 72 / 104 = 69.2%,
    # asymmetry 30.8% ≥ 27%: a possible deficit on the right
    assert start.asymmetry.quantity == "torque"
    assert start.asymmetry.limb_symmetry_index == pytest.approx(72 / 104 * 100)
    assert start.asymmetry.status == "possible deficit"
    assert start.asymmetry.weaker_side == "right"
    assert start.right.torque_nm_per_kg == pytest.approx(72 / 84)
    end = pairs[("gluteus_maximus", date(2026, 8, 10))]
    # 92 / 106 = 86.8%, asymmetry 13.2% < 27%: within measurement error
    assert end.asymmetry.limb_symmetry_index == pytest.approx(92 / 106 * 100)
    assert end.asymmetry.status == "within measurement error"
    flexors = pairs[("iliopsoas", date(2025, 11, 17))]
    # force only (no lever arm): 150 / 220 = 68.2%; %BW = 150 / (84 × 9.80665) × 100
    assert flexors.asymmetry.quantity == "force"
    assert flexors.asymmetry.status == "possible deficit"
    assert flexors.right.torque_nm_per_kg is None
    assert flexors.right.percent_body_weight == pytest.approx(150 / (84 * 9.80665) * 100)
    assert pairs[("iliopsoas", date(2026, 8, 10))].asymmetry.status == "within measurement error"


# --- minor: recall periods, HOOS total, GROC, schedule -----------------------------------------


def test_mixed_nprs_recall_periods_are_warned() -> None:
    data = doc(
        {"date": BASE, "pain": [{"region": "lumbar", "score": 8, "recall": "past_week"}]},
        {"date": "2025-02-24", "pain": [{"region": "lumbar", "score": 4, "recall": "now"}]},
    )
    t = run(data)
    assert len(t.warnings) == 1 and "recall periods differ" in t.warnings[0]
    assert "past week on 2025-01-06" in t.warnings[0] and "now on 2025-02-24" in t.warnings[0]
    assert any(s.text.startswith("Caution:") for s in clinician_summary(t))
    same = run(doc(pain(BASE, lumbar=8), pain("2025-02-24", lumbar=4)))
    assert same.warnings == ()


def test_hoos_total_score_is_refused() -> None:
    with pytest.raises(SeriesError, match="no total score") as error:
        parse_series(doc(form(BASE, "hoos", score=60.0)))
    assert "visits.0.questionnaires.0" in str(error.value)
    assert "pain, symptoms, adl, sport_rec, qol" in str(error.value)


def test_schedule_argument_replaces_the_default() -> None:
    rules = parse_schedule("0,2w,4w")
    t = run(doc(pain(BASE, lumbar=8), pain("2025-01-27", lumbar=6)), today=date(2025, 2, 20))
    custom = trajectory(
        parse_series(doc(pain(BASE, lumbar=8), pain("2025-01-27", lumbar=6))),
        today=date(2025, 2, 20),
        schedule=rules,
    )
    assert [p.time_point.id for p in t.schedule.time_points][:3] == [
        "baseline",
        "week_6",
        "month_3",
    ]
    # 2 weeks after 2025-01-13 = 2025-01-27 (window ±3 days): completed; 4 weeks = 2025-02-10,
    # window ±5 days closed on 2025-02-15: overdue on 2025-02-20
    assert [(p.time_point.id, p.status) for p in custom.schedule.time_points] == [
        ("baseline", "completed"),
        ("week_2", "completed"),
        ("week_4", "overdue"),
    ]


def test_overlapping_schedule_is_refused() -> None:
    with pytest.raises(ScheduleError, match="overlap"):
        trajectory(
            parse_series(doc(pain(BASE, lumbar=8))),
            today=date(2025, 2, 20),
            schedule=parse_schedule("0,6w,7w"),  # 6 weeks ±7 days and 7 weeks ±8 days
        )


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


def test_john_outcomes_follow_his_story() -> None:
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


# --- pain whose record does not say where (an EHR's general pain severity) ------------------


def test_pain_without_a_site_is_followed_with_the_nprs_rule() -> None:
    t = run(doc(pain(BASE, unspecified=7), pain("2025-02-24", unspecified=4)))
    [general] = t.pain
    assert (general.region, general.side, general.label) == (
        "unspecified",
        None,
        "General (site not recorded)",
    )
    # 7 → 4: 3 points and 42.9% meet the NPRS MCID (2 points and 30%), as for any region
    assert general.points[1].status == "clinically important improvement"
    assert t.first_improvements[0].region == "unspecified"
    assert any("overall pain" in s.text for s in patient_summary(t))


def test_pain_without_a_site_has_no_side_and_no_place_on_the_map() -> None:
    with pytest.raises(SeriesError, match="side 'left' is not used for region 'unspecified'"):
        parse_series(
            doc({"date": BASE, "pain": [{"region": "unspecified", "side": "left", "score": 5}]})
        )
    assert "unspecified" not in regions()  # never a mark on the pain map
