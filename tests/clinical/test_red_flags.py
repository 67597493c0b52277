"""Red flags override every other conclusion, are never hidden, and unknown is not negative."""

from __future__ import annotations

from typing import Any

import pytest
from cases import build, document, john_data, obs, replacing

from hipspine.clinical.assessment import assess, to_dict
from hipspine.clinical.case import parse_case
from hipspine.clinical.facts import Facts
from hipspine.clinical.red_flags import Urgency, flag_rules, red_flags, unscreened

SCREENING = (
    "urinary_retention",
    "saddle_anaesthesia",
    "bowel_or_bladder_dysfunction",
    "progressive_neurological_deficit",
    "cancer_history",
    "unexplained_weight_loss",
    "failure_of_conservative_care",
    "fever",
    "iv_drug_use",
    "immunosuppression",
    "recent_infection",
    "significant_trauma",
    "prolonged_corticosteroids",
    "osteoporosis",
)
# John's story does not say whether a month of conservative care failed: unknown.
JOHN_UNSCREENED = ("failure_of_conservative_care",)


def john_with(*observations: dict[str, Any], age: int | None = None) -> Any:
    data = replacing(john_data(), *observations)
    if age is not None:
        data["patient"]["age"] = age
    return parse_case(data)


def fired(case: Any) -> dict[str, Urgency]:
    return {f.id: f.urgency for f in red_flags(Facts(case))}


@pytest.mark.parametrize(
    ("observation", "flag", "condition", "urgency"),
    [
        (obs("urinary_retention", "present"), "cauda_equina", "Cauda equina", "emergency"),
        (obs("saddle_anaesthesia", "present"), "cauda_equina", "Cauda equina", "emergency"),
        (
            obs("bowel_or_bladder_dysfunction", "present"),
            "cauda_equina",
            "Cauda equina",
            "emergency",
        ),
        (obs("fever", "present"), "infection", "infection", "urgent"),
        (obs("cancer_history", "present"), "malignancy_history", "malignancy", "urgent"),
        (
            obs("sign_of_the_buttock", "present", side="right"),
            "sign_of_the_buttock",
            "buttock",
            "urgent",
        ),
        (obs("significant_trauma", "present"), "fracture_strong", "fracture", "urgent"),
        (obs("prolonged_corticosteroids", "present"), "fracture_strong", "fracture", "urgent"),
        (
            obs("progressive_neurological_deficit", "present"),
            "progressive_neurological_deficit",
            "neurological deficit",
            "urgent",
        ),
        (
            obs("heel_strike_or_hop_pain", "present", side="right"),
            "stress_fracture_hip",
            "stress fracture",
            "urgent",
        ),
    ],
)
def test_red_flag_overrides_johns_hip_and_spine(
    observation: dict[str, Any], flag: str, condition: str, urgency: str
) -> None:
    baseline = assess(john_with())
    assert baseline.conclusion.category == "hip_and_spine"

    result = assess(john_with(observation))
    assert result.conclusion.category == "red_flag"
    assert condition.lower() in result.conclusion.detail.lower()
    assert urgency in result.conclusion.detail
    assert result.conclusion.hip_spine_type is None
    flags = {f.id: f for f in result.red_flags}
    assert flags[flag].urgency.value == urgency
    assert flags[flag].because  # names the finding that fired it
    # The estimates are not hidden by the flag: hip and spine are still there.
    by_source = {e.source.id: e for e in result.sources}
    assert by_source["hip_joint"].grade == "very likely"
    assert by_source["lumbar_axial"].probability >= 0.6
    assert [e.probability for e in result.sources] == [e.probability for e in baseline.sources]


def test_red_flag_on_the_other_side_still_fires() -> None:
    result = assess(john_with(obs("sign_of_the_buttock", "present", side="left")))
    assert result.conclusion.category == "red_flag"


def test_red_flag_recorded_unknown_does_not_fire_but_stays_unscreened() -> None:
    case = john_with(obs("urinary_retention", "unknown"))
    assert "cauda_equina" not in fired(case)
    result = assess(case)
    assert result.conclusion.category == "hip_and_spine"
    assert result.unscreened_red_flags == ("urinary_retention", *JOHN_UNSCREENED)


def test_emergency_is_listed_before_urgent_and_every_flag_is_shown() -> None:
    case = john_with(obs("fever", "present"), obs("urinary_retention", "present"))
    result = assess(case)
    urgencies = [f.urgency for f in result.red_flags]
    assert urgencies == sorted(urgencies, key=list(Urgency).index)
    assert urgencies[0] is Urgency.EMERGENCY
    assert {"cauda_equina", "infection", "malignancy_screen"} <= {f.id for f in result.red_flags}
    assert "Cauda equina" in result.conclusion.detail and "infection" in result.conclusion.detail


