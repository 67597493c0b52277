"""Procedure <-> hipspine ``procedure`` (injection type, targets, image guidance).

The type is coded in the hipspine procedure-type CodeSystem (no SNOMED CT code is claimed
for orthobiologic injections); each target is a ``bodySite`` (hipspine site code, side as a
laterality extension, spinal level and other details as extensions); guidance is an
extension (R4 Procedure has no element for it). Procedures from other systems land when
their code is listed in ``data/procedures.toml`` (type ``other``, the received code kept,
guidance unknown); the rest are counted as unused.

Status on import (https://hl7.org/fhir/R4/valueset-event-status.html): ``completed`` and
``in-progress`` (under way: it is being done) are kept; a procedure not performed is no
record of one, so ``preparation`` (not started), ``not-done``, ``on-hold``, ``stopped``
(ended before it was done: which targets were treated is not known), ``entered-in-error``
and ``unknown`` are counted as unused with that reason. A hip–spine Procedure without a
status, or with a code outside the value set, is rejected naming the field (R4 requires
it). Exported procedures are ``completed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
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
    parse_day,
    reference,
    side_extension,
    side_of,
    table,
)
from hipspine.store.models import Guidance, ProcedureType

TYPE_CS = f"{CS}/procedure-type"
SITE_CS = f"{CS}/procedure-site"
GUIDANCE_CS = f"{CS}/guidance"
GUIDANCE_EXT = f"{EXT}/procedure-guidance"
TARGET_EXT = f"{EXT}/procedure-target-"
STATUSES = Statuses(
    "Procedure",
    "https://hl7.org/fhir/R4/valueset-event-status.html",
    kept=("completed", "in-progress"),
    unused={
        "preparation": "in preparation, not started",
        "not-done": "not done",
        "on-hold": "on hold, not done",
        "stopped": "stopped before it was done",
        "entered-in-error": "entered in error",
        "unknown": "whether it was done is not known",
    },
)
"""Procedure statuses: those of a procedure performed, and those that are not (why)."""


@cache
def _external() -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["system"], e["code"]): e for e in table("procedures")["external"]}


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR R4 Procedure for one ``procedure`` row."""
    concept: dict[str, Any] = {"coding": [coding(TYPE_CS, row["type"])]}
    if row.get("code"):
        concept["coding"].append(dict(row["code"]))
    sites = []
    for target in row["targets"]:
        site: dict[str, Any] = {"coding": [coding(SITE_CS, str(target.get("site")))]}
        extensions = []
        if target.get("side"):
            extensions.append(side_extension(target["side"]))
        for key in sorted(k for k in target if k not in ("site", "side")):
            extensions.append({"url": TARGET_EXT + key, "valueString": str(target[key])})
        if extensions:
            site["extension"] = extensions
        sites.append(site)
    resource: Resource = {"resourceType": "Procedure", "id": row["id"]}
    if row.get("guidance"):
        resource["extension"] = [
            {
                "url": GUIDANCE_EXT,
                "valueCodeableConcept": {"coding": [coding(GUIDANCE_CS, row["guidance"])]},
            }
        ]
    resource.update(
        {
            "status": "completed",
            "code": concept,
            "subject": reference("Patient", row["patient_id"]),
            "performedDateTime": day(row["performed_on"]),
        }
    )
    resource.update(link("reasonReference", "Condition", row.get("episode_id")))
    if sites:
        resource["bodySite"] = sites
    if row.get("note"):
        resource["note"] = [{"text": row["note"]}]
    return resource


def marks() -> Marks:
    """hipspine's procedure types, or one of the external procedure codes."""
    return Marks((HIPSPINE, *(code for _, code in _external())))


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``procedure`` row for a FHIR Procedure."""
    concept = resource.get("code")
    kind = code_in(concept, TYPE_CS)
    received = next(
        (
            {k: c[k] for k in ("system", "code", "display") if k in c}
            for c in (concept or {}).get("coding", ())
            if c.get("system") != TYPE_CS
        ),
        None,
    )
    if kind is None:
        if received is None or (received["system"], received["code"]) not in _external():
            raise Unused("Procedure outside the hip–spine procedures")
        kind = ProcedureType.OTHER.value
    if kind not in {t.value for t in ProcedureType}:
        raise Invalid(f"code: procedure type {kind!r}; allowed: {', '.join(ProcedureType)}")
    STATUSES.of(resource)
    guidance_ext = extension(resource, GUIDANCE_EXT)
    guidance = (
        code_in(guidance_ext.get("valueCodeableConcept"), GUIDANCE_CS) if guidance_ext else None
    )
    if guidance is not None and guidance not in {g.value for g in Guidance}:
        raise Invalid(f"guidance: {guidance!r}; allowed: {', '.join(Guidance)}")
    targets = []
    for site in resource.get("bodySite", ()):
        target: dict[str, Any] = {
            "site": code_in(site, SITE_CS) or site.get("text") or "unspecified"
        }
        side = side_of(site)
        if side:
            target["side"] = side
        for ext in site.get("extension", ()):
            if str(ext.get("url", "")).startswith(TARGET_EXT):
                target[ext["url"][len(TARGET_EXT) :]] = ext.get("valueString")
        targets.append(target)
    performed = resource.get("performedDateTime")
    if performed is None and isinstance(resource.get("performedPeriod"), dict):
        performed = resource["performedPeriod"].get("start")
    notes = [n.get("text", "") for n in resource.get("note", ())]
    return {
        "type": kind,
        "targets": targets,
        "guidance": guidance,
        "performed_on": parse_day(performed, "performedDateTime"),
        "note": "\n".join(notes) if notes else None,
        "code": received,
        "episode_id": first_linked(resource.get("reasonReference"), "Condition"),
    }
