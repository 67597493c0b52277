"""MedicationStatement <-> hipspine ``medication`` (name, dose, use pattern); import also
reads MedicationRequest (what Synthea and most EHRs send).

The medication is coded with its RxNorm ingredient (``data/medications.toml``) when the
recorded name is that ingredient. The use pattern travels twice: as FHIR semantics
(``asNeededBoolean``, ``status`` stopped) and exactly, as a hipspine extension with the
days per week. Only analgesics listed in the table are kept — by their RxNorm ingredient
code, by the code of a listed product (the clinical drugs Synthea prescribes for pain), or
by an ingredient named in the text; other medications are counted as unused.

**Named by the ingredient that classes it.** Each ingredient has a drug class (NSAID,
paracetamol, opioid, other). A product is classed by its opioid ingredient when it has one
— hydrocodone/acetaminophen and oxycodone/acetaminophen are opioids, as prescribers and the
CDC opioid value sets count them — else by the first ingredient it names. The record keeps
the name as received when it begins with that ingredient ("Acetaminophen 325 MG Oral
Tablet"); otherwise that ingredient comes first and the name as received follows in
parentheses ("hydrocodone (Acetaminophen 300 MG / HYDROcodone Bitartrate 5 MG Oral
Tablet)", "oxycodone (Abuse-Deterrent 12 HR Oxycodone Hydrochloride 15 MG Extended Release
Oral Tablet)"), so the record is read, and classed, by the drug that matters most.

Statuses on import (https://hl7.org/fhir/R4/valueset-medication-statement-status.html,
https://hl7.org/fhir/R4/valueset-medicationrequest-status.html): a medication the patient
does not take is no use pattern, so these are counted as unused with the reason —
MedicationStatement ``not-taken``, ``intended`` (not started), ``entered-in-error`` and
``unknown`` (whether it is taken is not known); MedicationRequest ``cancelled`` (withdrawn
before any was taken), ``draft``, ``entered-in-error`` and ``unknown``, and a request with
``doNotPerform`` (an order *not* to take it). ``stopped``, ``completed`` and ``on-hold``
(not taken now) make the pattern ``stopped`` unless the hipspine extension gives the exact
pattern; a MedicationStatement's ``effectivePeriod.end`` is the day it stopped (a
MedicationRequest has no such date). An analgesic without a status, or with a code outside
the value set, is rejected naming the field (R4 requires it). Exported statements are
``active``, or ``stopped`` when the record has a stop date or the stopped pattern.
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
    Statuses,
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
STATUSES = {
    "MedicationStatement": Statuses(
        "MedicationStatement",
        "https://hl7.org/fhir/R4/valueset-medication-statement-status.html",
        kept=("active", "completed", "stopped", "on-hold"),
        unused={
            "not-taken": "not taken",
            "intended": "intended, not started",
            "entered-in-error": "entered in error",
            "unknown": "whether it is taken is not known",
        },
    ),
    "MedicationRequest": Statuses(
        "MedicationRequest",
        "https://hl7.org/fhir/R4/valueset-medicationrequest-status.html",
        kept=("active", "on-hold", "completed", "stopped"),
        unused={
            "cancelled": "cancelled before any was taken",
            "draft": "a draft, never prescribed",
            "entered-in-error": "entered in error",
            "unknown": "whether it is taken is not known",
        },
    ),
}
"""Statuses per resource type: those of a medication the patient takes or took, and those
that are not (why)."""
NOT_NOW = frozenset({"stopped", "completed", "on-hold"})
OPIOID = "opioid"
"""The drug class that names a product containing it (see the module docstring)."""

Ingredient = dict[str, Any]


@cache
def _by_name() -> dict[str, Ingredient]:
    """Each ingredient by its name and its aliases (lower case)."""
    found = {}
    for entry in table("medications")["medication"]:
        for name in (entry["name"], *entry.get("aliases", ())):
            found[name] = entry
    return found


@cache
def _by_code() -> dict[str, tuple[Ingredient, ...]]:
    """The ingredients of each listed RxNorm code: an ingredient's own, a product's."""
    found: dict[str, tuple[Ingredient, ...]] = {
        e["rxnorm"]: (e,) for e in table("medications")["medication"]
    }
    for product in table("medications").get("product", ()):
        found[product["rxnorm"]] = tuple(_by_name()[name] for name in product["ingredients"])
    return found


@cache
def _displays() -> dict[str, str]:
    """The name of each listed RxNorm code (an ingredient's name, a product's display)."""
    found = {e["rxnorm"]: e["name"] for e in table("medications")["medication"]}
    found.update((p["rxnorm"], p["display"]) for p in table("medications").get("product", ()))
    return found


@cache
def _words() -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(map(re.escape, _by_name())) + r")\b", re.IGNORECASE)


@cache
def _leading(name: str) -> re.Pattern[str]:
    """Matches a text that begins with the ingredient ``name`` (or one of its aliases)."""
    entry = _by_name()[name]
    names = "|".join(map(re.escape, (entry["name"], *entry.get("aliases", ()))))
    return re.compile(rf"\s*({names})\b", re.IGNORECASE)


def marks() -> Marks:
    """One of the RxNorm codes (ingredients and products), or an analgesic's name in the
    text."""
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


def _classing(ingredients: list[Ingredient]) -> Ingredient:
    """The ingredient that classes a product of ``ingredients`` (in the order its code and
    name give them): its opioid if it has one, else the first."""
    return next((i for i in ingredients if i["class"] == OPIOID), ingredients[0])


def _name(concept: Mapping[str, Any] | None) -> str:
    """The record's name for a medication concept, led by the ingredient that classes it."""
    if not concept:
        raise Unused("medication given by reference (not kept)")
    code = code_in(concept, RXNORM) or ""
    text = concept.get("text") or next(
        (c.get("display") for c in concept.get("coding", ()) if c.get("display")), None
    )
    ingredients = list(_by_code().get(code, ()))
    for found in _words().finditer(text or ""):
        entry = _by_name()[found.group(0).lower()]
        if entry not in ingredients:
            ingredients.append(entry)
    if not ingredients:
        raise Unused("medication outside the analgesics hipspine follows")
    name = str(text or _displays()[code])
    lead = _classing(ingredients)
    if not _leading(lead["name"]).match(name):
        name = f"{lead['name']} ({name})"
    return name[:120]


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``medication`` row for a MedicationStatement or MedicationRequest."""
    name = _name(resource.get("medicationCodeableConcept"))
    kind = str(resource.get("resourceType"))
    status = STATUSES[kind].of(resource)
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
