"""The fast structural validator agrees with the fhir.resources R4B models: on every
resource Synthea writes, and on invalid variants of them."""

from __future__ import annotations

import copy
import json

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from hipspine.fhir import validate
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


# -- the generated fast path -------------------------------------------------------------
#
# Most resources are judged by a check generated for their shape (validate._valid), which
# may only say "surely valid"; the rules' own checks decide everything else and name the
# problem. Two promises: the fast path never accepts what the rules reject, and it does
# accept the valid resources sources send (else the speed is silently lost).


def _mutants(value, depth: int = 0):
    """Every element of ``value`` (at any depth) replaced, in turn, by values of the wrong
    kind, emptied, nulled, wrapped in or taken out of a list, and each object given an
    unknown element."""
    wrong = (None, [], {}, "", 5, True, " spaced out ", [5], {"madeUp": 1})
    if isinstance(value, dict):
        yield {**value, "madeUp": "x"}
        for key, item in value.items():
            for replacement in (*wrong, [item], *(item[:1] if isinstance(item, list) else [])):
                yield {**value, key: replacement}
            yield {k: v for k, v in value.items() if k != key}
            if depth < 4:
                for inner in _mutants(item, depth + 1):
                    yield {**value, key: inner}
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            for inner in _mutants(item, depth + 1):
                yield [*value[:index], inner, *value[index + 1 :]]


def test_the_fast_path_accepts_every_valid_synthea_resource(synthea_resources):
    for resource in synthea_resources:
        assert validate._surely_valid(resource), resource["id"]


def test_the_fast_path_never_accepts_what_the_rules_reject(synthea_resources):
    kinds: dict[str, int] = {}
    judged = rejected = 0
    for resource in synthea_resources:
        kind = resource["resourceType"]
        if kinds.get(kind, 0) >= 3:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        for mutant in _mutants(resource):
            # Twice: the second time nested values may come from what the first remembered.
            for _ in range(2):
                fast = validate._surely_valid(mutant)
                ruled = validate._resource(mutant, "")
                assert not (fast and ruled), ruled
            judged += 1
            rejected += ruled is not None
    assert judged > 5000 and rejected > judged // 2, (judged, rejected)


def test_a_required_element_sent_only_as_its_extension_is_judged_by_the_rules():
    coding = {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]}
    empty = {"resourceType": "Observation", "_status": {}, "code": coding}
    assert problem(empty) == "Observation.status: required element missing"
    assert not _models_accept(empty)
    extended = {**empty, "_status": {"extension": [{"url": "http://x.org", "valueCode": "u"}]}}
    assert problem(extended) is None and _models_accept(extended)


def test_nulls_and_odd_resource_types_go_to_the_rules():
    coding = {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]}
    nulled = {"resourceType": "Observation", "status": "final", "code": coding, "language": None}
    assert problem(nulled) is None and _models_accept(nulled)
    assert problem({"resourceType": ["Observation"]}) == "resourceType: missing"
    assert problem({"resourceType": "NoSuchThing"}).startswith("resourceType: unknown")


def test_a_nested_value_is_remembered_only_once_found_valid():
    def rating(code: str) -> dict:
        return {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        }  # fmt: skip

    bad = rating(" 72514-3")
    for _ in range(2):
        assert problem(bad) == "Observation.code.coding[0].code: not a valid code"
    good = rating("72514-3")
    assert problem(good) is None
    assert orjson.dumps(good["code"]) in validate._KNOWN["CodeableConcept"]
    assert orjson.dumps(bad["code"]) not in validate._KNOWN["CodeableConcept"]


def test_what_is_remembered_is_kept_at_its_own_size():
    """Each remembered value costs its own length, not the 4 KiB orjson gives every result:
    a worker's memory stays flat however many distinct references an import brings."""
    import tracemalloc

    def rating(n: int) -> dict:
        return {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": {"reference": f"Patient/{n:036d}"},
        }  # fmt: skip

    ratings = [rating(n) for n in range(2000)]
    validate._KNOWN.get("Reference", set()).clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for resource in ratings:
            assert problem(resource) is None
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(validate._KNOWN["Reference"]) == 2000
    assert grown < 2000 * 400, grown  # about 150 bytes each; 4 KiB each before
