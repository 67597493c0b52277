"""Opioids from EHRs and Synthea are kept as opioids: oxycodone alone by its ingredient or
product code or its name, and a combination product (hydrocodone/acetaminophen,
oxycodone/acetaminophen) named, and so classed, by its opioid ingredient — never as
paracetamol. Every code of the medication table is coherent, and the bulk screen never
passes over a line the mapping keeps."""

from __future__ import annotations

import typing
from typing import Any

import orjson
import pytest

from hipspine.clinical.series import DrugClass
from hipspine.fhir import importer, medication
from hipspine.fhir._common import Unused, table
from hipspine.reports.progress import drug_class

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _request(code: str | None, display: str | None, *, text: bool = True) -> dict[str, Any]:
    """A MedicationRequest as Synthea writes it (coding with display, and the same text)."""
    concept: dict[str, Any] = {}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code}]
        if display:
            concept["coding"][0]["display"] = display
    if text and display:
        concept["text"] = display
    return {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "stopped",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2024-03-01",
    }


# (RxNorm code, text as Synthea sends it, the name hipspine keeps, its drug class)
KEPT = [
    (
        "1860154",
        "Abuse-Deterrent 12 HR Oxycodone Hydrochloride 15 MG Extended Release Oral Tablet",
        "oxycodone (Abuse-Deterrent 12 HR Oxycodone Hydrochloride 15 MG Extended Release "
        "Oral Tablet)",
        "opioid",
    ),
    (
        "856987",
        "Acetaminophen 300 MG / HYDROcodone Bitartrate 5 MG Oral Tablet",
        "hydrocodone (Acetaminophen 300 MG / HYDROcodone Bitartrate 5 MG Oral Tablet)",
        "opioid",
    ),
    (
        "1049221",
        "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
        "oxycodone (Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet)",
        "opioid",
    ),
    (
        "7804",
        "Oxycodone",
        "Oxycodone",
        "opioid",
    ),
    (
        "835603",
        "tramadol hydrochloride 50 MG Oral Tablet",
        "tramadol hydrochloride 50 MG Oral Tablet",
        "opioid",
    ),
    (
        "313782",  # not listed: kept by the ingredient its name gives
        "Acetaminophen 325 MG Oral Tablet",
        "Acetaminophen 325 MG Oral Tablet",
        "paracetamol",
    ),
    (
        None,  # an EHR's free text, no code: classed by its opioid all the same
        "Ibuprofen 400 MG / oxyCODONE hydrochloride 5 MG Oral Tablet",
        "oxycodone (Ibuprofen 400 MG / oxyCODONE hydrochloride 5 MG Oral Tablet)",
        "opioid",
    ),
]


@pytest.mark.parametrize(("code", "text", "name", "kind"), KEPT, ids=[k[2][:24] for k in KEPT])
def test_an_opioid_is_kept_and_named_by_the_ingredient_that_classes_it(code, text, name, kind):
    row = medication.from_fhir(_request(code, text))
    assert row["name"] == name and row["pattern"] == "stopped"
    assert drug_class(row["name"]) == kind
    # named once: a record sent again (exported by hipspine) keeps its name
    again = medication.from_fhir(_request(None, row["name"]))
    assert again["name"] == row["name"]


def test_a_product_sent_by_its_code_alone_is_kept_under_its_rxnorm_name():
    row = medication.from_fhir(_request("1049621", None))
    assert row["name"] == "oxycodone hydrochloride 5 MG Oral Tablet"
    percocet = medication.from_fhir(_request("1049625", None))
    assert percocet["name"] == (
        "oxycodone (Acetaminophen 325 MG / Oxycodone Hydrochloride 10 MG Oral Tablet [Percocet])"
    )
    assert drug_class(percocet["name"]) == "opioid"


def test_other_medications_are_still_unused():
    with pytest.raises(Unused, match="outside the analgesics"):
        medication.from_fhir(_request("1652673", "Doxycycline Monohydrate 50 MG Oral Tablet"))


def test_a_clinicians_oxycodone_is_exported_with_its_rxnorm_ingredient():
    resource = medication.to_fhir(
        {"id": "m1", "patient_id": "p1", "name": "oxycodone", "pattern": "as_needed"}
    )
    assert resource["medicationCodeableConcept"]["coding"] == [
        {"system": RXNORM, "code": "7804", "display": "oxycodone"}
    ]


def test_the_screen_never_passes_over_a_kept_opioid():
    screen = importer._Screen()
    cases = [(c, t) for c, t, _, _ in KEPT] + [("1049621", None), ("1049625", None)]
    for code, text in cases:
        for with_text in (True, False):
            resource = _request(code, text, text=with_text)
            if not resource["medicationCodeableConcept"].get("coding") and not with_text:
                continue
            medication.from_fhir(resource)  # kept
            assert screen.unused(orjson.dumps(resource)) is None, resource


def test_the_medication_table_is_coherent():
    data = table("medications")
    classes = set(typing.get_args(DrugClass))
    names = {e["name"] for e in data["medication"]}
    codes = [e["rxnorm"] for e in data["medication"]] + [p["rxnorm"] for p in data["product"]]
    assert len(codes) == len(set(codes))
    for entry in data["medication"]:
        assert entry["class"] in classes, entry
        assert entry["verified"] and entry["source"], entry
    for product in data["product"]:
        assert product["ingredients"] and set(product["ingredients"]) <= names, product
        for ingredient in product["ingredients"]:  # the display names what it contains
            assert ingredient in product["display"].lower(), product
        # a product code not confirmed outside Synthea is listed, marked unverified
        assert isinstance(product["verified"], bool) and product["source"], product
    assert {"oxycodone", "hydrocodone"} <= {
        e["name"] for e in data["medication"] if e["class"] == "opioid"
    }
    assert {e["rxnorm"] for e in data["medication"] if e["name"] == "oxycodone"} == {"7804"}