def test_red_flag_in_json_output() -> None:
    payload = to_dict(assess(john_with(obs("urinary_retention", "present"))))
    assert payload["conclusion"]["category"] == "red_flag"
    flag = next(f for f in payload["red_flags"] if f["id"] == "cauda_equina")
    assert flag["urgency"] == "emergency"
    assert "Urinary retention" in flag["because"]
    assert flag["citation"]
    assert {s["source"] for s in payload["sources"]} >= {"hip_joint", "lumbar_axial"}


def test_consider_flag_age_50_alone_does_not_override() -> None:
    # John is 58: cancer is "not excluded by history" but not suspected.
    result = assess(john_with())
    flags = {f.id: f for f in result.red_flags}
    assert flags["malignancy_screen"].urgency is Urgency.CONSIDER
    assert any("age 58" in b for b in flags["malignancy_screen"].because)
    assert result.conclusion.category == "hip_and_spine"


def test_malignancy_screen_age_50_fires_and_49_does_not() -> None:
    assert "malignancy_screen" in fired(build(age=50))
    assert "malignancy_screen" not in fired(build(age=49))
    assert "malignancy_screen" in fired(build(obs("unexplained_weight_loss", "present"), age=30))


@pytest.mark.parametrize(("age", "fires"), [(70, False), (71, True)])
def test_fracture_age_flag_at_70_and_71(age: int, fires: bool) -> None:
    flags = fired(build(age=age))
    assert ("fracture_age" in flags) is fires
    assert "fracture_multiple" not in flags
    result = assess(john_with(age=age))
    assert result.conclusion.category == "hip_and_spine"
    assert ("fracture_age" in {f.id for f in result.red_flags}) is fires


def test_two_fracture_risk_factors_are_urgent() -> None:
    case = john_with(obs("osteoporosis", "present"), obs("minor_trauma", "present"))
    assert fired(case)["fracture_multiple"] is Urgency.URGENT
    assert assess(case).conclusion.category == "red_flag"


def test_one_fracture_risk_factor_alone_is_not_a_flag() -> None:
    assert "fracture_multiple" not in fired(build(obs("osteoporosis", "present"), age=60))
    assert "fracture_multiple" not in fired(build(obs("minor_trauma", "present"), age=60))


@pytest.mark.parametrize(("age", "fires"), [(70, False), (71, True)])
def test_age_over_70_counts_as_a_fracture_risk_factor(age: int, fires: bool) -> None:
    flags = fired(build(obs("osteoporosis", "present"), age=age))
    assert ("fracture_multiple" in flags) is fires


def test_infection_risk_factor_alone_is_only_considered() -> None:
    case = john_with(obs("iv_drug_use", "present"))
    assert fired(case)["infection_risk"] is Urgency.CONSIDER
    assert assess(case).conclusion.category == "hip_and_spine"


def test_absent_answers_fire_nothing() -> None:
    case = build(*(obs(item, "absent") for item in SCREENING), age=40)
    assert fired(case) == {}
    assert unscreened(Facts(case)) == ()


def test_unscreened_items_shrink_as_they_are_answered() -> None:
    empty = unscreened(Facts(build()))
    assert empty == ("age", *SCREENING)

    answered: list[dict[str, Any]] = []
    previous = empty
    for item in SCREENING:
        answered.append(obs(item, "absent"))
        now = unscreened(Facts(build(*answered)))
        assert item not in now
        assert set(now) == set(previous) - {item}
        previous = now
    assert unscreened(Facts(build(*answered, age=40))) == ()


def test_johns_case_is_screened_except_what_his_story_leaves_unknown() -> None:
    assert assess(john_with()).unscreened_red_flags == JOHN_UNSCREENED
    answered = john_with(obs("failure_of_conservative_care", "absent"))
    assert assess(answered).unscreened_red_flags == ()


def test_screening_list_covers_the_history_flags_of_the_sources() -> None:
    for item in (
        "iv_drug_use",
        "immunosuppression",
        "osteoporosis",
        "recent_infection",
        "failure_of_conservative_care",
    ):
        assert item in unscreened(Facts(build())), item


# --- Laboratory values ------------------------------------------------------------------


def labs(**values: float) -> list[dict[str, Any]]:
    return [obs(k, value=v) for k, v in values.items()]


def test_grossly_abnormal_labs_fire_flags_and_override() -> None:
    case = build(*labs(esr=110, crp=200, white_cell_count=25), age=45)
    result = assess(case, suggest=False)
    flags = {f.id: f for f in result.red_flags}
    assert flags["infection"].urgency is Urgency.URGENT
    because = "; ".join(flags["infection"].because)
    assert "C-reactive protein 200" in because and "expert-default" in because
    assert "White cell count 25" in because
    assert "Erythrocyte sedimentation rate 110" in because  # shown with it
    assert any("ESR ≥20" in b for b in flags["malignancy_screen"].because)
    assert result.conclusion.category == "red_flag"


