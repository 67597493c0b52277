"""Patient <-> hipspine ``patient`` (name, record number, birth date, sex, e-mail).

FHIR ``gender`` and hipspine ``sex`` share the codes male/female/other/unknown (FHIR R4
AdministrativeGender). A clinic's record number travels as an identifier in the hipspine
record-number system; identifiers of other systems (an EHR's MRN, Synthea's) are not
record numbers of this clinic and are not stored.

A birth date of a year or a month only (FHIR allows them; de-identified registries send
them) leaves the birth date unknown, as hipspine records whole dates: the patient is kept,
not refused, and nothing is made up. A birth date after today is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from hipspine.fhir._common import RECORD_NUMBER, Invalid, Resource, Row, day, parse_day

GENDERS = ("male", "female", "other", "unknown")
_YEAR_OR_MONTH = re.compile(r"[0-9]{4}(-(0[1-9]|1[0-2]))?")


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR R4 Patient for one ``patient`` row."""
    resource: Resource = {"resourceType": "Patient", "id": row["id"]}
    if row.get("identifier"):
        resource["identifier"] = [{"system": RECORD_NUMBER, "value": row["identifier"]}]
    resource["name"] = [{"text": row["name"]}]
    if row.get("email"):
        resource["telecom"] = [{"system": "email", "value": row["email"]}]
    resource["gender"] = row.get("sex") or "unknown"
    if row.get("birth_date"):
        resource["birthDate"] = day(row["birth_date"])
    return resource


def _name(resource: Mapping[str, Any]) -> str:
    names = resource.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if not chosen:
        raise Invalid("name: a Patient needs a name")
    if chosen.get("text"):
        return str(chosen["text"])[:200]
    parts = [*chosen.get("given", ()), chosen.get("family", "")]
    text = " ".join(p for p in parts if p).strip()
    if not text:
        raise Invalid("name: neither text nor given/family names")
    return text[:200]


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``patient`` row for a FHIR Patient (clinic and id set by caller)."""
    gender = resource.get("gender", "unknown")
    if gender not in GENDERS:
        raise Invalid(f"gender: not a FHIR administrative gender; allowed: {', '.join(GENDERS)}")
    identifier = next(
        (
            i.get("value")
            for i in resource.get("identifier", ())
            if i.get("system") == RECORD_NUMBER
        ),
        None,
    )
    email = next(
        (t.get("value") for t in resource.get("telecom", ()) if t.get("system") == "email"), None
    )
    return {
        "name": _name(resource),
        "identifier": identifier,
        "birth_date": _birth_date(resource.get("birthDate")),
        "sex": gender,
        "email": email,
    }


def _birth_date(value: Any) -> date | None:
    """The whole birth date, or None when none is given or only its year or month."""
    if value is None or (isinstance(value, str) and _YEAR_OR_MONTH.fullmatch(value)):
        return None
    born = parse_day(value, "birthDate")
    if born > date.today():
        raise Invalid("birthDate: after today")
    return born
