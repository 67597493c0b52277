"""The case format: clear errors for malformed cases, and the published JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from cases import JOHN_PATH, document, john_data, obs, pain, right

from hipspine.clinical.case import Case, CaseError, case_json_schema, parse_case
from hipspine.clinical.mmt import MRC_GRADES
from hipspine.clinical.vocabulary import Stage, regions


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(CaseError) as caught:
        parse_case(data)
    assert caught.value.problems, "a CaseError must list at least one problem"
    # The problems are also in the message a caller prints.
    for problem in caught.value.problems:
        assert problem in str(caught.value)
    return caught.value.problems


def only_problem(data: dict[str, Any]) -> str:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


def test_john_is_a_valid_case() -> None:
    case = parse_case(john_data())
    assert isinstance(case, Case)
    assert case.patient.age == 58
    assert case.complaint.side is not None and case.complaint.side.value == "right"


def test_unknown_finding_is_named_with_the_close_match() -> None:
    problem = only_problem(document(right("fadirr", "present")))
    assert problem.startswith("findings.0:")
    assert "'fadirr'" in problem
    assert "did you mean 'fadir'" in problem


def test_unknown_finding_is_reported_at_its_own_index() -> None:
    problem = only_problem(document(obs("night_pain", "absent"), obs("nigth_pain", "present")))
    assert problem.startswith("findings.1:")
    assert "did you mean 'night_pain'" in problem


def test_wrong_result_word_lists_the_allowed_results() -> None:
    problem = only_problem(document(right("fadir", "positive")))
    assert problem.startswith("findings.0:")
    assert "'positive'" in problem
    for allowed in ("present", "absent", "unknown"):
        assert allowed in problem


def test_wrong_choice_lists_the_choices_of_that_finding() -> None:
    problem = only_problem(document(right("patellar_reflex", "present")))
    assert problem.startswith("findings.0:")
    for allowed in ("normal", "reduced", "absent", "brisk", "unknown"):
        assert allowed in problem


@pytest.mark.parametrize(
    ("observation", "bounds"),
    [
        (right("hip_internal_rotation", value=61), "-10–60"),
        (right("hip_internal_rotation", value=-11), "-10–60"),
        (obs("esr", value=201), "0–200"),
        (obs("morning_stiffness", value=-1), "0–1440"),
        (right("kellgren_lawrence_hip", value=5), "0–4"),
        (right("block_hip_joint", value=101), "0–100"),
    ],
)
def test_value_out_of_range_names_the_range(observation: dict[str, Any], bounds: str) -> None:
    problem = only_problem(document(observation))
    assert problem.startswith("findings.0:")
    assert observation["finding"] in problem
    assert bounds in problem


@pytest.mark.parametrize(
    "observation",
    [
        right("hip_internal_rotation", value=60),
        right("hip_internal_rotation", value=-10),
        obs("esr", value=0),
        right("kellgren_lawrence_hip", value=4),
        right("block_hip_joint", value=100),
    ],
)
def test_values_at_the_ends_of_the_range_are_accepted(observation: dict[str, Any]) -> None:
    parse_case(document(observation))


def test_grade_must_be_a_whole_number() -> None:
    problem = only_problem(document(right("kellgren_lawrence_hip", value=2.5)))
    assert "whole number" in problem


def test_lateral_finding_without_side_lists_the_sides() -> None:
    problem = only_problem(document(obs("fadir", "present")))
    assert problem.startswith("findings.0:")
    assert "side is required" in problem
    for allowed in ("left", "right", "bilateral"):
        assert allowed in problem


def test_side_on_an_unsided_finding_is_refused() -> None:
    problem = only_problem(document(obs("night_pain", "present", side="right")))
    assert problem.startswith("findings.0:")
    assert "'night_pain'" in problem
    assert "side" in problem


def test_midline_side_on_a_finding_is_refused() -> None:
    problem = only_problem(document(obs("fadir", "present", side="midline")))
    assert "midline" in problem
    assert "left, right, bilateral" in problem


def test_count_without_of_names_of() -> None:
    problem = only_problem(document(right("sacroiliac_provocation", value=2)))
    assert problem.startswith("findings.0:")
    assert "'of'" in problem


def test_count_above_of_is_refused() -> None:
    problem = only_problem(document(right("sacroiliac_provocation", value=5, of=4)))
    assert problem.startswith("findings.0:")
    assert "5" in problem and "4" in problem


def test_count_cluster_larger_than_six_is_refused() -> None:
    problem = only_problem(document(right("sacroiliac_provocation", value=2, of=7)))
    assert "at most 6" in problem


def test_count_equal_to_of_is_accepted() -> None:
    parse_case(document(right("sacroiliac_provocation", value=6, of=6)))


def test_of_on_a_non_count_finding_is_refused() -> None:
    problem = only_problem(document(obs("esr", value=10, of=3)))
    assert "takes no 'of'" in problem


def test_duplicate_observation_names_the_second_one() -> None:
    problem = only_problem(
        document(right("fadir", "present"), obs("esr", value=3), right("fadir", "absent"))
    )
    assert "findings.2" in problem
    assert "'fadir'" in problem
    assert "twice" in problem


def test_same_finding_on_two_sides_or_levels_is_not_a_duplicate() -> None:
    parse_case(
        document(
            right("fadir", "present"),
            obs("fadir", "absent", side="left"),
            right("weishaupt_facet", value=2, level="L4-L5"),
            right("weishaupt_facet", value=1, level="L5-S1"),
        )
    )


def test_duplicate_muscle_test_is_refused() -> None:
    problem = only_problem(
        document(
            strength=[
                {"muscle": "iliopsoas", "side": "right", "mrc": "4"},
                {"muscle": "iliopsoas", "side": "right", "mrc": "5"},
            ]
        )
    )
    assert "strength.1" in problem


def test_mrc_grade_6_lists_the_grades() -> None:
    problem = only_problem(
        document(strength=[{"muscle": "iliopsoas", "side": "right", "mrc": "6"}])
    )
    assert problem.startswith("strength.0:")
    assert "'6'" in problem
    assert ", ".join(MRC_GRADES) in problem


def test_mrc_grade_5_plus_lists_the_grades() -> None:
    problem = only_problem(
        document(strength=[{"muscle": "iliopsoas", "side": "right", "mrc": "5+"}])
    )
    assert problem.startswith("strength.0:")
    assert ", ".join(MRC_GRADES) in problem


def test_mrc_grade_5_plus_is_refused_at_its_field() -> None:
    problem = only_problem(
        document(strength=[{"muscle": "iliopsoas", "side": "right", "mrc": "5+"}])
    )
    assert problem.startswith("strength.0:")
    assert "5" in problem


def test_unknown_muscle_suggests_the_close_match() -> None:
    problem = only_problem(
        document(strength=[{"muscle": "iliopsoaz", "side": "right", "mrc": "4"}])
    )
    assert problem.startswith("strength.0:")
    assert "did you mean 'iliopsoas'" in problem


def test_lateral_muscle_without_side_is_refused() -> None:
    problem = only_problem(document(strength=[{"muscle": "iliopsoas", "mrc": "4"}]))
    assert problem.startswith("strength.0:")
    assert "side is required" in problem


def test_unknown_region_lists_every_region() -> None:
    problem = only_problem(document(pain_map=[pain("grion")]))
    assert problem.startswith("pain_map.0:")
    assert "did you mean 'groin'" in problem
    for region in regions():
        assert region in problem


def test_midline_on_groin_lists_the_sides_for_groin() -> None:
    problem = only_problem(document(pain_map=[pain("lumbar", "midline"), pain("groin", "midline")]))
    assert problem.startswith("pain_map.1:")
    assert "midline" in problem and "groin" in problem
    assert "left, right, bilateral" in problem


def test_pain_intensity_out_of_range_is_refused() -> None:
    problem = only_problem(document(pain_map=[pain("groin", intensity=11)]))
    assert problem.startswith("pain_map.0.intensity")


def test_unknown_condition_suggests_the_close_match() -> None:
    problem = only_problem(document(diagnoses=[{"condition": "hip_osteoarthritus"}]))
    assert problem.startswith("diagnoses.0")
    assert "did you mean 'hip_osteoarthritis'" in problem


def test_complaint_side_midline_is_refused() -> None:
    data = document()
    data["complaint"] = {"side": "midline"}
    problem = only_problem(data)
    assert problem.startswith("complaint.side")
    assert "left, right or bilateral" in problem


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"colour": "red"}, "colour"),
        (document(obs("night_pain", "present", colour="red")), "findings.0.colour"),
        (document(pain_map=[{**pain("groin"), "colour": "red"}]), "pain_map.0.colour"),
    ],
)
def test_extra_unknown_field_is_named(data: dict[str, Any], path: str) -> None:
    problem = only_problem(data)
    assert problem.startswith(f"{path}:")


def test_extra_unknown_field_lists_the_allowed_fields() -> None:
    problem = only_problem(document(obs("night_pain", "present", colour="red")))
    for allowed in ("finding", "side", "result", "value"):
        assert allowed in problem


def test_wrong_format_version_is_refused() -> None:
    data = john_data()
    data["format"] = "hipspine.case/2"
    problem = only_problem(data)
    assert problem.startswith("format:")
    assert "hipspine.case/1" in problem


def test_every_problem_is_reported_not_only_the_first() -> None:
    problems = problems_of(
        document(right("fadirr", "present"), obs("esr", value=999), pain_map=[pain("grion")])
    )
    where = {p.split(":")[0] for p in problems}
    assert {"findings.0", "findings.1", "pain_map.0"} <= where


def test_value_result_unknown_is_accepted_without_a_number() -> None:
    case = parse_case(document(obs("esr", "unknown"), right("hip_internal_rotation", "unknown")))
    assert [o.value for o in case.findings] == [None, None]


def test_presence_finding_requires_a_result_and_refuses_a_value() -> None:
    assert "result is required" in only_problem(document(right("fadir")))
    assert "takes a result, not a value" in only_problem(document(right("fadir", value=1)))


def test_observation_stage_is_its_own_or_the_findings_usual_stage() -> None:
    case = parse_case(
        document(right("fadir", "present"), right("scour_with_adduction", "present", stage="block"))
    )
    assert [o.when for o in case.findings] == [Stage.EXAM, Stage.BLOCK]
    assert case.stages_present() == (Stage.HISTORY, Stage.EXAM, Stage.BLOCK)


# --- The published JSON Schema ---------------------------------------------------------


def test_schema_validates_john() -> None:
    schema = case_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(JOHN_PATH.read_text()))


def test_schema_rejects_an_unknown_top_level_field() -> None:
    schema = case_json_schema()
    data = john_data()
    data["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)


def test_schema_rejects_an_unknown_finding_and_an_unknown_region() -> None:
    validator = jsonschema.Draft202012Validator(case_json_schema())
    bad_finding = john_data()
    bad_finding["findings"][0]["finding"] = "fadirr"
    assert not validator.is_valid(bad_finding)
    bad_region = john_data()
    bad_region["pain_map"][0]["region"] = "grion"
    assert not validator.is_valid(bad_region)


def test_schema_declares_its_dialect_and_format() -> None:
    schema = case_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "format" in schema["properties"]


# --- Vocabulary additions and the schema's words ---------------------------------------


@pytest.mark.parametrize(
    "finding", ["hip_internal_rotation", "hip_flexion", "hip_extension", "hip_abduction"]
)
def test_range_of_motion_painful_is_accepted(finding: str) -> None:
    case = parse_case(document(right(finding, "painful")))
    assert case.findings[0].result == "painful"
    with_degrees = parse_case(document(right(finding, "painful", value=20)))
    assert with_degrees.findings[0].value == 20


def test_painful_is_only_for_range_of_motion() -> None:
    problem = only_problem(document(obs("fever", "painful")))
    assert "present, absent, unknown" in problem


@pytest.mark.parametrize(
    ("finding", "value"), [("pelvic_tilt_sitting", 22), ("lumbar_lordosis_sitting", 40)]
)
def test_sitting_radiograph_measures_are_accepted(finding: str, value: float) -> None:
    case = parse_case(document(obs(finding, value=value)))
    assert case.findings[0].value == value
    assert case.findings[0].when is Stage.IMAGING
    problem = only_problem(document(obs(finding, value=500)))
    assert "outside" in problem and finding in problem


def test_schema_states_the_drawn_map_rule_correctly() -> None:
    text = case_json_schema()["properties"]["pain_map"]["description"]
    assert "no pain map was drawn" in text and "unknown" in text
    assert "a region with no mark means no pain" in text
    assert "unmarked regions then are unknown" not in text


def test_schema_names_laslett_six_tests_for_the_sacroiliac_count() -> None:
    observation = case_json_schema()["$defs"]["Observation"]["properties"]
    for field in ("value", "of"):
        text = observation[field]["description"]
        for name in ("distraction", "thigh thrust", "Gaenslen", "compression", "sacral thrust"):
            assert name in text, (field, name)


def test_schema_describes_the_painful_range_of_motion() -> None:
    text = case_json_schema()["$defs"]["Observation"]["properties"]["result"]["description"]
    assert "painful" in text


def test_every_schema_field_has_a_description() -> None:
    schema = case_json_schema()
    for name, definition in [("Case", schema), *schema["$defs"].items()]:
        for field, prop in definition.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field}"
