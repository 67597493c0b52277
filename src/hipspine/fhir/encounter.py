"""Encounter <-> hipspine ``encounter`` (a visit: its kind, day, episode, note and case
document).

* Kind: ``type`` coded in the hipspine encounter-kind CodeSystem; ``class`` is ``AMB``
  (ambulatory, HL7 v3 ActCode); ``status`` is ``finished``; ``period.start`` is the day.
* Episode: ``reasonReference`` names the episode's Condition.
* Clinician: not sent. hipspine's staff are user accounts of one installation; their ids
  and names mean nothing to another, and an import could not restore them, so a record
  would not come back as it left.
* Note: R4 Encounter has no note element; it travels in the FHIR extension
  ``http://hl7.org/fhir/StructureDefinition/note`` (an Annotation; FHIR Extensions Pack).
* Case: the whole hipspine.case/1 document recorded at the visit (history, examination
  findings, special tests, manual muscle testing, pain map, red-flag screening, imaging)
  has no FHIR resource that holds it without loss, so it travels whole in the hipspine
  case-document extension: an Attachment of ``application/json``, the document as canonical
  JSON (sorted keys, UTF-8) in base64 ``data``. Its imaging grades are also sent as a
  DiagnosticReport (see below) for systems that read imaging findings only.

Only Encounters with a hipspine encounter kind are kept (an EHR's visits, e.g. Synthea's
wellness visits, are counted as unused). An imported case is validated as hipspine.case/1,
and an Encounter whose case is not valid is rejected naming the fields.

Status on import (https://hl7.org/fhir/R4/valueset-encounter-status.html): ``finished``,
``in-progress``, ``arrived``, ``triaged`` and ``onleave`` (the patient came: the visit took
place) are kept; ``planned`` (not yet taken place), ``cancelled``, ``entered-in-error`` and
``unknown`` (it may have been cancelled or entered in error) are counted as unused with
that reason. An Encounter without a status, or with a code outside the value set, is
rejected naming the field (R4 requires it). Exported Encounters are ``finished``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import orjson

from hipspine.clinical.case import CaseError, parse_case
from hipspine.fhir._common import (
    CS,
    EXT,
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
)
from hipspine.fhir.imaging import KINDS

KIND_CS = f"{CS}/encounter-kind"
CASE_EXT = f"{EXT}/case-document"
NOTE_EXT = "http://hl7.org/fhir/StructureDefinition/note"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CASE_TYPE = "application/json"
STATUSES = Statuses(
    "Encounter",
    "https://hl7.org/fhir/R4/valueset-encounter-status.html",
    kept=("finished", "in-progress", "arrived", "triaged", "onleave"),
    unused={
        "planned": "planned, not yet taken place",
        "cancelled": "cancelled, no visit took place",
        "entered-in-error": "entered in error",
        "unknown": "it may have been cancelled or entered in error",
    },
)
"""Encounter statuses: those of a visit that took place, and those that are not (why)."""


def case_data(case: Any) -> str:
    """The case document as base64 of its canonical JSON (sorted keys, UTF-8)."""
    text = json.dumps(case, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR R4 Encounter for one ``encounter`` row."""
    resource: Resource = {"resourceType": "Encounter", "id": row["id"]}
    extensions: list[dict[str, Any]] = []
    if row.get("case") is not None:
        attachment = {"contentType": CASE_TYPE, "data": case_data(row["case"])}
        extensions.append({"url": CASE_EXT, "valueAttachment": attachment})
    if row.get("note"):
        extensions.append({"url": NOTE_EXT, "valueAnnotation": {"text": row["note"]}})
    if extensions:
        resource["extension"] = extensions
    resource.update(
        {
            "status": "finished",
            "class": coding(ACT_CODE, "AMB", "ambulatory"),
            "type": [{"coding": [coding(KIND_CS, row["kind"])]}],
            "subject": reference("Patient", row["patient_id"]),
        }
    )
    resource["period"] = {"start": day(row["occurred_on"])}
    resource.update(link("reasonReference", "Condition", row.get("episode_id")))
    return resource


def marks() -> Marks:
    """A hipspine encounter kind."""
    return Marks((KIND_CS,))


def _case(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    ext = extension(resource, CASE_EXT)
    if ext is None:
        return None
    where = f"extension[{CASE_EXT}]"
    attachment = ext.get("valueAttachment")
    if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
        raise Invalid(f"{where}: the case document is an Attachment with base64 data")
    if attachment.get("contentType", CASE_TYPE).split(";")[0].strip() != CASE_TYPE:
        raise Invalid(
            f"{where}.contentType: {attachment.get('contentType')!r}; allowed: {CASE_TYPE}"
        )
    try:
        case = orjson.loads(base64.b64decode(attachment["data"], validate=True))
    except (binascii.Error, ValueError):  # orjson's errors, bad UTF-8 included, are ValueErrors
        raise Invalid(f"{where}: data is not base64 of a JSON document") from None
    if not isinstance(case, dict):
        raise Invalid(f"{where}: the case document is a JSON object")
    try:
        parse_case(case)
    except CaseError as error:
        raise Invalid(
            f"{where}: not a valid hipspine.case/1: {'; '.join(error.problems)}"
        ) from None
    return case


def _note(resource: Mapping[str, Any]) -> str | None:
    notes = [
        str(ext["valueAnnotation"].get("text") or "")
        for ext in resource.get("extension", ())
        if ext.get("url") == NOTE_EXT and isinstance(ext.get("valueAnnotation"), dict)
    ]
    return "\n".join(notes) if notes else None


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of an ``encounter`` row for a FHIR Encounter.

    Raises :class:`Unused` for an Encounter without a hipspine encounter kind, or of a visit
    that did not take place, and :class:`Invalid`, naming the fields, for one of a kind
    hipspine does not know, without a valid status, or whose case document is not a valid
    hipspine.case/1.
    """
    kind = next(
        (found for concept in resource.get("type", ()) if (found := code_in(concept, KIND_CS))),
        None,
    )
    if kind is None:
        raise Unused("Encounter without a hipspine encounter kind")
    if kind not in KINDS:
        raise Invalid(f"type: encounter kind {kind!r}; allowed: {', '.join(KINDS)}")
    STATUSES.of(resource)
    period = resource.get("period") or {}
    return {
        "kind": kind,
        "occurred_on": parse_day(period.get("start"), "period.start"),
        "episode_id": first_linked(resource.get("reasonReference"), "Condition"),
        "clinician_id": None,
        "case": _case(resource),
        "note": _note(resource),
    }
