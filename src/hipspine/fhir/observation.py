"""Observation <-> hipspine pain ratings, strength tests and function tests; questionnaire
score Observations (exported for EHRs; on import the QuestionnaireResponse brings the
scores, see :mod:`hipspine.fhir.questionnaire`).

* Pain: LOINC 72514-3 (0–10 numeric rating), one Observation per region and side; the
  region is a hipspine region code on ``bodySite`` with the side as a laterality extension.
  A rating without a body site (Synthea's) lands as region ``unspecified``, side
  ``unknown``.
* Strength: hipspine code ``muscle-strength``; the muscle on ``bodySite``; MRC grade, force
  (UCUM N or kgf), lever arm (m), action and position as components.
* Function tests: hipspine codes per test (no LOINC code was checked), value in UCUM.
* Questionnaire scores: the instrument's LOINC code where it has one (the instrument data files),
  otherwise ``<instrument>-score`` / ``<instrument>-<subscale>`` in the hipspine
  instrument-score CodeSystem; ``derivedFrom`` names the QuestionnaireResponse. On import
  such an Observation is counted as unused ("a questionnaire score: imported with its
  QuestionnaireResponse"): the response alone restores the record, so a score is never
  stored twice, nor apart from its answers.

Status on import (https://hl7.org/fhir/R4/valueset-observation-status.html): ``final``,
``amended``, ``corrected`` and ``preliminary`` (a measurement made, its report not final)
are kept; ``registered`` (no result yet), ``cancelled`` (not made), ``entered-in-error``
and ``unknown`` (it may be either of those) are counted as unused with that reason. A pain
rating, strength or function test without a status, or with a code outside the value set,
is rejected naming the field (R4 requires it). Exported Observations are ``final``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from hipspine.clinical import instruments
from hipspine.fhir import questionnaire
from hipspine.fhir._common import (
    CS,
    EXT,
    HIPSPINE,
    LOINC,
    OBSERVATION_CATEGORY,
    UCUM,
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
    link,
    linked_id,
    number,
    parse_day,
    reference,
    side_extension,
    side_of,
    table,
)

OBSERVATION_CS = f"{CS}/observation"
FUNCTION_CS = f"{CS}/function-test"
REGION_CS = f"{CS}/region"
MUSCLE_CS = f"{CS}/muscle"
SCORE_CS = questionnaire.SCORE_CS
RECALL_EXT = f"{EXT}/pain-recall"
PAIN = "72514-3"
UNSPECIFIED = "unspecified"  # region of a rating sent without a body site
UNKNOWN_SIDE = "unknown"
QUESTIONNAIRE_RESPONSE = "QuestionnaireResponse/"
SCORE_UNUSED = "a questionnaire score: imported with its QuestionnaireResponse"
STATUSES = Statuses(
    "Observation",
    "https://hl7.org/fhir/R4/valueset-observation-status.html",
    kept=("final", "amended", "corrected", "preliminary"),
    unused={
        "registered": "no result yet",
        "cancelled": "not made",
        "entered-in-error": "entered in error",
        "unknown": "it may have been cancelled or entered in error",
    },
)
"""Observation statuses: those of a measurement of the patient, and those that are not (why)."""
_SCORE_NAMESPACE = uuid.UUID("6f1d2c52-8a59-4d1e-9a0b-5b6d0d7c1e11")


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [coding(OBSERVATION_CATEGORY, code)]}]


def _ucum(unit: str) -> str:
    return str(table("observations")["units"].get(unit, unit))


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": number(value), "unit": unit, "system": UCUM, "code": _ucum(unit)}


# -- pain ---------------------------------------------------------------------------------


def pain_to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR Observation (LOINC 72514-3) for one ``pain_rating`` row."""
    pain = table("observations")["pain"]
    site: dict[str, Any] = {"coding": [coding(REGION_CS, row["region"])]}
    if row["side"] != UNKNOWN_SIDE:
        site["extension"] = [side_extension(row["side"])]
    return {
        "resourceType": "Observation",
        "id": row["id"],
        "extension": [{"url": RECALL_EXT, "valueString": row["recall"]}],
        "status": "final",
        "category": _category("survey"),
        "code": {"coding": [coding(LOINC, PAIN, pain["display"])]},
        "subject": reference("Patient", row["patient_id"]),
        **link("encounter", "Encounter", row.get("encounter_id")),
        "effectiveDateTime": day(row["rated_on"]),
        "valueInteger": int(row["intensity"]),
        "bodySite": site,
    }


