"""DiagnosticReport with Observations <-> the imaging findings of an encounter's case.

One imaging DiagnosticReport per encounter whose case document holds imaging grades or
spinopelvic angles (Kellgren–Lawrence and Tönnis of the hip; Weishaupt facet and Lee
foraminal grades and disc herniation per spinal level; pelvic incidence, pelvic tilt,
sacral slope, lumbar lordosis). The report's id is the encounter's; each finding is an
Observation contained in the report and listed in ``result``, so the report is complete on
its own in a Bundle and in Bulk Data NDJSON alike.

* Report code: LOINC 18748-4 "Diagnostic imaging study"; category v2-0074 RAD.
* Finding codes: the hipspine imaging-finding CodeSystem (no LOINC code was found for
  these grades; see ``data/imaging.toml``). Grades are ``valueInteger``; herniation is
  ``valueBoolean``; angles are ``valueQuantity`` in UCUM ``deg``; a finding recorded as
  unknown has ``dataAbsentReason`` "unknown". Side is the laterality extension on
  ``bodySite``; the spinal level is coded in the hipspine spinal-level CodeSystem.

The report names its visit in ``encounter``: hipspine exports every visit as an Encounter
carrying the whole case (see the Encounter section), so on import a report written by
hipspine (with the encounter-kind extension) that names an Encounter adds nothing and is
counted as unused. Any other report (from an EHR, or a hipspine export made before visits
were exported) becomes an encounter (its kind from the encounter-kind extension, ``imaging``
otherwise) whose case holds these findings, validated as hipspine.case/1.

Status on import (https://hl7.org/fhir/R4/valueset-diagnostic-report-status.html):
``final``, ``amended``, ``corrected``, ``appended``, ``preliminary`` and ``partial``
(findings read, the report not yet final) are kept; ``registered`` (no result yet),
``cancelled`` (not made), ``entered-in-error`` and ``unknown`` (it may be either of those)
are counted as unused with that reason, as for Observations. An imaging report without a
status, or with a code outside the value set, is rejected naming the field (R4 requires
it). Exported reports are ``final``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hipspine.clinical.case import CASE_FORMAT, CaseError, parse_case
from hipspine.fhir._common import (
    CS,
    EXT,
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
    linked_id,
    number,
    parse_day,
    reference,
    side_extension,
    side_of,
    table,
)
from hipspine.store.models import EncounterKind

FINDING_CS = f"{CS}/imaging-finding"
LEVEL_CS = f"{CS}/spinal-level"
KIND_EXT = f"{EXT}/encounter-kind"
REPORT_CATEGORY = "http://terminology.hl7.org/CodeSystem/v2-0074"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
KINDS = tuple(kind.value for kind in EncounterKind)
CARRIED = "imaging findings: imported with their Encounter's case"
STATUSES = Statuses(
    "DiagnosticReport",
    "https://hl7.org/fhir/R4/valueset-diagnostic-report-status.html",
    kept=("final", "amended", "corrected", "appended", "preliminary", "partial"),
    unused={
        "registered": "no result yet",
        "cancelled": "not made",
        "entered-in-error": "entered in error",
        "unknown": "it may have been cancelled or entered in error",
    },
)
"""DiagnosticReport statuses: those of findings read, and those that are not (why)."""


def _findings() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = table("imaging")["finding"]
    return found


def _by_code() -> dict[str, str]:
    return {entry["code"]: finding for finding, entry in _findings().items()}


def _observation(finding: Mapping[str, Any], row: Mapping[str, Any]) -> Resource:
    entry = _findings()[finding["finding"]]
    side, level = finding.get("side"), finding.get("level")
    local = "-".join(str(p) for p in (entry["code"], side, level) if p)
    resource: Resource = {
        "resourceType": "Observation",
        "id": local,
        "status": "final",
        "category": [{"coding": [coding(OBSERVATION_CATEGORY, "imaging")]}],
        "code": {"coding": [coding(FINDING_CS, entry["code"], entry["display"])]},
        "subject": reference("Patient", row["patient_id"]),
        "effectiveDateTime": day(row["occurred_on"]),
    }
    value, result = finding.get("value"), finding.get("result")
    if entry["value"] == "grade" and value is not None:
        resource["valueInteger"] = int(value)
    elif entry["value"] == "angle" and value is not None:
        resource["valueQuantity"] = {
            "value": number(value),
            "unit": "deg",
            "system": UCUM,
            "code": "deg",
        }
    elif entry["value"] == "presence" and result in ("present", "absent"):
        resource["valueBoolean"] = result == "present"
    else:
        resource["dataAbsentReason"] = {"coding": [coding(DATA_ABSENT, "unknown", "Unknown")]}
    if side or level:
        site: dict[str, Any] = {}
        if side:
            site["extension"] = [side_extension(side)]
        if level:
            site["coding"] = [coding(LEVEL_CS, level)]
        resource["bodySite"] = site
    if finding.get("note"):
        resource["note"] = [{"text": finding["note"]}]
    return resource


def to_fhir(row: Mapping[str, Any]) -> list[Resource]:
    """The imaging DiagnosticReport of one ``encounter`` row, or nothing without imaging."""
    case = row.get("case") or {}
    known = _findings()
    findings = [f for f in case.get("findings", ()) if f.get("finding") in known]
    if not findings:
        return []
    observations = [_observation(f, row) for f in findings]
    report = table("imaging")["report"]
    return [
        {
            "resourceType": "DiagnosticReport",
            "id": row["id"],
            "extension": [{"url": KIND_EXT, "valueCode": row["kind"]}],
            "contained": observations,
            "status": "final",
            "category": [{"coding": [coding(REPORT_CATEGORY, "RAD", "Radiology")]}],
            "code": {"coding": [coding(LOINC, report["loinc"], report["display"])]},
            "subject": reference("Patient", row["patient_id"]),
            "encounter": reference("Encounter", row["id"]),
            "effectiveDateTime": day(row["occurred_on"]),
            "result": [{"reference": f"#{o['id']}"} for o in observations],
        }
    ]


def _finding(observation: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    code = code_in(observation.get("code"), FINDING_CS)
    name = _by_code().get(code or "")
    if name is None:
        return None
    entry = _findings()[name]
    out: dict[str, Any] = {"finding": name}
    site = observation.get("bodySite")
    side = side_of(site)
    if side:
        out["side"] = side
    level = code_in(site, LEVEL_CS)
    if level:
        out["level"] = level
    if entry["value"] == "grade" and "valueInteger" in observation:
        out["value"] = observation["valueInteger"]
    elif entry["value"] == "angle" and isinstance(observation.get("valueQuantity"), dict):
        quantity = observation["valueQuantity"]
        if quantity.get("code", "deg") != "deg":
            raise Invalid(f"{where}.valueQuantity: angles are in UCUM deg")
        out["value"] = quantity.get("value")
    elif entry["value"] == "presence" and isinstance(observation.get("valueBoolean"), bool):
        out["result"] = "present" if observation["valueBoolean"] else "absent"
    elif "dataAbsentReason" in observation:
        out["result"] = "unknown"
    else:
        raise Invalid(f"{where}: {name} needs a value or a dataAbsentReason")
    for note in observation.get("note", ())[:1]:
        if isinstance(note, dict) and note.get("text"):
            out["note"] = note["text"]
    return out


def marks() -> Marks:
    """An imaging study's LOINC code."""
    return Marks((table("imaging")["report"]["loinc"],))


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """The ``encounter`` row (with a case of imaging findings) of an imaging report.

    Raises :class:`Unused` for other DiagnosticReports (laboratory panels, notes) and for
    one whose status says it holds no findings read (see :data:`STATUSES`), and
    :class:`Invalid`, naming the field, for one without a valid status or whose findings
    are not a valid case.
    """
    if code_in(resource.get("code"), LOINC) != table("imaging")["report"]["loinc"]:
        raise Unused("DiagnosticReport other than an imaging study")
    STATUSES.of(resource)
    kind_ext = extension(resource, KIND_EXT)
    if kind_ext is not None and linked_id(resource.get("encounter"), "Encounter"):
        raise Unused(CARRIED)
    contained = {
        c.get("id"): c
        for c in resource.get("contained", ())
        if isinstance(c, dict) and c.get("resourceType") == "Observation"
    }
    findings = []
    for index, result in enumerate(resource.get("result", ())):
        ref = str(result.get("reference", "")) if isinstance(result, dict) else ""
        observation = contained.get(ref[1:]) if ref.startswith("#") else None
        if observation is not None:
            found = _finding(observation, f"result[{index}]")
            if found is not None:
                findings.append(found)
    if not findings:
        raise Unused("DiagnosticReport without hipspine imaging findings")
    occurred = parse_day(resource.get("effectiveDateTime"), "effectiveDateTime")
    case = {"format": CASE_FORMAT, "visit_date": occurred.isoformat(), "findings": findings}
    try:
        parse_case(case)
    except CaseError as error:
        raise Invalid("; ".join(error.problems)) from None
    kind = kind_ext.get("valueCode") if kind_ext else None
    return {
        "kind": kind if kind in KINDS else "imaging",
        "occurred_on": occurred,
        "episode_id": None,
        "clinician_id": None,
        "case": case,
        "note": None,
    }
