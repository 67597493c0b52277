"""MedicationStatement <-> hipspine ``medication`` (name, dose, use pattern); import also
reads MedicationRequest (what Synthea and most EHRs send).

The medication is coded with its RxNorm ingredient (``data/medications.toml``) when the
recorded name is that ingredient. The use pattern travels twice: as FHIR semantics
(``asNeededBoolean``, ``status`` stopped) and exactly, as a hipspine extension with the
days per week. Only analgesics listed in the table are kept; other medications are
counted as unused.

Statuses on import (https://hl7.org/fhir/R4/valueset-medication-statement-status.html,
https://hl7.org/fhir/R4/valueset-medicationrequest-status.html): a medication the patient
does not take is no use pattern, so these are counted as unused with the reason —
MedicationStatement ``not-taken``, ``intended`` (not started), ``entered-in-error`` and
``unknown`` (whether it is taken is not known); MedicationRequest ``cancelled`` (withdrawn
before any was taken), ``draft``, ``entered-in-error`` and ``unknown``, and a request with
``doNotPerform`` (an order *not* to take it). ``stopped``, ``completed`` and ``on-hold``
(not taken now) make the pattern ``stopped`` unless the hipspine extension gives the exact
pattern; a MedicationStatement's ``effectivePeriod.end`` is the day it stopped (a
MedicationRequest has no such date). Exported statements are ``active``, or ``stopped``
when the record has a stop date or the stopped pattern.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from hipspine.fhir._common import (
    EXT,
    RXNORM,
    Marks,
    Resource,
    Row,
    Unused,
    code_in,
    coding,
    day,
    extension,
    optional_day,
    reference,
    table,
)

PATTERN_EXT = f"{EXT}/use-pattern"
DAYS_EXT = f"{EXT}/days-per-week"
PATTERNS = ("regular", "as_needed", "stopped")
NOT_TAKEN = {
    "MedicationStatement": {
        "not-taken": "not taken",
        "intended": "intended, not started",
        "entered-in-error": "entered in error",
        "unknown": "of unknown status (whether it is taken is not known)",
    },
    "MedicationRequest": {
        "cancelled": "cancelled before any was taken",
        "draft": "a draft, never prescribed",
        "entered-in-error": "entered in error",
        "unknown": "of unknown status (whether it is taken is not known)",
    },
}
"""Statuses of a medication the patient does not take, per resource type, and why."""
NOT_NOW = frozenset({"stopped", "completed", "on-hold"})


@cache
def _by_name() -> dict[str, dict[str, Any]]:
    found = {}
    for entry in table("medications")["medication"]:
        for name in (entry["name"], *entry.get("aliases", ())):
            found[name] = entry
    return found


@cache
def _by_code() -> dict[str, dict[str, Any]]:
    return {e["rxnorm"]: e for e in table("medications")["medication"]}


@cache
def _words() -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(map(re.escape, _by_name())) + r")\b", re.IGNORECASE)


def marks() -> Marks:
    """One of the RxNorm codes, or an analgesic's name in the text."""
    return Marks(tuple(_by_code()), _words())


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR R4 MedicationStatement for one ``medication`` row."""
    concept: dict[str, Any] = {"text": row["name"]}
    entry = _by_name().get(row["name"].strip().lower())
    if entry:
        concept["coding"] = [coding(RXNORM, entry["rxnorm"], entry["name"])]
    extensions: list[dict[str, Any]] = [{"url": PATTERN_EXT, "valueCode": row["pattern"]}]
    if row.get("days_per_week") is not None:
        extensions.append({"url": DAYS_EXT, "valueDecimal": row["days_per_week"]})
    stopped = row["pattern"] == "stopped" or row.get("stopped_on") is not None
    resource: Resource = {
        "resourceType": "MedicationStatement",
        "id": row["id"],
        "extension": extensions,
        "status": "stopped" if stopped else "active",
        "medicationCodeableConcept": concept,
        "subject": reference("Patient", row["patient_id"]),
    }
    if row.get("started_on") or row.get("stopped_on"):
        period = {}
        if row.get("started_on"):
            period["start"] = day(row["started_on"])
        if row.get("stopped_on"):
            period["end"] = day(row["stopped_on"])
        resource["effectivePeriod"] = period
    if row.get("indication"):
        resource["reasonCode"] = [{"text": row["indication"]}]
    dosage: dict[str, Any] = {"asNeededBoolean": row["pattern"] == "as_needed"}
    if row.get("dose"):
        dosage["text"] = row["dose"]
    resource["dosage"] = [dosage]
    return resource


def _name(concept: Mapping[str, Any] | None) -> str:
    if not concept:
        raise Unused("medication given by reference (not kept)")
    code = code_in(concept, RXNORM)
    text = concept.get("text") or next(
        (c.get("display") for c in concept.get("coding", ()) if c.get("display")), None
    )
    known = code in _by_code() if code else False
    if not known and not (text and _words().search(text)):
        raise Unused("medication outside the analgesics hipspine follows")
    return str(text or _by_code()[str(code)]["name"])[:120]


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``medication`` row for a MedicationStatement or MedicationRequest."""
    name = _name(resource.get("medicationCodeableConcept"))
    kind, status = resource.get("resourceType"), resource.get("status")
    not_taken = NOT_TAKEN.get(str(kind), {})
    if status in not_taken:
        raise Unused(f"{kind} {not_taken[status]}")
    if resource.get("doNotPerform") is True:
        raise Unused(f"{kind} with doNotPerform: an order not to take it")
    dosages = resource.get("dosage") or resource.get("dosageInstruction") or []
    first = dosages[0] if dosages else {}
    ext = extension(resource, PATTERN_EXT)
    if ext and ext.get("valueCode") in PATTERNS:
        pattern = ext["valueCode"]
    elif status in NOT_NOW:
        pattern = "stopped"
    elif first.get("asNeededBoolean") or "asNeededCodeableConcept" in first:
        pattern = "as_needed"
    else:
        pattern = "regular"
    days = extension(resource, DAYS_EXT)
    if resource["resourceType"] == "MedicationStatement":
        period = resource.get("effectivePeriod") or {}
        started = period.get("start") or resource.get("effectiveDateTime")
        stopped = period.get("end")
    else:
        started = resource.get("authoredOn")
        stopped = None
    reasons = [r.get("text") for r in resource.get("reasonCode", ()) if r.get("text")]
    return {
        "name": name,
        "dose": str(first["text"])[:60] if first.get("text") else None,
        "pattern": pattern,
        "days_per_week": days.get("valueDecimal") if days else None,
        "indication": reasons[0][:200] if reasons else None,
        "started_on": optional_day(started, "effective"),
        "stopped_on": optional_day(stopped, "effectivePeriod.end"),
    }