@pytest.mark.parametrize(("esr", "fires"), [(19, False), (20, True)])
def test_esr_20_counts_for_malignancy_screen(esr: float, fires: bool) -> None:
    flags = fired(build(*labs(esr=esr), age=40))
    assert ("malignancy_screen" in flags) is fires
    if fires:
        assert flags["malignancy_screen"] is Urgency.CONSIDER


@pytest.mark.parametrize(
    ("values", "fires"),
    [
        ({"crp": 10}, False),
        ({"crp": 10.5}, True),
        ({"white_cell_count": 11}, False),
        ({"white_cell_count": 11.2}, True),
    ],
)
def test_one_raised_inflammatory_marker_is_an_infection_risk(
    values: dict[str, float], fires: bool
) -> None:
    flags = fired(build(*labs(**values), age=40))
    assert ("infection_risk" in flags) is fires
    assert "infection" not in flags


def test_raised_crp_and_white_cell_count_together_are_urgent() -> None:
    flags = fired(build(*labs(crp=30, white_cell_count=14), age=40))
    assert flags["infection"] is Urgency.URGENT


def test_fever_flag_shows_the_raised_markers() -> None:
    flag = next(
        f
        for f in red_flags(Facts(build(obs("fever", "present"), *labs(crp=80), age=40)))
        if f.id == "infection"
    )
    assert flag.because[0] == "Fever"
    assert any("C-reactive protein 80" in b for b in flag.because)


def test_normal_labs_fire_nothing() -> None:
    assert fired(build(*labs(esr=12, crp=3, white_cell_count=7), age=40)) == {}


def test_lab_flag_is_never_hidden_by_johns_hip_and_spine() -> None:
    result = assess(john_with(*labs(crp=30)))
    assert result.conclusion.category == "hip_and_spine"
    assert "infection_risk" in {f.id for f in result.red_flags}


# --- Diagnoses count as well as findings -------------------------------------------------


def test_osteoporosis_diagnosis_counts_as_the_fracture_risk_factor() -> None:
    case = build(obs("minor_trauma", "present"), diagnoses=[{"condition": "osteoporosis"}], age=60)
    flags = {f.id: f for f in red_flags(Facts(case))}
    assert flags["fracture_multiple"].urgency is Urgency.URGENT
    assert "Osteoporosis (diagnosis)" in flags["fracture_multiple"].because
    assert assess(case, suggest=False).conclusion.category == "red_flag"
    # The diagnosis answers the screening question.
    assert "osteoporosis" not in unscreened(Facts(case))


def test_osteoporosis_diagnosis_alone_is_not_a_flag() -> None:
    case = build(diagnoses=[{"condition": "osteoporosis"}], age=60)
    assert "fracture_multiple" not in fired(case)


def test_unscreened_items_are_reported_by_assess() -> None:
    result = assess(parse_case(document(obs("fever", "absent"))))
    assert "fever" not in result.unscreened_red_flags
    assert "urinary_retention" in result.unscreened_red_flags
    assert "age" in result.unscreened_red_flags


def test_every_overriding_flag_can_fire_from_one_finding() -> None:
    # Each emergency or urgent flag with an `any` list overrides on any one of its findings.
    for flag in flag_rules():
        if not flag.urgency.overrides:
            continue
        for finding in flag.any:
            side = (
                "right" if finding in ("sign_of_the_buttock", "heel_strike_or_hop_pain") else None
            )
            case = build(obs(finding, "present", side=side))
            assert assess(case, suggest=False).conclusion.category == "red_flag", finding


def test_a_flag_says_what_was_already_checked() -> None:
    """John's ESR (12 mm/h, below Deyo's 20) and his absent weight loss are shown with his
    malignancy screen, so nobody is told to order an ESR he already had; a measured ESR of
    20 counts instead, and an unknown item is neither counted nor shown as checked."""
    flags = {f.id: f for f in assess(john_with()).red_flags}
    checked = flags["malignancy_screen"].checked
    assert "Erythrocyte sedimentation rate 12 mm/h (not ESR ≥20 mm/h)" in checked
    assert "Unexplained weight loss: absent" in checked
    assert not any("conservative care" in c for c in checked)  # unknown, not negative

    raised = {f.id: f for f in assess(john_with(obs("esr", value=20))).red_flags}
    assert not any("sedimentation" in c for c in raised["malignancy_screen"].checked)
    assert any("sedimentation rate 20" in b for b in raised["malignancy_screen"].because)
    payload = to_dict(assess(john_with()))
    shown = next(f for f in payload["red_flags"] if f["id"] == "malignancy_screen")
    assert shown["checked"] == list(checked)
