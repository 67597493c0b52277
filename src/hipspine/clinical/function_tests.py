"""Physical function tests: six-minute walk, 30-second chair stand and gait speed.

Each result carries the reference it was compared with, or says plainly that no verified
norm applies; missing age, sex or body size gives ``"unknown"``, never ``"normal"``.

* Six-minute walk: % of the Enright & Sherrill prediction (*Am J Respir Crit Care Med*
  1998;158:1384-1387).
* 30-second chair stand: Rikli & Jones normal range (25th–75th percentile) for ages 60–94
  (*J Aging Phys Act* 1999;7:162-181; *Senior Fitness Test Manual*, 2nd ed., 2013).
* Gait speed: Bohannon & Andrews mean by sex and decade (*Physiotherapy* 2011;97:182-189);
  only the strata verified against the paper's abstract are used; every other stratum has
  no verified norm (unknown, not normal).

No hip-OA minimal clinically important difference exists in the sources for the 6MWT or the
30-second chair stand; results say so instead of reusing knee values. Values and citations
live in ``data/function_norms.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from hipspine.clinical._data import load

Sex = Literal["female", "male"]
SEXES: tuple[Sex, ...] = ("female", "male")
Edition = Literal["1999", "2013"]


def _norms() -> dict[str, Any]:
    return load("function_norms")


def _check_number(name: str, value: float, low: float, high: float, unit: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValueError(f"{name} must be a number from {low} to {high} {unit}, got {value!r}")


def _check_age(age: int | None) -> None:
    if age is not None and (
        isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 120
    ):
        raise ValueError(f"age must be an integer 0–120 years (completed years), got {age!r}")


def _check_sex(sex: Sex | None) -> None:
    if sex is not None and sex not in SEXES:
        raise ValueError(f"sex must be one of {', '.join(SEXES)}, got {sex!r}")


# --- six-minute walk ---------------------------------------------------------------------

SixMinuteWalkStatus = Literal["compared", "unknown"]


@dataclass(frozen=True)
class SixMinuteWalkResult:
    """Six-minute walk distance and its % of the Enright & Sherrill predicted distance."""

    distance_m: float
    status: SixMinuteWalkStatus
    predicted_m: float | None
    percent_predicted: float | None
    notes: tuple[str, ...]
    source: str
    mcid_note: str


def predicted_six_minute_walk(*, sex: Sex, age: int, height_cm: float, weight_kg: float) -> float:
    """Return the Enright & Sherrill 1998 predicted six-minute walk distance in metres.

    Men: 7.57 × height(cm) − 5.02 × age − 1.76 × weight(kg) − 309.
    Women: 2.11 × height(cm) − 2.29 × weight(kg) − 5.78 × age + 667.
    (Enright PL, Sherrill DL, *Am J Respir Crit Care Med* 1998;158:1384-1387.)
    """
    _check_sex(sex)
    if sex is None:
        raise ValueError("sex is required for the Enright & Sherrill equation")
    _check_age(age)
    _check_number("height_cm", height_cm, 50, 250, "cm")
    _check_number("weight_kg", weight_kg, 10, 400, "kg")
    coef = _norms()["six_minute_walk"][sex]
    return float(
        coef["height_cm"] * height_cm
        + coef["age_years"] * age
        + coef["weight_kg"] * weight_kg
        + coef["constant"]
    )


def six_minute_walk(
    distance_m: float,
    *,
    sex: Sex | None,
    age: int | None,
    height_cm: float | None,
    weight_kg: float | None,
) -> SixMinuteWalkResult:
    """Return the distance walked in six minutes and its % of the Enright–Sherrill prediction.

    Any missing sex, age, height or weight makes the comparison ``"unknown"``. No hip-OA MCID
    for the 6MWT was found, so none is applied (the knee/TKA value is not reused).
    """
    _check_number("distance_m", distance_m, 0, 1500, "m")
    _check_sex(sex)
    _check_age(age)
    if height_cm is not None:
        _check_number("height_cm", height_cm, 50, 250, "cm")
    if weight_kg is not None:
        _check_number("weight_kg", weight_kg, 10, 400, "kg")
    data = _norms()["six_minute_walk"]
    missing = [
        name
        for name, value in (
            ("sex", sex),
            ("age", age),
            ("height_cm", height_cm),
            ("weight_kg", weight_kg),
        )
        if value is None
    ]
    if sex is None or age is None or height_cm is None or weight_kg is None:
        return SixMinuteWalkResult(
            distance_m,
            "unknown",
            None,
            None,
            (f"{', '.join(missing)} not recorded; predicted distance unknown",),
            str(data["source"]),
            str(data["mcid_note"]),
        )
    predicted = predicted_six_minute_walk(
        sex=sex, age=age, height_cm=height_cm, weight_kg=weight_kg
    )
    notes = [str(data["population_note"])]
    if not data["commonly_cited_age_min"] <= age <= data["commonly_cited_age_max"]:
        notes.append(
            f"Age {age} is outside the commonly cited 40–80 year derivation range; "
            "the prediction is an extrapolation."
        )
    if predicted <= 0:
        return SixMinuteWalkResult(
            distance_m,
            "unknown",
            None,
            None,
            (*notes, f"The equation predicts {predicted:.0f} m for these inputs; not usable."),
            str(data["source"]),
            str(data["mcid_note"]),
        )
    return SixMinuteWalkResult(
        distance_m,
        "compared",
        predicted,
        distance_m / predicted * 100.0,
        tuple(notes),
        str(data["source"]),
        str(data["mcid_note"]),
    )


# --- 30-second chair stand ---------------------------------------------------------------

ChairStandStatus = Literal[
    "below normal range", "within normal range", "above normal range", "no norm", "unknown"
]


@dataclass(frozen=True)
class ChairStandResult:
    """30-second chair stand count against the Rikli & Jones age/sex normal range."""

    stands: int
    status: ChairStandStatus
    normal_range: tuple[int, int] | None
    edition: Edition
    below_low_function_threshold: bool | None
    notes: tuple[str, ...]
    source: str
    mcid_note: str


def chair_stand_30s(
    stands: int,
    *,
    age: int | None,
    sex: Sex | None,
    edition: Edition = "1999",
    arms_used: bool = False,
) -> ChairStandResult:
    """Return the 30-second chair stand count against Rikli & Jones normal ranges.

    The normal range is the 25th–75th percentile for the age band (60–64 … 90–94) and sex
    (Rikli & Jones, *J Aging Phys Act* 1999;7:162-181). ``edition="2013"`` uses the Senior
    Fitness Test Manual, 2nd ed. (2013), which differs for men 65–69 (13–18) and 85–89
    (8–13). Outside ages 60–94, or when the arms were used, there is no norm; missing age or
    sex gives ``"unknown"``. Fewer than 8 unassisted stands was associated with lower
    functional ability (Rikli & Jones 1999).
    """
    if isinstance(stands, bool) or not isinstance(stands, int) or not 0 <= stands <= 80:
        raise ValueError(f"stands must be an integer 0–80, got {stands!r}")
    _check_age(age)
    _check_sex(sex)
    if edition not in ("1999", "2013"):
        raise ValueError(f"edition must be '1999' or '2013', got {edition!r}")
    data = _norms()["chair_stand"]
    source = str(data["source_2013"] if edition == "2013" else data["source_1999"])

    def result(
        status: ChairStandStatus,
        normal_range: tuple[int, int] | None,
        below: bool | None,
        *notes: str,
    ) -> ChairStandResult:
        return ChairStandResult(
            stands, status, normal_range, edition, below, notes, source, str(data["mcid_note"])
        )

    if arms_used:
        return result(
            "no norm", None, None, f"Arms were used; the norms assume: {data['protocol']}"
        )
    if age is None or sex is None:
        missing = "age" if age is None else "sex"
        return result("unknown", None, None, f"{missing} not recorded; norm band unknown")
    band = next((b for b in data["band"] if b["age_min"] <= age <= b["age_max"]), None)
    if band is None:
        first, last = data["band"][0]["age_min"], data["band"][-1]["age_max"]
        where = f"under {first}" if age < first else f"over {last}"
        return result(
            "no norm",
            None,
            None,
            f"No Rikli & Jones norm for age {age}; norms cover ages 60–94 only, and none "
            f"exists {where}, so the count is not compared with a norm (not called normal "
            "or low).",
        )
    key = f"{sex}_2013" if edition == "2013" and f"{sex}_2013" in band else sex
    low, high = (int(v) for v in band[key])
    status: ChairStandStatus = (
        "below normal range"
        if stands < low
        else "above normal range"
        if stands > high
        else "within normal range"
    )
    below = stands < int(data["low_function_threshold"])
    notes = [f"Protocol: {data['protocol']}"]
    if below:
        notes.append(str(data["low_function_note"]))
    return result(status, (low, high), below, *notes)


# --- gait speed --------------------------------------------------------------------------

GaitSpeedStatus = Literal["compared", "no verified norm", "no norm", "unknown"]


@dataclass(frozen=True)
class GaitSpeedResult:
    """Comfortable gait speed compared with a verified Bohannon & Andrews stratum mean.

    ``status`` is ``"compared"`` only for a verified stratum; ``"no verified norm"`` when
    the stratum's mean could not be checked against the paper (unknown, which is not the
    same as normal or slow); ``"no norm"`` outside ages 20–99; ``"unknown"`` without age or
    sex.
    """

    speed_m_s: float
    status: GaitSpeedStatus
    reference_mean_m_s: float | None
    percent_of_reference: float | None
    stratum: str | None
    notes: tuple[str, ...]
    source: str


def gait_speed_from_walk(distance_m: float, seconds: float) -> float:
    """Return walking speed in m/s from a timed distance (distance / time)."""
    _check_number("distance_m", distance_m, 0.5, 1000, "m")
    _check_number("seconds", seconds, 0.1, 3600, "s")
    return distance_m / seconds


def gait_speed(speed_m_s: float, *, age: int | None, sex: Sex | None) -> GaitSpeedResult:
    """Return comfortable gait speed as % of the Bohannon & Andrews 2011 mean for sex and decade.

    Bohannon RW, Andrews AW, *Physiotherapy* 2011;97:182-189. Only strata verified against
    the paper's abstract are used (men 40–49: 1.434 m/s; women 80–99: 0.943 m/s); for every
    other stratum the mean could not be checked, so the result is ``"no verified norm"`` and
    no value is shown. The norms are means, not lower limits, so no "slow" label is given.
    """
    _check_number("speed_m_s", speed_m_s, 0, 3, "m/s")
    _check_age(age)
    _check_sex(sex)
    data = _norms()["gait_speed"]
    source = str(data["source"])
    protocol = str(data["protocol_note"])
    if age is None or sex is None:
        missing = "age" if age is None else "sex"
        return GaitSpeedResult(
            speed_m_s, "unknown", None, None, None, (f"{missing} not recorded",), source
        )
    stratum = next(
        (s for s in data["stratum"] if s["sex"] == sex and s["age_min"] <= age <= s["age_max"]),
        None,
    )
    if stratum is None:
        return GaitSpeedResult(
            speed_m_s,
            "no norm",
            None,
            None,
            None,
            (f"Bohannon & Andrews 2011 has no stratum for age {age} (ages 20–99).",),
            source,
        )
    label = f"{sex} {stratum['age_min']}–{stratum['age_max']}"
    if not stratum["verified"]:
        return GaitSpeedResult(
            speed_m_s,
            "no verified norm",
            None,
            None,
            label,
            (
                f"No verified norm for {label}: Bohannon & Andrews 2011 report this stratum, "
                "but its mean could not be checked against the paper (only men 40–49 and "
                "women 80–99 are stated in its abstract), so the speed is not compared.",
                protocol,
            ),
            source,
        )
    mean = float(stratum["mean_m_s"])
    return GaitSpeedResult(
        speed_m_s,
        "compared",
        mean,
        speed_m_s / mean * 100.0,
        label,
        (f"Verified by {stratum['verified_by']}.", protocol),
        source,
    )
