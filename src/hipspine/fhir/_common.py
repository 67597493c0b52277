"""What every resource mapping shares: code systems, small builders, errors, dates.

Mappings work on plain dictionaries on both sides — a database row as a mapping of column
values, a FHIR resource as parsed JSON — so bulk import and export never build a model
object per resource. The FHIR side is checked by :mod:`hipspine.fhir.validate` (and, in
the tests, by the ``fhir.resources`` R4B models).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

HIPSPINE = "https://hipspine.org/fhir"
CS = f"{HIPSPINE}/CodeSystem"
EXT = f"{HIPSPINE}/StructureDefinition"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
RECORD_NUMBER = f"{HIPSPINE}/sid/record-number"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

LATERALITY_EXT = f"{EXT}/laterality"
SIDE_CS = f"{CS}/side"
SIDES = ("left", "right", "bilateral", "midline")
DATA = Path(__file__).with_name("data")

Resource = dict[str, Any]
Row = dict[str, Any]


class Unused(Exception):
    """The resource is valid FHIR but holds nothing hipspine keeps (counted, reported)."""


class Invalid(ValueError):
    """The resource cannot be mapped: ``str(error)`` names the field and the reason."""


@dataclass(frozen=True)
class Marks:
    """What the JSON of every resource a mapping keeps contains: one of ``texts`` (a code,
    or hipspine's code systems), or a match of ``words``.

    A resource without any is certainly unused, so the bulk importer passes its line over
    without parsing it — most lines of an EHR's export are vital signs, labs and claims.
    """

    texts: tuple[str, ...]
    words: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Statuses:
    """How a mapping honours the status of the resources it reads: one rule for all.

    FHIR R4 makes the status of every resource hipspine keeps required (1..1) and binds it
    to a value set with required strength, so on import:

    * a resource without its status, or with a code outside the value set, is not valid
      R4: it is rejected (:class:`Invalid`) naming the element, the value and the allowed
      codes — as :mod:`hipspine.fhir.validate` rejects any missing required element;
    * a status in ``unused`` (what the resource records did not take place, was never
      agreed, or was entered in error; ``unknown``: it may be any of those) is counted as
      unused (:class:`Unused`) naming the status and why;
    * a status in ``kept`` is kept.

    ``kept`` and ``unused`` together list the whole value set (``value_set``, its URL).
    """

    resource_type: str
    value_set: str
    kept: tuple[str, ...]
    unused: Mapping[str, str]
    """Status → why a resource with it is no record hipspine keeps."""
    element: str = "status"

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code of the value set, the kept ones first."""
        return (*self.kept, *self.unused)

    def of(self, resource: Mapping[str, Any]) -> str:
        """The status of ``resource`` when it is one hipspine keeps; raises :class:`Invalid`
        when it is missing or not in the value set, :class:`Unused` (with why) when it says
        there is nothing to keep."""
        value = resource.get(self.element)
        if isinstance(value, str) and value in self.kept:
            return value
        if isinstance(value, str) and value in self.unused:
            raise Unused(
                f"{self.resource_type} with {self.element} {value!r}: {self.unused[value]}"
            )
        allowed = ", ".join(self.codes)
        if value is None or value == "":
            raise Invalid(
                f"{self.element}: required in FHIR R4 ({self.value_set}); allowed: {allowed}"
            )
        raise Invalid(f"{self.element}: {value!r} is not in {self.value_set}; allowed: {allowed}")


@cache
def table(name: str) -> dict[str, Any]:
    """A code table from ``fhir/data/<name>.toml``."""
    with (DATA / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    """A Coding with an optional display."""
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def reference(resource_type: str, record_id: str) -> dict[str, str]:
    """A relative literal reference, e.g. ``Patient/<id>``."""
    return {"reference": f"{resource_type}/{record_id}"}


def link(element: str, resource_type: str, record_id: str | None) -> dict[str, Any]:
    """``{element: <Type/id reference>}`` for a record's link column (``encounter_id``,
    ``episode_id``), or nothing when the record is not linked; a list for the elements that
    repeat (``reasonReference``, ``addresses``). Spread into the resource: ``**link(...)``."""
    if not record_id:
        return {}
    ref = reference(resource_type, record_id)
    return {element: [ref] if element in ("reasonReference", "addresses") else ref}


def day(value: date | datetime | str | None) -> str | None:
    """An ISO date (YYYY-MM-DD) for a FHIR date or the date part of a dateTime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def parse_day(value: Any, field: str) -> date:
    """The calendar date of a FHIR date/dateTime (the date as written, before any offset)."""
    # The date itself is patient data: a problem names the field and the form, not it.
    if value is None:
        raise Invalid(f"{field}: missing; a full date (YYYY-MM-DD) is required")
    if not isinstance(value, str) or len(value) < 10:
        raise Invalid(f"{field}: a full date (YYYY-MM-DD) is required")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise Invalid(f"{field}: not a valid date (YYYY-MM-DD)") from None


def optional_day(value: Any, field: str) -> date | None:
    return None if value is None else parse_day(value, field)


def codes(concept: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept."""
    if not concept:
        return []
    return [(c.get("system", ""), c.get("code", "")) for c in concept.get("coding", ())]


def code_in(concept: Mapping[str, Any] | None, system: str) -> str | None:
    """The first code of ``system`` in a CodeableConcept (as :func:`codes` reads them)."""
    if not concept:
        return None
    # Read in place, without the pairs :func:`codes` builds: every Observation imported
    # asks this of its code up to three times.
    for coding in concept.get("coding", ()):
        if coding.get("system", "") == system:
            return coding.get("code", "")  # type: ignore[no-any-return]
    return None


def extension(resource: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    """The first extension with this url."""
    for ext in resource.get("extension", ()):
        if ext.get("url") == url:
            return ext  # type: ignore[no-any-return]
    return None


def side_extension(side: str) -> dict[str, Any]:
    """The laterality of a body site: hipspine side code plus SNOMED CT where one exists."""
    lat = table("conditions")["laterality"]
    concept: dict[str, Any] = {"coding": [coding(SIDE_CS, side)]}
    if side in lat:
        concept["coding"].append(coding(SNOMED, lat[side]["code"], lat[side]["display"]))
    return {"url": LATERALITY_EXT, "valueCodeableConcept": concept}


def side_of(site: Mapping[str, Any] | None) -> str | None:
    """The side recorded on a body site (hipspine code first, then SNOMED laterality)."""
    if not site:
        return None
    ext = extension(site, LATERALITY_EXT)
    if ext is None:
        return None
    concept = ext.get("valueCodeableConcept")
    side = code_in(concept, SIDE_CS)
    if side in SIDES:
        return side
    snomed = code_in(concept, SNOMED)
    for name, entry in table("conditions")["laterality"].items():
        if isinstance(entry, dict) and entry.get("code") == snomed:
            return str(name)
    return None


def linked_id(value: Any, resource_type: str) -> str | None:
    """The id a Reference names, if it is to a ``resource_type`` (``Encounter/<id>``, also
    as an absolute URL or with a ``_history`` version), else None.

    A mapping puts it, as the source's id, in the record's link column (``encounter_id``,
    ``episode_id``); the importer turns it into the id that resource became in this clinic,
    or leaves the link out when it was never imported (see ``importer.LINKS``).
    """
    text = value.get("reference") if isinstance(value, Mapping) else None
    if not isinstance(text, str):
        return None
    marker = f"{resource_type}/"
    if text.startswith(marker):
        rest = text[len(marker) :]
    elif f"/{marker}" in text:
        rest = text.rsplit(f"/{marker}", 1)[1]
    else:
        return None
    found = rest.split("/", 1)[0]
    return found or None


def first_linked(values: Any, resource_type: str) -> str | None:
    """The id named by the first Reference to a ``resource_type`` in a repeating element
    (``reasonReference``, ``addresses``), as :func:`linked_id`; None without one."""
    if not isinstance(values, list):
        return None
    return next(filter(None, (linked_id(value, resource_type) for value in values)), None)


def subject_id(resource: Mapping[str, Any]) -> str | None:
    """The reference text of the patient a resource is about (subject or patient)."""
    ref = resource.get("subject") or resource.get("patient")
    if isinstance(ref, Mapping):
        value = ref.get("reference")
        return value if isinstance(value, str) else None
    return None


def number(value: float) -> int | float:
    """A number as FHIR JSON writes it: integers without a trailing ``.0``."""
    return int(value) if float(value).is_integer() else value
