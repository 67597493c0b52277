"""A FHIR Patient's birth date as hipspine keeps it: whole dates only, nothing made up, and
problems that name the field without repeating what was sent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hipspine.fhir import patient
from hipspine.fhir._common import Invalid

PAT = {"resourceType": "Patient", "id": "p1", "name": [{"text": "Pat Ehr"}]}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("1970-05-02", date(1970, 5, 2)), ("1970-05", None), ("1970", None), (None, None)],
)
def test_a_year_or_month_only_leaves_the_birth_date_unknown_and_keeps_the_patient(sent, kept):
    resource = PAT if sent is None else {**PAT, "birthDate": sent}
    row = patient.from_fhir(resource)
    assert row["birth_date"] == kept and row["name"] == "Pat Ehr"


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ("1970-13", "birthDate: a full date (YYYY-MM-DD) is required"),
        ("Secret-1970-02-30", "birthDate: not a valid date (YYYY-MM-DD)"),
        ("1970-02-30", "birthDate: not a valid date (YYYY-MM-DD)"),
    ],
)
def test_a_birth_date_that_cannot_be_is_refused_naming_the_field_only(sent, reason):
    with pytest.raises(Invalid) as refused:
        patient.from_fhir({**PAT, "birthDate": sent})
    assert str(refused.value) == reason


def test_a_birth_date_after_today_is_refused():
    # Tomorrow taken when the test runs, not when it is collected: a run that crosses
    # midnight would otherwise send today's date.
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    with pytest.raises(Invalid) as refused:
        patient.from_fhir({**PAT, "birthDate": tomorrow})
    assert str(refused.value) == "birthDate: after today"


def test_an_unknown_gender_is_refused_without_repeating_it():
    with pytest.raises(Invalid) as refused:
        patient.from_fhir({**PAT, "gender": "Secret"})
    assert "Secret" not in str(refused.value) and "allowed: male, female" in str(refused.value)


def test_an_element_of_the_wrong_type_is_named_in_fhir_words(db, world):
    from hipspine.fhir.importer import Importer

    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {**PAT, "name": "Pat Ehr"}}],
    }
    [refused] = Importer(db, world.admin_a).import_bundle(data).problems
    assert refused.reason == "Patient.name: expected a list", refused.reason
