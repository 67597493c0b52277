"""The fast structural validator agrees with the fhir.resources R4B models: on every
resource Synthea writes, and on invalid variants of them."""

from __future__ import annotations

import copy
import json

import pytest
from fhir.resources.R4B import get_fhir_model_class

from hipspine.fhir.validate import problem


def _models_accept(resource: dict) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def synthea_resources(synthea_bundles):
    return [e["resource"] for e in json.loads(synthea_bundles[0].read_text())["entry"]]


def test_agrees_on_every_synthea_resource(synthea_resources):
    for resource in synthea_resources:
        assert problem(resource) is None
        assert _models_accept(resource)


def _variants(resource: dict):
    yield "unknown element", {**resource, "madeUp": 1}
    yield "bad id", {**resource, "id": "not valid!"}
    if resource["resourceType"] == "Observation":
        yield "missing status", {k: v for k, v in resource.items() if k != "status"}
        yield "missing code", {k: v for k, v in resource.items() if k != "code"}
        yield "bad date", {**resource, "effectiveDateTime": "2020-02-30"}
        yield "month 13", {**resource, "effectiveDateTime": "2020-13-01"}
        yield "two values", {**resource, "valueString": "x", "valueInteger": 1}
        yield "list for single", {**resource, "code": [resource["code"]]}
        yield "single for list", {**resource, "category": resource.get("category", [{}])[0]}
        bad_code = copy.deepcopy(resource)
        bad_code["code"]["coding"][0]["code"] = " 72514-3"
        yield "bad code", bad_code
        yield "empty string", {**resource, "valueString": "", "valueQuantity": None}
        yield "number for string", {**resource, "language": 5}
    if resource["resourceType"] == "Patient":
        yield "bad birthDate", {**resource, "birthDate": "1975-9-11"}
        yield "name not a list", {**resource, "name": resource["name"][0]}
        nested = copy.deepcopy(resource)
        nested["name"][0]["surname"] = "x"
        yield "unknown nested element", nested
    if resource["resourceType"] == "Condition":
        yield "missing subject", {k: v for k, v in resource.items() if k != "subject"}


def test_agrees_on_invalid_variants(synthea_resources):
    checked = 0
    kinds = {"Observation", "Patient", "Condition", "MedicationRequest", "Procedure"}
    for resource in [r for r in synthea_resources if r["resourceType"] in kinds][:150]:
        for label, variant in _variants(resource):
            variant = {k: v for k, v in variant.items() if v is not None}
            ours = problem(variant) is None
            assert ours == _models_accept(variant), (label, problem(variant))
            assert not ours, label
            checked += 1
    assert checked > 300


@pytest.mark.parametrize(
    ("element", "value", "said"),
    [
        ("note", [{"text": {"x": "Patient disclosed a diagnosis"}}], "(got an object)"),
        ("effectiveDateTime", "1970-02-30 private", ""),
        ("effectiveDateTime", "1970-02-30", "(no such day)"),
        ("valueInteger", "seven", ""),
    ],
)
def test_a_problem_names_the_element_never_what_was_sent(element, value, said):
    resource = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        element: value,
    }  # fmt: skip
    found = problem(resource)
    assert found is not None and found.startswith(f"Observation.{element}"), found
    assert said in found
    for word in ("disclosed", "private", "seven", "1970"):
        assert word not in found, found