def _pain_from_fhir(resource: Mapping[str, Any]) -> Row:
    if "valueInteger" in resource:
        value: Any = resource["valueInteger"]
    elif isinstance(resource.get("valueQuantity"), dict):
        value = resource["valueQuantity"].get("value")
    else:
        raise Invalid("value[x]: a pain rating needs valueInteger or valueQuantity")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise Invalid("value: a pain rating is a whole number 0–10")
    if not 0 <= value <= 10:
        raise Invalid("value: a pain rating is 0–10")
    site = resource.get("bodySite")
    region = code_in(site, REGION_CS) or UNSPECIFIED
    recall = extension(resource, RECALL_EXT)
    return {
        "region": region,
        "side": side_of(site) or UNKNOWN_SIDE,
        "intensity": int(value),
        "recall": recall["valueString"] if recall else "past week",
        "rated_on": parse_day(_effective(resource), "effectiveDateTime"),
        "encounter_id": linked_id(resource.get("encounter"), "Encounter"),
    }


def _made(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """``resource`` if its status says it was measured (see :data:`STATUSES`)."""
    STATUSES.of(resource)
    return resource


def _effective(resource: Mapping[str, Any]) -> Any:
    if "effectiveDateTime" in resource:
        return resource["effectiveDateTime"]
    if isinstance(resource.get("effectivePeriod"), dict):
        return resource["effectivePeriod"].get("start")
    return resource.get("issued")


# -- strength -----------------------------------------------------------------------------

_COMPONENTS = {
    "mrc-grade": "Manual muscle test grade (MRC 0–5, with 4- and 4+)",
    "force": "Isometric force, hand-held dynamometry",
    "lever-arm": "Lever arm",
    "action": "Muscle action tested",
    "position": "Test position",
}


def strength_to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR Observation for one ``strength_test`` row (MRC grade and/or HHD force)."""
    strength = table("observations")["strength"]
    site: dict[str, Any] = {"coding": [coding(MUSCLE_CS, row["muscle"])]}
    if row.get("side"):
        site["extension"] = [side_extension(row["side"])]
    components: list[dict[str, Any]] = []

    def add(code: str, key: str, value: Any) -> None:
        components.append(
            {"code": {"coding": [coding(OBSERVATION_CS, code, _COMPONENTS[code])]}, key: value}
        )

    if row.get("mrc") is not None:
        add("mrc-grade", "valueString", row["mrc"])
    if row.get("force") is not None:
        add("force", "valueQuantity", _quantity(row["force"], row.get("unit") or "N"))
    if row.get("lever_arm_m") is not None:
        add("lever-arm", "valueQuantity", _quantity(row["lever_arm_m"], "m"))
    if row.get("action"):
        add("action", "valueString", row["action"])
    if row.get("position"):
        add("position", "valueString", row["position"])
    resource: Resource = {
        "resourceType": "Observation",
        "id": row["id"],
        "status": "final",
        "category": _category("exam"),
        "code": {"coding": [coding(OBSERVATION_CS, strength["code"], strength["display"])]},
        "subject": reference("Patient", row["patient_id"]),
        **link("encounter", "Encounter", row.get("encounter_id")),
        "effectiveDateTime": day(row["tested_on"]),
        "bodySite": site,
    }
    if components:
        resource["component"] = components
    else:
        resource["dataAbsentReason"] = {"text": "no grade or force recorded"}
    return resource


def _strength_from_fhir(resource: Mapping[str, Any]) -> Row:
    site = resource.get("bodySite")
    muscle = code_in(site, MUSCLE_CS)
    if not muscle:
        raise Invalid(f"bodySite: the muscle must be coded in {MUSCLE_CS}")
    row: Row = {
        "muscle": muscle,
        "side": side_of(site),
        "mrc": None,
        "action": None,
        "position": None,
        "force": None,
        "unit": None,
        "lever_arm_m": None,
        "tested_on": parse_day(_effective(resource), "effectiveDateTime"),
        "encounter_id": linked_id(resource.get("encounter"), "Encounter"),
    }
    for component in resource.get("component", ()):
        code = code_in(component.get("code"), OBSERVATION_CS)
        if code == "mrc-grade":
            row["mrc"] = component.get("valueString")
        elif code == "force":
            quantity = component.get("valueQuantity") or {}
            row["force"], row["unit"] = quantity.get("value"), quantity.get("unit")
        elif code == "lever-arm":
            row["lever_arm_m"] = (component.get("valueQuantity") or {}).get("value")
        elif code in ("action", "position"):
            row[code] = component.get("valueString")
    return row


# -- function tests -----------------------------------------------------------------------


def function_to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR Observation for one ``function_test`` row (value in UCUM)."""
    known = table("observations")["function"].get(row["test"], {})
    return {
        "resourceType": "Observation",
        "id": row["id"],
        "status": "final",
        "category": _category("exam"),
        "code": {"coding": [coding(FUNCTION_CS, row["test"], known.get("display"))]},
        "subject": reference("Patient", row["patient_id"]),
        **link("encounter", "Encounter", row.get("encounter_id")),
        "effectiveDateTime": day(row["tested_on"]),
        "valueQuantity": _quantity(row["value"], row["unit"]),
    }


def _function_from_fhir(resource: Mapping[str, Any], test: str) -> Row:
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        raise Invalid("valueQuantity: a function test needs a value with its unit")
    return {
        "test": test[:40],
        "value": quantity["value"],
        "unit": str(quantity.get("unit") or quantity.get("code") or "")[:16],
        "tested_on": parse_day(_effective(resource), "effectiveDateTime"),
        "encounter_id": linked_id(resource.get("encounter"), "Encounter"),
    }


# -- questionnaire scores (export) -------------------------------------------------------


def score_ids(response_id: str, scope: str) -> str:
    """A stable id for the score Observation of one response and scope."""
    return str(uuid.uuid5(_SCORE_NAMESPACE, f"{response_id}/{scope}"))


def scores_to_fhir(row: Mapping[str, Any]) -> list[Resource]:
    """Score Observations (total and subscales) derived from one questionnaire response."""
    try:
        instrument = instruments.get(row["instrument"])
    except KeyError:
        return []
    unit = "%" if instrument.unit.startswith("percent") else "{score}"
    found = [
        (scope, value, questionnaire.score_coding(instrument, scope))
        for scope, value in questionnaire.recorded_scores(row)
    ]
    return [
        {
            "resourceType": "Observation",
            "id": score_ids(row["id"], scope),
            "status": "final",
            "category": _category("survey"),
            "code": {"coding": [concept]},
            "subject": reference("Patient", row["patient_id"]),
            **link("encounter", "Encounter", row.get("encounter_id")),
            "effectiveDateTime": day(row["completed_on"]),
            "valueQuantity": {"value": number(value), "unit": unit, "system": UCUM, "code": unit},
            "derivedFrom": [reference("QuestionnaireResponse", row["id"])],
        }
        for scope, value, concept in found
    ]


# -- import dispatch ----------------------------------------------------------------------


def marks() -> Marks:
    """Pain ratings carry the LOINC pain code; strength and function tests hipspine's
    code systems. Scores derived from a QuestionnaireResponse are parsed too, so they are
    reported for what they are rather than passed over unread."""
    return Marks((HIPSPINE, PAIN, QUESTIONNAIRE_RESPONSE))


def from_fhir(resource: Mapping[str, Any]) -> tuple[str, Row]:
    """The hipspine table and column values for a FHIR Observation.

    Raises :class:`Unused` for Observations hipspine does not keep (vital signs, labs,
    scores derived from a questionnaire response, which come with the response itself) and
    for those whose status says they were not made or were recorded in error.
    """
    for derived in resource.get("derivedFrom", ()):
        if QUESTIONNAIRE_RESPONSE in str(derived.get("reference", "")):
            raise Unused(SCORE_UNUSED)
    concept = resource.get("code")
    if code_in(concept, LOINC) == PAIN:
        return "pain_rating", _pain_from_fhir(_made(resource))
    if code_in(concept, OBSERVATION_CS) == table("observations")["strength"]["code"]:
        return "strength_test", _strength_from_fhir(_made(resource))
    test = code_in(concept, FUNCTION_CS)
    if test:
        return "function_test", _function_from_fhir(_made(resource), test)
    raise Unused("Observation not kept by hipspine")
