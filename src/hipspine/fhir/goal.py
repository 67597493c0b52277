"""Goal <-> hipspine ``goal`` (a functional goal, its target date and GAS ratings).

Goal Attainment Scaling ratings (−2 … +2, Kiresuk & Sherman 1968) have no element in R4
Goal; they travel as hipspine extensions, one per rating. Only goals in the hipspine
functional-goal category are kept (Synthea's generic health goals are counted as unused).

Status on import (``lifecycleStatus``,
https://hl7.org/fhir/R4/valueset-goal-status.html): ``cancelled``, ``rejected`` and
``entered-in-error`` are no goal of the patient and are counted as unused with that
reason; every other status (``proposed``, ``planned``, ``accepted``, ``active``,
``on-hold``, ``completed``) is kept. A Goal without a ``lifecycleStatus``, or with a code
outside the value set, is rejected naming the field (R4 requires it). hipspine does not
store a goal's status (its GAS ratings say how far it was attained), so goals are exported
as ``active``.
"""

from __future__ import annotations

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
    optional_day,
    reference,
)

CATEGORY_CS = f"{CS}/goal-category"
PSFS_EXT = f"{EXT}/psfs-activity"
RATING_EXT = f"{EXT}/goal-attainment-rating"
STATUSES = Statuses(
    "Goal",
    "https://hl7.org/fhir/R4/valueset-goal-status.html",
    kept=("proposed", "planned", "accepted", "active", "on-hold", "completed"),
    unused={
        "cancelled": "cancelled, no goal of the patient",
        "rejected": "rejected, no goal of the patient",
        "entered-in-error": "entered in error",
    },
    element="lifecycleStatus",
)
"""Goal lifecycle statuses: those of a goal the patient has, and those that are not (why)."""


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR R4 Goal for one ``goal`` row."""
    extensions: list[dict[str, Any]] = []
    if row.get("psfs_activity"):
        extensions.append({"url": PSFS_EXT, "valueString": row["psfs_activity"]})
    for rating in row.get("ratings") or []:
        extensions.append(
            {
                "url": RATING_EXT,
                "extension": [
                    {"url": "date", "valueDate": day(rating["rated_on"])},
                    {"url": "level", "valueInteger": int(rating["level"])},
                ],
            }
        )
    resource: Resource = {"resourceType": "Goal", "id": row["id"]}
    if extensions:
        resource["extension"] = extensions
    resource.update(
        {
            "lifecycleStatus": "active",
            "category": [{"coding": [coding(CATEGORY_CS, "functional", "Functional goal")]}],
            "description": {"text": row["description"]},
            "subject": reference("Patient", row["patient_id"]),
        }
    )
    if row.get("target_date"):
        resource["target"] = [{"dueDate": day(row["target_date"])}]
    return resource


def marks() -> Marks:
    """Kept only with a hipspine functional-goal category."""
    return Marks((HIPSPINE,))


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``goal`` row for a FHIR Goal."""
    if not any(code_in(c, CATEGORY_CS) == "functional" for c in resource.get("category", ())):
        raise Unused("Goal other than a hipspine functional goal")
    STATUSES.of(resource)
    text = (resource.get("description") or {}).get("text")
    if not text:
        raise Invalid("description.text: a goal needs its wording")
    ratings = []
    for ext in resource.get("extension", ()):
        if ext.get("url") == RATING_EXT:
            parts = {e.get("url"): e for e in ext.get("extension", ())}
            level = parts.get("level", {}).get("valueInteger")
            if level not in (-2, -1, 0, 1, 2):
                raise Invalid(f"goal-attainment-rating.level: {level!r}; allowed: -2 … 2")
            ratings.append({"rated_on": parts.get("date", {}).get("valueDate"), "level": level})
    psfs = extension(resource, PSFS_EXT)
    targets = resource.get("target") or [{}]
    return {
        "description": text,
        "target_date": optional_day(targets[0].get("dueDate"), "target.dueDate"),
        "psfs_activity": psfs.get("valueString") if psfs else None,
        "ratings": ratings,
    }
