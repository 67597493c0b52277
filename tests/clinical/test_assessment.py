"""The assessment: John's case, stages of the visit, unknown versus absent, next tests and
properties that hold for any valid case."""

from __future__ import annotations

from typing import Any

import pytest
from cases import (
    build,
    document,
    john,
    john_data,
    john_weakness_only,
    obs,
    pain,
    removing,
    replacing,
    right,
    rule,
    run,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipspine.clinical.assessment import (
    Assessment,
    assess,
    assess_stages,
    compare,
    next_tests,
    to_dict,
)
from hipspine.clinical.case import Case, parse_case
from hipspine.clinical.facts import Facts
from hipspine.clinical.mmt import MRC_GRADES
from hipspine.clinical.red_flags import flag_rules
from hipspine.clinical.rules import Missing
from hipspine.clinical.vocabulary import Kind, Side, Stage, findings, muscles, regions


def source(result: Assessment, source_id: str, side: Side | None = None) -> Any:
    return next(e for e in result.sources if e.source.id == source_id and e.side == side)


def rule_result(result: Assessment, rule_id: str, side: Side | None = None) -> Any:
    for estimate in result.sources:
        for r in estimate.results:
            if r.rule.id == rule_id and (side is None or r.side == side):
                return r
    raise KeyError(rule_id)


# --- John ------------------------------------------------------------------------------


def test_john_hip_and_spine_secondary() -> None:
    result = assess(john())
    assert result.conclusion.category == "hip_and_spine"
    assert result.conclusion.hip_spine_type == "secondary"
    assert "secondary" in result.conclusion.label
    assert result.sides == (Side.RIGHT,)
    assert result.stage is Stage.IMAGING


def test_john_sources_graded() -> None:
    result = assess(john())
    assert source(result, "hip_joint", Side.RIGHT).grade == "very likely"
    assert source(result, "lumbar_axial").grade == "likely"
    assert source(result, "lumbar_radicular").grade == "very unlikely"
    assert source(result, "sacroiliac_joint", Side.RIGHT).probability < 0.15
    assert source(result, "greater_trochanteric_pain_syndrome", Side.RIGHT).probability < 0.15


def test_john_exam_reasons_cite_sutlive() -> None:
    result = assess(john(), through=Stage.EXAM)
    assert any("Sutlive" in reason and "LR 24" in reason for reason in result.conclusion.reasons)
    sutlive = rule_result(result, "sutlive_2008", Side.RIGHT)
    assert sutlive.outcome == "at_least_4"
    assert sutlive.status == "fired"
    assert "Sutlive" in sutlive.rule.citation and "2008" in sutlive.rule.citation
    # John: squatting, scour, active extension and IR 10° positive; active flexion negative.
    assert sum(": yes" in fact for fact in sutlive.facts) == 4


PREDICTS_RADIOGRAPHIC_OA = (
    "sutlive_2008",
    "acr_1991_clinical",
    "metcalfe_2019_groin_pain_passive_abd_add",
    "metcalfe_2019_passive_adduction",
    "metcalfe_2019_abductor_weakness",
    "metcalfe_2019_stairs",
    "hip_prior_diagnosis",
)


def test_john_radiograph_supersedes_the_exam_rules_that_only_predict_it() -> None:
    result = assess(john())
    hip = source(result, "hip_joint", Side.RIGHT)
    for rule_id in PREDICTS_RADIOGRAPHIC_OA:
        r = rule_result(result, rule_id, Side.RIGHT)
        assert r.status == "superseded", rule_id
        assert r.weight is None and r.missing == ()
        assert "radiograph" in r.superseded_by
        assert not hip.is_counted(r)
    sutlive = rule_result(result, "sutlive_2008", Side.RIGHT)
    assert sutlive.outcome == "at_least_4"  # still shown, no longer counted
    assert not any("Sutlive" in reason for reason in result.conclusion.reasons)
    assert any(
        "ACR 1991 clinical, laboratory and radiographic" in r for r in result.conclusion.reasons
    )
    # Brown predicts hip versus spine as the source, not the radiograph: it still counts.
    assert rule_result(result, "brown_2004", Side.RIGHT).status == "fired"
    # John's conclusion does not change.
    assert result.conclusion.category == "hip_and_spine"
    assert hip.grade == "very likely"


def test_exam_rules_count_again_when_the_radiograph_is_removed() -> None:
    data = removing(
        john_data(),
        "kellgren_lawrence_hip",
        "tonnis_hip",
        "hip_osteophytes",
        "hip_joint_space_narrowing",
    )
    result = assess(parse_case(data))
    assert rule_result(result, "sutlive_2008", Side.RIGHT).status == "fired"
    assert rule_result(result, "acr_1991_radiographic", Side.RIGHT).status == "undetermined"


def test_a_normal_radiograph_is_not_outweighed_by_the_exam_that_predicted_oa() -> None:
    # Sutlive ≥4 of 5 predicts radiographic OA (LR 24.3); a Kellgren–Lawrence grade 1
    # radiograph answers the question directly, so only the radiograph counts.
    exam = [
        obs("aggravated_by_squatting", "present"),
        right("scour_with_adduction", "present"),
        right("active_hip_extension_pain", "present"),
        right("active_hip_flexion_lateral_pain", "present"),
    ]
    before = assess(build(*exam, pain_map=[pain("groin")]), suggest=False)
    after = assess(
        build(*exam, right("kellgren_lawrence_hip", value=1), pain_map=[pain("groin")]),
        suggest=False,
    )
    assert rule_result(before, "sutlive_2008", Side.RIGHT).weight is not None
    assert rule_result(after, "sutlive_2008", Side.RIGHT).status == "superseded"
    odds = 0.40 / 0.60 * 1.5 * 0.5  # groin pain, KL grade 0–1
    assert source(after, "hip_joint", Side.RIGHT).probability == pytest.approx(odds / (1 + odds))


def test_john_hip_probability_matches_the_counted_evidence_by_hand() -> None:
    # Groups counted for John's right hip once his radiograph is graded: Brown 2.0
    # (hip_oa_examination, where Sutlive, ACR clinical and Metcalfe are superseded),
    # groin pain 1.5, shoes 1.5 (stairs superseded), ACR radiographic 0.89/0.09
    # (hip_imaging), FADIR positive 0.94/0.92 (Sn 94%, Sp 8%); the diagnosis is superseded
    # and FABER is recorded as uninformative (LR 1).
    odds = 0.40 / 0.60 * 2.0 * 1.5 * 1.5 * (0.89 / 0.09) * (0.94 / 0.92)
    expected = odds / (1 + odds)
    assert source(assess(john()), "hip_joint", Side.RIGHT).probability == pytest.approx(expected)


def test_john_spine_axial_probability_by_hand() -> None:
    # lumbar pain 3.0 (spine_pain_location; buttock 1.2 is weaker in the same group),
    # extension aggravates 1.3, Kemp's 1.0, Weishaupt grade 2 → 1.3.
    odds = 0.35 / 0.65 * 3.0 * 1.3 * 1.0 * 1.3
    assert source(assess(john()), "lumbar_axial").probability == pytest.approx(odds / (1 + odds))


def test_john_json_output() -> None:
    payload = to_dict(assess(john()))
    assert payload["conclusion"]["category"] == "hip_and_spine"
    assert payload["conclusion"]["hip_spine_type"] == "secondary"
    assert "Offierski" in payload["conclusion"]["hip_spine_type_citation"]
    assert "Iliopsoas (right) MRC 4-" in payload["conclusion"]["hip_spine_type_reason"]
    assert "lumbar hyperlordosis observed" in payload["conclusion"]["hip_spine_type_reason"]
    hip = next(s for s in payload["sources"] if s["source"] == "hip_joint")
    acr = next(r for r in hip["rules"] if r["rule"] == "acr_1991_radiographic")
    assert acr["likelihood_ratio"] == pytest.approx(0.89 / 0.09, abs=1e-4)
    assert acr["basis"] == "derived"
    assert acr["direction"] == "for"
    assert acr["counted"] is True
    sutlive = next(r for r in hip["rules"] if r["rule"] == "sutlive_2008")
    assert sutlive["status"] == "superseded"
    assert sutlive["outcome"] == "at_least_4"
    assert sutlive["likelihood_ratio"] is None
    assert sutlive["counted"] is False
    assert "radiograph" in sutlive["superseded_by"]
    assert "Sutlive" in sutlive["citation"]


def test_john_stages_history_exam_labs_imaging() -> None:
    steps = assess_stages(john())
    assert [s.stage for s in steps] == [Stage.HISTORY, Stage.EXAM, Stage.LABS, Stage.IMAGING]
    history, exam = steps[0].assessment, steps[1].assessment
    assert history.conclusion.hip_spine_type is None
    assert history.conclusion.type_reason.startswith("type not yet known")
    assert exam.conclusion.hip_spine_type == "secondary"
    assert steps[0].changes == ()
    assert any("Sutlive" in change for change in steps[1].changes)
    assert any(change.startswith("Conclusion:") for change in steps[1].changes)
    # Each stage knows at least as much as the one before.
    assert len(history.unknown) > len(exam.unknown)


def test_compare_names_what_changed_and_why() -> None:
    case = john()
    before = assess(case, through=Stage.HISTORY)
    after = assess(case, through=Stage.EXAM)
    changes = compare(before, after)
    hip_line = next(c for c in changes if c.startswith("Hip joint (right)"))
    assert "→" in hip_line and "Sutlive" in hip_line
    assert compare(after, after) == ()


def test_compare_reports_a_new_red_flag() -> None:
    before = assess(john())
    after = assess(parse_case(replacing(john_data(), obs("fever", "present"))))
    changes = compare(before, after)
    assert any(c.startswith("New red flag:") and "infection" in c for c in changes)
    assert any("Red flag" in c for c in changes if c.startswith("Conclusion:"))


# --- Stages ----------------------------------------------------------------------------


def test_through_history_ignores_exam_findings() -> None:
    full = john()
    history = assess(full, through=Stage.HISTORY)
    assert history.stage is Stage.HISTORY
    history_only = parse_case(
        {
            **john_data(),
            "findings": [
                o
                for o in john_data()["findings"]
                if findings()[o["finding"]].stage is Stage.HISTORY
            ],
            "strength": [],
        }
    )
    same = assess(history_only)
    assert [e.probability for e in history.sources] == [e.probability for e in same.sources]
    sutlive = rule_result(history, "sutlive_2008", Side.RIGHT)
    assert sutlive.status == "undetermined"
    assert "hip_internal_rotation" in {m.id for m in sutlive.missing}
    # No muscle was tested yet at history: the chain cannot be active.
    assert all(link.status == "unknown" for link in history.biomechanics.links[:2])


def test_explicit_stage_override_is_respected() -> None:
    data = replacing(john_data(), right("scour_with_adduction", "present", stage="imaging"))
    case = parse_case(data)
    at_exam = rule_result(assess(case, through=Stage.EXAM), "sutlive_2008", Side.RIGHT)
    at_imaging = rule_result(assess(case, through=Stage.IMAGING), "sutlive_2008", Side.RIGHT)
    assert at_exam.outcome == "at_least_3"
    assert [m.id for m in at_exam.missing] == ["scour_with_adduction"]
    assert at_imaging.outcome == "at_least_4"


def test_muscle_test_stage_override_is_respected() -> None:
    data = john_data()
    for test in data["strength"]:
        test["stage"] = "block"
    case = parse_case(data)
    exam = assess(case, through=Stage.IMAGING)
    assert exam.biomechanics.weak_muscles == ()
    assert assess(case).biomechanics.weak_muscles


def test_stage_of_assessment_is_the_last_stage_recorded() -> None:
    assert assess(build(obs("night_pain", "absent"))).stage is Stage.HISTORY
    assert assess(build(right("block_hip_joint", value=80))).stage is Stage.BLOCK


# --- Unknown versus absent -------------------------------------------------------------


def test_not_recorded_and_recorded_unknown_agree_and_differ_from_absent() -> None:
    base = [pain("lumbar", "midline"), pain("groin")]
    missing = assess(build(pain_map=base))
    unknown = assess(build(right("slump", "unknown"), pain_map=base))
    absent = assess(build(right("slump", "absent"), pain_map=base))

    for result in (missing, unknown):
        assert rule_result(result, "slump_test").status == "undetermined"
    assert rule_result(absent, "slump_test").outcome == "absent"

    p = [source(r, "lumbar_radicular").probability for r in (missing, unknown, absent)]
    assert p[0] == p[1]
    assert p[2] < p[0]
    assert "Not yet known: Slump test." in missing.unknown
    assert "Not yet known: Slump test." in unknown.unknown
    assert "Not yet known: Slump test." not in absent.unknown
    assert Missing("finding", "slump", Side.RIGHT) in rule_result(unknown, "slump_test").missing


def test_no_pain_map_is_unknown_but_an_empty_map_says_no_pain() -> None:
    undrawn = assess(build(pain_map=None))
    empty = assess(build(pain_map=[]))
    assert rule_result(undrawn, "spine_pain_location_lumbar").status == "undetermined"
    assert rule_result(empty, "spine_pain_location_lumbar").outcome == "absent"
    assert rule_result(undrawn, "hip_pain_location_groin").status == "undetermined"
    assert rule_result(empty, "hip_pain_location_groin").outcome == "absent"
    assert "No pain map drawn: where it hurts is unknown." in undrawn.unknown
    assert "No pain map drawn: where it hurts is unknown." not in empty.unknown
    assert source(empty, "lumbar_axial").probability < source(undrawn, "lumbar_axial").probability
    # No map: the prior stands.
    assert source(undrawn, "lumbar_axial").probability == pytest.approx(0.35)


def test_zero_intensity_mark_is_no_pain() -> None:
    case = build(pain_map=[pain("groin", intensity=0)])
    assert run("hip_pain_location_groin", case).outcome == "absent"


@pytest.mark.parametrize(
    ("mark", "rule_id", "asks"),
    [
        ("hip", "hip_pain_location_groin", "groin"),
        ("hip", "gtps_pain_location", "lateral hip"),
        ("leg", "radicular_pain_below_knee", "below the knee"),
    ],
)
def test_coarse_mark_leaves_the_specific_rule_undetermined(
    mark: str, rule_id: str, asks: str
) -> None:
    case = build(pain_map=[pain(mark)])
    coarse = assess(case)
    assert rule_result(coarse, rule_id).status == "undetermined"
    note = next(n for n in coarse.unknown if n.startswith(f"Pain marked as '{mark}'"))
    assert "ask which part" in note
    assert asks in note.lower()
    # Unlike an empty drawn map, which answers "absent".
    assert rule_result(assess(build(pain_map=[])), rule_id).outcome == "absent"


def test_specific_mark_beats_a_coarse_one() -> None:
    case = build(pain_map=[pain("leg"), pain("lower_leg")])
    assert run("radicular_pain_below_knee", case).outcome == "present"


def test_coarse_mark_that_cannot_mean_the_region_answers_absent() -> None:
    # "hip" never means below the knee.
    case = build(pain_map=[pain("hip")])
    assert run("radicular_pain_below_knee", case).outcome == "absent"


def test_pain_on_the_other_side_is_not_pain_on_this_side() -> None:
    case = build(pain_map=[pain("groin", "left")])
    assert run("hip_pain_location_groin", case, Side.RIGHT).outcome == "absent"
    assert run("hip_pain_location_groin", case, Side.LEFT).outcome == "present"


def test_midline_lumbar_mark_counts_for_the_spine() -> None:
    case = build(pain_map=[pain("lumbar", "midline")])
    assert run("spine_pain_location_lumbar", case, None).outcome == "present"


def test_any_of_with_one_unknown_and_one_absent_is_undetermined() -> None:
    case = build(obs("burning_or_electric_pain", "absent"))
    result = run("radicular_pain_character", case, Side.RIGHT)
    assert result.status == "undetermined"
    assert [m.id for m in result.missing] == ["numbness_or_paresthesia"]
    both = build(
        obs("burning_or_electric_pain", "absent"), right("numbness_or_paresthesia", "absent")
    )
    assert run("radicular_pain_character", both).outcome == "absent"


def test_reflex_choice_normal_is_absent_reduced_is_present() -> None:
    def deficit(reflex: str) -> str | None:
        case = build(
            right("myotomal_weakness", "absent"),
            right("dermatomal_sensory_deficit", "absent"),
            right("patellar_reflex", "normal"),
            right("achilles_reflex", reflex),
        )
        return run("neurological_deficit", case, Side.RIGHT).outcome

    assert deficit("normal") == "absent"
    assert deficit("reduced") == "present"
    assert deficit("brisk") == "absent"


def test_complaint_side_inferred_from_the_pain_map() -> None:
    data = document(pain_map=[pain("groin", "left"), pain("lumbar", "midline")], side=None)
    assert Facts(parse_case(data)).complaint_sides() == (Side.LEFT,)
    data = document(pain_map=[pain("groin", "left"), pain("groin", "right")], side=None)
    assert Facts(parse_case(data)).complaint_sides() == (Side.LEFT, Side.RIGHT)
    assert Facts(parse_case(document(side=None))).complaint_sides() == (Side.LEFT, Side.RIGHT)


# --- Sides: a sided source is one structure per side ------------------------------------


@pytest.mark.parametrize("data", [{}, {"complaint": {"side": "bilateral"}}])
def test_an_empty_case_is_undetermined(data: dict[str, Any]) -> None:
    # Priors alone: the two hips are one structure each, never "either of two independent
    # sources" (which made an empty case "Hip, 64%").
    result = assess(parse_case(data), suggest=False)
    assert result.conclusion.category == "undetermined"
    assert result.probability("hip") == pytest.approx(0.40)
    assert "side not known" in result.conclusion.detail


def test_with_no_side_the_hip_takes_the_more_likely_side() -> None:
    data = document(
        right("block_hip_joint", value=90), pain_map=[pain("lumbar", "midline")], side=None
    )
    result = assess(parse_case(data), suggest=False)
    assert result.sides == (Side.LEFT, Side.RIGHT)
    left = source(result, "hip_joint", Side.LEFT).probability
    right_ = source(result, "hip_joint", Side.RIGHT).probability
    assert right_ > left
    assert result.probability("hip") == pytest.approx(right_)


@pytest.mark.parametrize("stated", [None, "right", "left", "bilateral"])
def test_stating_a_side_does_not_flip_a_midline_case(stated: str | None) -> None:
    # Midline low back pain, worse on stairs: the spine is likely and each hip a coin toss.
    # Combining the two hips as independent sources called it "hip and spine" with no
    # side and "spine" with one; the side of a symmetric case must not matter.
    data = document(
        obs("aggravated_by_stairs", "present"),
        pain_map=[pain("lumbar", "midline", 7)],
        side=stated,
        age=55,
    )
    result = assess(parse_case(data), suggest=False)
    assert result.conclusion.category == "spine"
    odds = 0.4 / 0.6 * 2.1 * 0.8  # stairs; no groin pain on the drawn map
    assert result.probability("hip") == pytest.approx(odds / (1 + odds))


SYMMETRIC_SIDES = {"left": "bilateral", "right": "bilateral"}


@st.composite
def symmetric_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Cases whose every sided record is bilateral: both sides carry the same evidence."""
    chosen = draw(st.lists(st.sampled_from(sorted(findings())), unique=True, max_size=25))
    observations = []
    for finding_id in chosen:
        entry = draw(observation(finding_id))
        if "side" in entry:
            entry["side"] = "bilateral"
        observations.append(entry)
    marks = draw(
        st.lists(st.sampled_from([r.id for r in regions().values()]), unique=True, max_size=5)
    )
    pain_map = draw(
        st.one_of(
            st.none(),
            st.just(
                [{"region": r, "side": "midline" if r == "lumbar" else "bilateral"} for r in marks]
            ),
        )
    )
    strength = [
        {
            "muscle": m,
            "mrc": draw(st.sampled_from(MRC_GRADES)),
            **({"side": "bilateral"} if muscles()[m].lateral else {}),
        }
        for m in draw(st.lists(st.sampled_from(sorted(muscles())), unique=True, max_size=6))
    ]
    return {
        "findings": observations,
        "pain_map": pain_map,
        "strength": strength,
        "patient": {"age": draw(st.one_of(st.none(), st.integers(18, 100)))},
    }


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=symmetric_cases())
def test_stating_a_side_never_changes_the_category_of_a_symmetric_case(
    data: dict[str, Any],
) -> None:
    categories = set()
    hip = set()
    for stated in (None, "bilateral", "left", "right"):
        doc = {**data, **({"complaint": {"side": stated}} if stated else {})}
        result = assess(parse_case(doc), suggest=False)
        categories.add((result.conclusion.category, result.conclusion.hip_spine_type))
        hip.add(round(result.probability("hip"), 9))
    assert len(categories) == 1
    assert len(hip) == 1


def test_negative_test_on_one_side_with_the_other_unknown_is_not_counted() -> None:
    # No complaint side: a negative SLR on the left says nothing about the right leg.
    marks = [pain("lumbar", "midline"), pain("lower_leg", "bilateral")]
    data = document(obs("straight_leg_raise", "absent", side="left"), pain_map=marks, side=None)
    result = assess(parse_case(data), suggest=False)
    slr = rule_result(result, "straight_leg_raise")
    assert slr.status == "undetermined"
    assert slr.weight is None
    assert Missing("finding", "straight_leg_raise", Side.RIGHT) in slr.missing
    assert "Not yet known: Straight leg raise." in result.unknown
    note = next(n for n in result.unknown if n.startswith("Straight leg raise: recorded"))
    assert "left side only" in note and "right side unknown" in note
    # The radicular estimate is what it would be without the SLR at all.
    without = assess(parse_case(document(pain_map=marks, side=None)), suggest=False)
    assert source(result, "lumbar_radicular").probability == pytest.approx(
        source(without, "lumbar_radicular").probability
    )


def test_negative_on_both_sides_counts_and_a_positive_side_counts() -> None:
    marks = [pain("lumbar", "midline")]
    both = document(
        obs("straight_leg_raise", "absent", side="left"),
        obs("straight_leg_raise", "absent", side="right"),
        pain_map=marks,
        side=None,
    )
    slr = rule_result(assess(parse_case(both), suggest=False), "straight_leg_raise")
    assert slr.outcome == "absent" and lr_of(slr) == pytest.approx(0.09 / 0.26)
    one_positive = document(
        obs("straight_leg_raise", "absent", side="left"),
        obs("straight_leg_raise", "present", side="right"),
        pain_map=marks,
        side=None,
    )
    slr = rule_result(assess(parse_case(one_positive), suggest=False), "straight_leg_raise")
    assert slr.outcome == "present" and slr.side is Side.RIGHT


def test_a_stated_side_reads_only_that_side() -> None:
    data = document(obs("straight_leg_raise", "absent", side="right"), side="right")
    slr = rule_result(assess(parse_case(data), suggest=False), "straight_leg_raise")
    assert slr.outcome == "absent" and slr.side is Side.RIGHT


def lr_of(result: Any) -> float | None:
    return None if result.weight is None else result.weight.lr


# --- The Guggino pain-location rule -----------------------------------------------------


def test_guggino_rule_is_named_and_buttock_pain_counts_for_the_spine() -> None:
    case = build(pain_map=[pain("buttock")])
    r = run("guggino_lateral_or_buttock", case)
    assert r.outcome == "buttock" and lr_of(r) == 1.2
    assert r.weight is not None and r.weight.basis.value == "expert_default"
    assert "Guggino pain-location rule" in r.rule.title
    assert "Guggino" in r.rule.citation
    result = assess(case, suggest=False)
    rule = next(n for n in result.named_rules if n.id == "guggino_pain_location")
    assert rule.name == "Guggino pain-location rule"
    assert {x.rule.id for x in rule.results} == {
        "hip_pain_location_groin",
        "guggino_lateral_or_buttock",
    }
    payload = to_dict(result)["named_rules"][0]
    assert payload["name"] == "Guggino pain-location rule"
    assert any("Lateral to the hip" in line for line in payload["applied"])


def test_guggino_front_of_the_hip_counts_for_the_hip() -> None:
    r = run("hip_pain_location_groin", build(pain_map=[pain("groin")]))
    assert r.outcome == "present" and lr_of(r) == 1.5
    assert r.rule.title.startswith("Guggino pain-location rule, front of the hip")


def test_lateral_hip_pain_waits_for_the_trochanter_before_counting_for_the_spine() -> None:
    marks = [pain("lateral_hip")]
    waiting = run("guggino_lateral_or_buttock", build(pain_map=marks))
    assert waiting.status == "undetermined"
    assert [m.id for m in waiting.missing] == ["trochanteric_tenderness"]
    # The published regional rule reads lateral hip pain as trochanteric.
    assert run("gtps_pain_location", build(pain_map=marks)).outcome == "present"

    tender = run(
        "guggino_lateral_or_buttock",
        build(right("trochanteric_tenderness", "present"), pain_map=marks),
    )
    assert tender.outcome == "lateral_hip_trochanteric"
    assert tender.weight is None
    assert any("greater trochanteric pain syndrome" in f for f in tender.facts)

    not_tender = run(
        "guggino_lateral_or_buttock",
        build(right("trochanteric_tenderness", "absent"), pain_map=marks),
    )
    assert not_tender.outcome == "lateral_hip_not_trochanteric"
    assert lr_of(not_tender) == 1.2


def test_trochanteric_tenderness_is_asked_for_when_lateral_pain_hinges_on_it() -> None:
    case = build(pain_map=[pain("lateral_hip")])
    result = assess(case, suggest=False)
    assert "Not yet known: " + rule("guggino_lateral_or_buttock").title + "." in result.unknown
    tests = next_tests(case, result.sources, limit=100)
    assert any(t.missing.id == "trochanteric_tenderness" for t in tests)


def test_no_buttock_or_lateral_pain_on_a_drawn_map_carries_no_weight() -> None:
    r = run("guggino_lateral_or_buttock", build(pain_map=[pain("groin")]))
    assert r.outcome == "absent" and r.weight is None
    assert run("guggino_lateral_or_buttock", build(pain_map=None)).status == "undetermined"


def test_buttock_and_low_back_pain_are_not_counted_twice() -> None:
    result = assess(build(pain_map=[pain("lumbar", "midline"), pain("buttock")]), suggest=False)
    axial = source(result, "lumbar_axial")
    counted = [r.rule.id for r in axial.results if r.weight and axial.is_counted(r)]
    assert "spine_pain_location_lumbar" in counted
    assert "guggino_lateral_or_buttock" not in counted


# --- Vocabulary additions ---------------------------------------------------------------


def test_painful_range_of_motion_is_accepted_and_leaves_the_range_unknown() -> None:
    case = build(right("hip_internal_rotation", "painful"))
    facts = Facts(case)
    assert facts.present("hip_internal_rotation", Side.RIGHT) is None
    assert facts.known("hip_internal_rotation", Side.RIGHT) is False
    assert "hip_internal_rotation" in {m.id for m in run("sutlive_2008", case).missing}
    # ACR asks again for the range: "painful" is not an answer about it.
    acr = run(
        "acr_1991_clinical",
        build(right("hip_internal_rotation", "painful"), pain_map=[pain("groin")]),
    )
    assert acr.status == "undetermined"
    assert "hip_internal_rotation" in {m.id for m in acr.missing}
    # Degrees with "painful" read the degrees.
    both = build(right("hip_internal_rotation", "painful", value=10))
    assert Facts(both).value("hip_internal_rotation", Side.RIGHT) == 10
    assert Facts(both).known("hip_internal_rotation", Side.RIGHT) is True


def test_painful_range_of_motion_is_not_read_as_reduced_by_brown() -> None:
    case = build(obs("gait", "limp"), right("hip_internal_rotation", "painful"))
    assert run("brown_2004", case, Side.RIGHT).status == "undetermined"


# --- Offierski–MacNab types ------------------------------------------------------------


def test_hip_and_spine_without_hip_driving_the_spine_is_complex() -> None:
    data = replacing(john_data(), right("hip_flexion_contracture", "absent"))
    for test in data["strength"]:
        if test["muscle"] in ("iliopsoas", "gluteus_maximus"):
            test["mrc"] = "5"
    result = assess(parse_case(data))
    assert result.conclusion.category == "hip_and_spine"
    assert result.conclusion.hip_spine_type == "complex"
    assert "selective" in result.conclusion.type_reason


def test_weakness_alone_is_only_possibly_secondary() -> None:
    # The consequence of the weakness (pelvic tilt, hyperlordosis) was never examined.
    data = john_weakness_only()
    result = assess(parse_case(data), suggest=False)
    assert result.conclusion.category == "hip_and_spine"
    assert result.conclusion.hip_spine_type == "possibly_secondary"
    assert "possibly secondary hip–spine syndrome" in result.conclusion.label
    reason = result.conclusion.type_reason
    assert "Gluteus maximus (right) MRC 4+" in reason
    assert "examine posture or a standing lateral radiograph" in reason
    assert "hyperlordosis observed" not in reason and "examination shows" not in reason
    facet = next(x for x in result.biomechanics.links if x.id == "facet_foraminal_loading")
    assert facet.status == "likely"


def test_secondary_reason_is_built_from_the_links_evidence() -> None:
    reason = assess(john()).conclusion.type_reason
    assert reason.startswith("the examination shows the hip driving the spine")
    for evidence in (
        "Iliopsoas (right) MRC 4-",
        "Gluteus maximus (right) MRC 4-",
        "lumbar hyperlordosis observed",
        "anterior pelvic tilt observed",
    ):
        assert evidence in reason
    assert "flexion contracture" not in reason  # not examined in John


def test_contracture_with_observed_lordosis_names_the_contracture() -> None:
    data = replacing(john_data(), right("hip_flexion_contracture", "present"))
    for test in data["strength"]:
        if test["muscle"] in ("iliopsoas", "gluteus_maximus"):
            test["mrc"] = "5"
    result = assess(parse_case(data), suggest=False)
    assert result.conclusion.hip_spine_type == "secondary"
    assert "Hip flexion contracture (Thomas test) with lumbar hyperlordosis observed" in (
        result.conclusion.type_reason
    )


def test_hip_and_spine_with_untested_chain_has_no_type_yet() -> None:
    data = john_data()
    data["strength"] = []
    result = assess(parse_case(data))
    assert result.conclusion.category == "hip_and_spine"
    assert result.conclusion.hip_spine_type is None


def test_hip_alone_with_a_degenerate_spine_is_simple() -> None:
    data = removing(john_data(), "aggravated_by_extension")
    data["pain_map"] = [pain("groin")]
    result = assess(parse_case(data))
    assert result.conclusion.category == "hip"
    assert result.conclusion.hip_spine_type == "simple"
    assert "spine is degenerate" in result.conclusion.type_reason
    # Weishaupt ≥2 as "degenerate" is an expert default and says so.
    assert "Weishaupt facet grade (CT/MRI) 2 (≥2 — expert-default cut-off)" in (
        result.conclusion.type_reason
    )


def test_weishaupt_grade_1_does_not_make_the_spine_degenerate() -> None:
    data = removing(john_data(), "aggravated_by_extension")
    data["pain_map"] = [pain("groin")]
    data = removing(data, "weishaupt_facet")
    data["findings"].append(obs("weishaupt_facet", side="bilateral", value=1, level="L4-L5"))
    result = assess(parse_case(data))
    assert result.conclusion.category == "hip"
    assert result.conclusion.hip_spine_type is None


# --- Next tests ------------------------------------------------------------------------


def recorded(case: Case, finding: str, side: Side | None) -> bool:
    return any(
        o.finding == finding
        and o.result != "unknown"
        and (side is None or o.side is None or o.side.covers(side))
        for o in case.findings
    )


def test_history_only_suggests_exam_tests() -> None:
    result = assess(john(), through=Stage.HISTORY)
    assert result.next_tests
    stages = {
        Stage.EXAM if t.missing.what == "strength" else findings()[t.missing.id].stage
        for t in result.next_tests
        if t.missing.what in ("finding", "strength")
    }
    assert Stage.EXAM in stages


def test_block_suggested_when_hip_versus_spine_hinges_on_it() -> None:
    # Low back pain and groin pain, nothing else: the spine is likely (68%) and the hip
    # a coin toss (50%); a hip injection decides between "spine" and "hip and spine".
    case = build(pain_map=[pain("lumbar", "midline"), pain("groin")])
    result = assess(case)
    assert result.conclusion.category == "spine"
    assert result.probability("hip") == pytest.approx(0.5)
    block = next(t for t in result.next_tests if t.missing.id == "block_hip_joint")
    assert block.changes_conclusion is True
    assert result.next_tests[0] is block
    outcomes = {o.result: o.conclusion for o in block.outcomes}
    assert outcomes == {"90% relief": "Hip and lumbar spine", "10% relief": "Lumbar spine"}


def test_john_facet_block_would_change_the_conclusion() -> None:
    result = assess(john())
    facet = next(t for t in result.next_tests if t.missing.id == "block_facet_or_medial_branch")
    assert facet.changes_conclusion is True


@pytest.mark.parametrize("through", [Stage.HISTORY, Stage.EXAM, Stage.IMAGING])
def test_tests_already_done_are_never_suggested(through: Stage) -> None:
    case = john().through(through)
    result = assess(case)
    for test in result.next_tests:
        if test.missing.what == "finding":
            assert not recorded(case, test.missing.id, test.missing.side), test.test
        if test.missing.what == "strength":
            assert Facts(case).grade(test.missing.id, test.missing.side) is None, test.test


def test_next_tests_are_ordered_deciding_tests_first_then_by_swing() -> None:
    result = assess(build(pain_map=[pain("lumbar", "midline"), pain("groin")]))
    keys = [(not t.changes_conclusion, -t.swing) for t in result.next_tests]
    assert keys == sorted(keys)
    assert all(t.swing >= 0.05 for t in result.next_tests)


def test_suggest_false_skips_the_search() -> None:
    assert assess(john(), suggest=False).next_tests == ()


# --- Properties over random valid cases ------------------------------------------------

LATERAL_SIDES = ("left", "right", "bilateral")


@st.composite
def observation(draw: st.DrawFn, finding_id: str) -> dict[str, Any]:
    d = findings()[finding_id]
    entry: dict[str, Any] = {"finding": finding_id}
    if d.lateral:
        entry["side"] = draw(st.sampled_from(LATERAL_SIDES))
    low = d.minimum if d.minimum is not None else 0
    high = d.maximum if d.maximum is not None else 100
    if d.kind in (Kind.PRESENCE, Kind.CHOICE):
        entry["result"] = draw(st.sampled_from(d.results))
    elif d.kind is Kind.ANGLE:
        if draw(st.booleans()):
            entry["value"] = draw(st.integers(int(low), int(high)))
        else:
            entry["result"] = draw(st.sampled_from(d.results))
    elif d.kind is Kind.COUNT:
        performed = draw(st.integers(1, int(high)))
        entry["of"] = performed
        entry["value"] = draw(st.integers(0, performed))
    elif draw(st.integers(0, 9)) == 0:
        entry["result"] = "unknown"
    elif d.kind is Kind.GRADE:
        entry["value"] = draw(st.integers(int(low), int(high)))
    else:
        entry["value"] = draw(st.floats(low, high, allow_nan=False))
    return entry


@st.composite
def valid_cases(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(sorted(findings())), unique=True, max_size=40))
    observations = [draw(observation(f)) for f in chosen]
    pain_map = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.sampled_from([(r.id, s.value) for r in regions().values() for s in r.sides]),
                unique=True,
                max_size=6,
            ).map(lambda marks: [{"region": r, "side": s} for r, s in marks]),
        )
    )
    strength = [
        {
            "muscle": m,
            "mrc": draw(st.sampled_from(MRC_GRADES)),
            **({"side": draw(st.sampled_from(LATERAL_SIDES))} if muscles()[m].lateral else {}),
        }
        for m in draw(st.lists(st.sampled_from(sorted(muscles())), unique=True, max_size=6))
    ]
    data: dict[str, Any] = {
        "findings": observations,
        "pain_map": pain_map,
        "strength": strength,
        "patient": {"age": draw(st.one_of(st.none(), st.integers(18, 100)))},
    }
    side = draw(st.sampled_from([None, "left", "right", "bilateral"]))
    if side is not None:
        data["complaint"] = {"side": side}
    return data


OVERRIDING = sorted({f for flag in flag_rules() if flag.urgency.overrides for f in flag.any})


def check_probabilities(result: Assessment) -> None:
    for estimate in result.sources:
        assert 0 < estimate.probability < 1
    for alternative in result.alternatives:
        assert 0 < alternative.probability < 1
    if result.conclusion.probability is not None:
        assert 0 < result.conclusion.probability < 1


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=valid_cases(), flag=st.sampled_from(OVERRIDING))
def test_random_valid_cases_assess_and_red_flags_always_override(
    data: dict[str, Any], flag: str
) -> None:
    case = parse_case(data)
    result = assess(case, suggest=False)
    check_probabilities(result)
    assert result.conclusion.category in (
        "hip",
        "spine",
        "hip_and_spine",
        "other",
        "red_flag",
        "undetermined",
    )
    to_dict(result)

    side = "right" if findings()[flag].lateral else None
    flagged = parse_case(
        {
            **data,
            "findings": [o for o in data["findings"] if o["finding"] != flag]
            + [obs(flag, "present", side=side)],
        }
    )
    flagged_result = assess(flagged, suggest=False)
    assert flagged_result.conclusion.category == "red_flag"
    check_probabilities(flagged_result)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=valid_cases())
def test_random_valid_cases_with_suggestions_and_stages(data: dict[str, Any]) -> None:
    case = parse_case(data)
    for step in assess_stages(case):
        check_probabilities(step.assessment)
        for test in step.assessment.next_tests:
            assert 0 <= test.swing <= 1
