"""CarePlan <-> hipspine ``therapy_regimen`` (the physical-therapy programme).

Each exercise is one ``activity.detail``: its name as the code text, sets × reps as the
description, the muscles it targets as ``reasonCode`` texts, and the exercise exactly as
recorded in a hipspine extension (JSON) so nothing is lost on the way back. Only CarePlans
in the hipspine physical-therapy category are kept.

A running regimen is ``active`` with ``period.start``; a stopped one is ``completed`` with
``period.end``, its last day (hipspine's ``stopped_on``), and its activities completed too.
On import ``period.end`` is the stop date whatever the status says.

Status on import (https://hl7.org/fhir/R4/valueset-request-status.html): ``active`` is
kept as a running regimen. ``on-hold`` (paused) is kept as a running regimen too: hipspine
records no pause (a regimen is running or stopped), so a paused regimen is exported as
``active`` — the pause does not come back. ``completed`` and ``revoked`` (ended early) are
kept as stopped regimens, and need ``period.end`` (without it the regimen would show as
running, so such a CarePlan is rejected with the reason); ``draft`` (never agreed),
``entered-in-error`` and ``unknown`` are counted as unused with that reason. A CarePlan
without a status, or with a code outside the value set, is rejected naming the field (R4
requires it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hipspine.fhir._common import (
    CS,
    EXT,
    HIPSPINE,
    Invalid,
    Marks,
    Resource,
    Row,
    Statuses,
    Unused,
    code_in,
    coding,
    day,
    extension,
    first_linked,
    link,
    optional_day,
    parse_day,
    reference,
)

CATEGORY_CS = f"{CS}/care-plan-category"
EXERCISE_EXT = f"{EXT}/exercise"
ADHERENCE_EXT = f"{EXT}/adherence-percent"
RUNNING = ("active", "on-hold")
"""CarePlan statuses kept as a running regimen (hipspine records no pause: see above)."""
ENDED = ("completed", "revoked")
"""CarePlan statuses kept as a stopped regimen, ended on ``period.end``."""
STATUSES = Statuses(
    "CarePlan",
    "https://hl7.org/fhir/R4/valueset-request-status.html",
    kept=(*RUNNING, *ENDED),
    unused={
        "draft": "a draft, never agreed",
        "entered-in-error": "entered in error",
        "unknown": "whether it was followed is not known",
    },
)
"""CarePlan statuses: those of a regimen the patient was on, and those that are not (why)."""


def _dose(exercise: Mapping[str, Any]) -> str | None:
    if "sets" in exercise and "reps" in exercise:
        return f"{exercise['sets']} × {exercise['reps']}"
    return None


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR R4 CarePlan for one ``therapy_regimen`` row."""
    stopped = row.get("stopped_on")
    activities = []
    for exercise in row["exercises"]:
        detail: dict[str, Any] = {
            "extension": [
                {
                    "url": EXERCISE_EXT,
                    "valueString": json.dumps(exercise, sort_keys=True, ensure_ascii=False),
                }
            ],
            "status": "completed" if stopped else "in-progress",
            "code": {"text": str(exercise.get("name", "exercise"))},
        }
        if exercise.get("target_muscles"):
            detail["reasonCode"] = [{"text": str(t)} for t in exercise["target_muscles"]]
        if _dose(exercise):
            detail["description"] = _dose(exercise)
        activities.append({"detail": detail})
    resource: Resource = {"resourceType": "CarePlan", "id": row["id"]}
    if row.get("adherence_percent") is not None:
        resource["extension"] = [{"url": ADHERENCE_EXT, "valueDecimal": row["adherence_percent"]}]
    period = {"start": day(row["started_on"])}
    if stopped:
        period["end"] = day(stopped)
    resource.update(
        {
            "status": "completed" if stopped else "active",
            "intent": "plan",
            "category": [{"coding": [coding(CATEGORY_CS, "physical-therapy", "Physical therapy")]}],
            "title": "Physical-therapy regimen",
            "subject": reference("Patient", row["patient_id"]),
            "period": period,
            **link("addresses", "Condition", row.get("episode_id")),
        }
    )
    if activities:
        resource["activity"] = activities
    return resource


def marks() -> Marks:
    """Kept only with a hipspine physical-therapy category."""
    return Marks((HIPSPINE,))


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``therapy_regimen`` row for a FHIR CarePlan."""
    if not any(code_in(c, CATEGORY_CS) == "physical-therapy" for c in resource.get("category", ())):
        raise Unused("CarePlan other than a hipspine physical-therapy regimen")
    status = STATUSES.of(resource)
    exercises = []
    for activity in resource.get("activity", ()):
        detail = activity.get("detail") or {}
        ext = extension(detail, EXERCISE_EXT)
        if ext:
            try:
                exercises.append(json.loads(ext["valueString"]))
            except (ValueError, KeyError):
                raise Invalid("activity.detail: exercise extension is not JSON") from None
        else:
            exercises.append({"name": (detail.get("code") or {}).get("text", "exercise")})
    adherence = extension(resource, ADHERENCE_EXT)
    period = resource.get("period") or {}
    started = parse_day(period.get("start"), "period.start")
    stopped = optional_day(period.get("end"), "period.end")
    if stopped is not None and stopped < started:
        raise Invalid(f"period.end: {stopped} is before period.start ({started})")
    if stopped is None and status in ENDED:
        raise Invalid(f"period.end: a {status} CarePlan needs the day its regimen ended")
    return {
        "started_on": started,
        "stopped_on": stopped,
        "exercises": exercises,
        "adherence_percent": adherence.get("valueDecimal") if adherence else None,
        "episode_id": first_linked(resource.get("addresses"), "Condition"),
    }
