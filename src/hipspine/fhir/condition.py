"""Condition <-> hipspine ``episode`` (a diagnosis on one side, from onset to closure).

Exported with the hipspine condition code plus SNOMED CT and ICD-10-CM codes from
``data/conditions.toml`` (ICD-10-CM chosen by side where the classification has sided
codes); the side is also carried as a SNOMED CT laterality qualifier on ``bodySite``.
Imported when any coding matches an entry of that table; other conditions (Synthea's
dental caries, employment status, ...) are counted as unused.

Statuses on import (value sets
https://hl7.org/fhir/R4/valueset-condition-ver-status.html and
https://hl7.org/fhir/R4/valueset-condition-clinical.html):

* ``verificationStatus`` ``refuted`` (ruled out) or ``entered-in-error``: not an episode,
  counted as unused with that reason.
* ``verificationStatus`` ``unconfirmed``, ``provisional`` or ``differential``: kept. An
  episode is the clinic's working diagnosis, under which the patient is assessed and
  followed, so a diagnosis not yet confirmed is still one. The verification status is not
  stored: hipspine exports every episode as ``confirmed``, its working diagnosis.
* ``clinicalStatus`` ``inactive``, ``remission`` or ``resolved``: kept, closed on
  ``abatementDateTime`` (or ``abatementPeriod.end``, its start when it has no end). A
  closed Condition without an abatement date is rejected (reported with the reason): left
  open it would show as active, and any other day would be made up.
* ``clinicalStatus`` ``active``, ``recurrence`` or ``relapse``: an open episode, whatever
  abatement date it also carries. Without a clinical status the abatement date, if any,
  closes the episode.

Exported as ``resolved`` with ``abatementDateTime`` when the episode is closed, else
``active``, so an exported episode imports back the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import Any

from hipspine.fhir._common import (
    CS,
    HIPSPINE,
    ICD10CM,
    SNOMED,
    Invalid,
    Marks,
    Resource,
    Row,
    Unused,
    code_in,
    codes,
    coding,
    day,
    parse_day,
    reference,
    side_extension,
    side_of,
    table,
)

CONDITION_CS = f"{CS}/condition"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

_NOT_AN_EPISODE = {
    "refuted": "refuted (the diagnosis was ruled out)",
    "entered-in-error": "entered in error",
}
"""``verificationStatus`` codes of a Condition that is no diagnosis of the patient, and why."""
_CLOSED = frozenset({"inactive", "remission", "resolved"})
_OPEN = frozenset({"active", "recurrence", "relapse"})


@cache
def _entries() -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in table("conditions")["condition"]}


@cache
def _lookup() -> dict[tuple[str, str], tuple[str, str | None]]:
    """(system, code) -> (hipspine condition id, side implied by the code)."""
    found: dict[tuple[str, str], tuple[str, str | None]] = {}
    for entry in _entries().values():
        found[(SNOMED, entry["snomed"])] = (entry["id"], None)
        for extra in entry.get("also_snomed", ()):
            found[(SNOMED, extra)] = (entry["id"], None)
        for side, code in entry.get("icd10cm", {}).items():
            found[(ICD10CM, code)] = (entry["id"], None if side == "any" else side)
    return found


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR R4 Condition for one ``episode`` row."""
    condition, side = row["condition"], row.get("side")
    concept: dict[str, Any] = {"coding": [coding(CONDITION_CS, condition)]}
    entry = _entries().get(condition)
    if entry:
        concept["coding"].append(coding(SNOMED, entry["snomed"], entry["snomed_display"]))
        icd = entry.get("icd10cm", {})
        key = side if side in icd else "any"
        if key in icd:
            concept["coding"].append(coding(ICD10CM, icd[key], entry["icd10cm_display"][key]))
    resource: Resource = {
        "resourceType": "Condition",
        "id": row["id"],
        "clinicalStatus": {
            "coding": [coding(CLINICAL, "resolved" if row.get("closed_on") else "active")]
        },
        "verificationStatus": {"coding": [coding(VERIFICATION, "confirmed")]},
        "category": [{"coding": [coding(CATEGORY, "problem-list-item")]}],
        "code": concept,
    }
    if side:
        resource["bodySite"] = [{"extension": [side_extension(side)], "text": side}]
    resource["subject"] = reference("Patient", row["patient_id"])
    resource["onsetDateTime"] = day(row["started_on"])
    if row.get("closed_on"):
        resource["abatementDateTime"] = day(row["closed_on"])
    return resource


def marks() -> Marks:
    """hipspine's condition code system, or one of the SNOMED CT and ICD-10-CM codes."""
    return Marks((HIPSPINE, *(code for _, code in _lookup())))


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of an ``episode`` row for a FHIR Condition."""
    pairs = codes(resource.get("code"))
    condition = next((code for system, code in pairs if system == CONDITION_CS), None)
    implied: str | None = None
    if condition is None:
        for pair in pairs:
            if pair in _lookup():
                condition, implied = _lookup()[pair]
                break
    if condition is None:
        raise Unused("Condition outside the hip–spine vocabulary")
    verification = code_in(resource.get("verificationStatus"), VERIFICATION)
    if verification in _NOT_AN_EPISODE:
        raise Unused(f"Condition {_NOT_AN_EPISODE[verification]}")
    side = None
    for site in resource.get("bodySite", ()):
        side = side_of(site) or side
    side = side or implied
    onset = resource.get("onsetDateTime") or resource.get("recordedDate")
    if onset is None and isinstance(resource.get("onsetPeriod"), dict):
        onset = resource["onsetPeriod"].get("start")
    if onset is None:
        raise Invalid("onsetDateTime: the onset date is required for an episode")
    started = parse_day(onset, "onsetDateTime")
    closed = _closed_on(resource)
    if closed is not None and closed < started:
        raise Invalid(f"abatement: {closed} is before the onset ({started})")
    return {
        "condition": condition[:64],
        "side": side,
        "started_on": started,
        "closed_on": closed,
    }


def _closed_on(resource: Mapping[str, Any]) -> date | None:
    """The day the episode closed: None while the clinical status says it is active."""
    status = code_in(resource.get("clinicalStatus"), CLINICAL)
    if status in _OPEN:
        return None
    if "abatementDateTime" in resource:
        return parse_day(resource["abatementDateTime"], "abatementDateTime")
    period = resource.get("abatementPeriod")
    if isinstance(period, dict) and (period.get("end") or period.get("start")):
        field = "abatementPeriod.end" if period.get("end") else "abatementPeriod.start"
        return parse_day(period.get("end") or period.get("start"), field)
    if status in _CLOSED:
        raise Invalid(
            f"abatement[x]: a Condition with clinicalStatus {status!r} needs the date it "
            "abated (abatementDateTime or abatementPeriod) to close its episode"
        )
    return None
