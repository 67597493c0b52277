"""The hip–spine chain: compensations from strength grades and posture, muscles to target,
and the spinopelvic reading from lateral radiographs."""

from __future__ import annotations

from typing import Any

import pytest
from cases import build, john, john_data, obs, replacing, right

from hipspine.clinical.assessment import assess
from hipspine.clinical.biomechanics import Biomechanics, biomechanics, spinopelvic
from hipspine.clinical.case import parse_case
from hipspine.clinical.facts import Facts
from hipspine.clinical.vocabulary import Side, muscles


def label(muscle: str) -> str:
    return muscles()[muscle].label


def chain(case: Any, spine_likely: bool = False) -> Biomechanics:
    return biomechanics(Facts(case), (Side.RIGHT,), spine_likely)


def status(result: Biomechanics) -> dict[str, str]:
    return {link.id: link.status for link in result.links}


def mmt(muscle: str, mrc: str, side: str | None = "right") -> dict[str, Any]:
    entry: dict[str, Any] = {"muscle": muscle, "mrc": mrc}
    if side is not None:
        entry["side"] = side
    return entry


def test_john_pelvic_tilt_hyperlordosis_is_active_from_weak_hip_muscles() -> None:
    result = assess(john()).biomechanics
    link = next(link for link in result.links if link.id == "pelvic_tilt_hyperlordosis")
    assert link.status == "active"
    because = "; ".join(link.because)
    assert "Iliopsoas (right) MRC 4-" in because
    assert "Gluteus maximus (right) MRC 4-" in because
    assert "lumbar hyperlordosis observed" in because
    assert result.hip_drives_spine is True


def test_john_chain_statuses() -> None:
    result = assess(john()).biomechanics
    assert status(result) == {
        "iliopsoas_compensation": "likely",
        "pelvic_tilt_hyperlordosis": "active",
        "flexion_contracture_lordosis": "unknown",
        "facet_foraminal_loading": "active",
    }
    contracture = next(link for link in result.links if link.id == "flexion_contracture_lordosis")
    assert contracture.to_examine == ("Hip flexion contracture (Thomas test)",)


def test_john_muscles_to_target_include_the_seeds_muscles() -> None:
    result = assess(john()).biomechanics
    for muscle in ("iliopsoas", "gluteus_maximus", "abdominals", "lumbar_paraspinals"):
        assert label(muscle) in result.muscles_to_target
    # Weak muscles are listed with side and grade; the strong left iliopsoas is not.
    assert "Iliopsoas (right) MRC 4-" in result.weak_muscles
    assert not any("(left)" in w for w in result.weak_muscles)


def test_john_untested_chain_muscles_are_to_test_not_normal() -> None:
    result = assess(john()).biomechanics
    assert label("multifidus") in result.muscles_to_test
    assert label("rectus_femoris") in result.muscles_to_test
    assert label("iliopsoas") not in result.muscles_to_test


def test_untested_muscles_leave_the_chain_unknown() -> None:
    result = chain(build(obs("lumbar_hyperlordosis", "present")))
    links = status(result)
    assert links["iliopsoas_compensation"] == "unknown"
    assert links["pelvic_tilt_hyperlordosis"] == "unknown"
    assert links["facet_foraminal_loading"] == "unknown"
    assert result.hip_spine_links_known is False
    assert result.hip_drives_spine is False
    assert result.weak_muscles == ()
    tilt = next(link for link in result.links if link.id == "pelvic_tilt_hyperlordosis")
    assert f"manual muscle test: {label('iliopsoas')}" in tilt.to_examine
    assert f"manual muscle test: {label('gluteus_maximus')}" in tilt.to_examine
    assert label("iliopsoas") in result.muscles_to_test


def test_strong_muscles_and_no_contracture_make_the_chain_not_active() -> None:
    case = build(
        right("hip_flexion_contracture", "absent"),
        strength=[mmt("iliopsoas", "5"), mmt("gluteus_maximus", "5")],
    )
    result = chain(case)
    assert status(result) == {
        "iliopsoas_compensation": "not_active",
        "pelvic_tilt_hyperlordosis": "not_active",
        "flexion_contracture_lordosis": "not_active",
        "facet_foraminal_loading": "not_active",
    }
    assert result.hip_spine_links_known is True
    assert result.hip_drives_spine is False


def test_one_weak_muscle_is_enough_for_pelvic_tilt_even_if_the_other_is_untested() -> None:
    result = chain(build(strength=[mmt("gluteus_maximus", "4")]))
    assert status(result)["pelvic_tilt_hyperlordosis"] == "likely"
    assert status(result)["iliopsoas_compensation"] == "unknown"


def test_weak_muscle_without_observed_posture_is_likely_not_active() -> None:
    weak = [mmt("iliopsoas", "4-")]
    assert status(chain(build(strength=weak)))["pelvic_tilt_hyperlordosis"] == "likely"
    posture = build(obs("anterior_pelvic_tilt", "present"), strength=weak)
    assert status(chain(posture))["pelvic_tilt_hyperlordosis"] == "active"


def test_grade_4_plus_is_weak_and_5_is_not() -> None:
    assert (
        status(chain(build(strength=[mmt("iliopsoas", "4+")])))["iliopsoas_compensation"]
        == "likely"
    )
    assert (
        status(chain(build(strength=[mmt("iliopsoas", "5")])))["iliopsoas_compensation"]
        == "not_active"
    )


def test_weak_muscle_on_the_other_side_does_not_count() -> None:
    result = chain(build(strength=[mmt("iliopsoas", "3", "left")]))
    assert status(result)["iliopsoas_compensation"] == "unknown"


def test_bilateral_grade_counts_for_the_side() -> None:
    result = chain(build(strength=[mmt("iliopsoas", "4", "bilateral")]))
    assert status(result)["iliopsoas_compensation"] == "likely"


def test_flexion_contracture_drives_the_spine() -> None:
    case = build(
        right("hip_flexion_contracture", "present"),
        obs("lumbar_hyperlordosis", "present"),
        strength=[mmt("iliopsoas", "5"), mmt("gluteus_maximus", "5")],
    )
    result = chain(case, spine_likely=True)
    assert status(result)["flexion_contracture_lordosis"] == "active"
    assert status(result)["facet_foraminal_loading"] == "active"
    assert result.hip_drives_spine is True


def test_facet_loading_needs_the_spine_to_be_likely() -> None:
    case = build(obs("lumbar_hyperlordosis", "present"), strength=[mmt("iliopsoas", "4")])
    assert status(chain(case, spine_likely=False))["facet_foraminal_loading"] == "likely"
    assert status(chain(case, spine_likely=True))["facet_foraminal_loading"] == "active"


def test_facet_loading_is_not_active_on_a_link_that_is_only_likely() -> None:
    # Weakness alone makes pelvic tilt "likely"; a likely spine must not turn the next
    # link "active" (the chain is only as observed as its weakest link).
    case = build(strength=[mmt("iliopsoas", "4")])
    result = chain(case, spine_likely=True)
    assert status(result)["pelvic_tilt_hyperlordosis"] == "likely"
    assert status(result)["facet_foraminal_loading"] == "likely"
    facet = next(link for link in result.links if link.id == "facet_foraminal_loading")
    assert any("posture" in item for item in facet.to_examine)
    assert result.hip_drives_spine is False
    assert result.hip_may_drive_spine is True


def test_likely_link_asks_for_posture_or_a_radiograph() -> None:
    result = chain(build(strength=[mmt("gluteus_maximus", "4")]))
    tilt = next(link for link in result.links if link.id == "pelvic_tilt_hyperlordosis")
    assert tilt.status == "likely"
    assert tilt.premises == ("Gluteus maximus (right) MRC 4",)
    assert tilt.observed == ()
    assert any("standing lateral radiograph" in item for item in tilt.to_examine)


def test_weak_muscles_are_targeted_and_strong_ones_are_not() -> None:
    case = build(
        strength=[mmt("iliopsoas", "4"), mmt("gluteus_maximus", "5"), mmt("abdominals", "5", None)]
    )
    result = chain(case)
    assert label("iliopsoas") in result.muscles_to_target
    assert label("gluteus_maximus") not in result.muscles_to_target
    assert label("abdominals") not in result.muscles_to_target


# --- Spinopelvic parameters ------------------------------------------------------------


def reading(**values: float) -> Any:
    return spinopelvic(Facts(build(*(obs(k, value=v) for k, v in values.items()))))


def test_no_radiograph_means_no_spinopelvic_reading() -> None:
    assert reading() is None


def test_john_spinopelvic_reading() -> None:
    result = spinopelvic(Facts(john()))
    assert result is not None
    assert result.mismatch == 52 - 66
    assert result.balance == "hyperlordotic"
    assert result.balance_basis is not None and "expert default" in result.balance_basis
    assert result.incidence_check is None  # 52 = 8 + 44
    assert result.sacral_slope_change == 44 - 30
    assert result.mobility == "normal"
    assert result.mobility_verified is False
    assert "Haffer" in result.citation


@pytest.mark.parametrize(
    ("lordosis", "balance"),
    [(40, "balanced"), (39, "flatback"), (60, "balanced"), (61, "hyperlordotic")],
)
def test_pi_ll_mismatch_boundaries(lordosis: float, balance: str) -> None:
    # PI 50: |PI − LL| ≤ 10° is balanced.
    assert reading(pelvic_incidence=50, lumbar_lordosis_standing=lordosis).balance == balance


@pytest.mark.parametrize(
    ("sitting", "mobility"),
    [(30, "normal"), (31, "stiff"), (10, "normal"), (9, "hypermobile")],
)
def test_sacral_slope_change_boundaries(sitting: float, mobility: str) -> None:
    # Standing SS 40: change < 10° stiff, > 30° hypermobile (cut-offs unverified).
    assert reading(sacral_slope_standing=40, sacral_slope_sitting=sitting).mobility == mobility


@pytest.mark.parametrize(
    ("lordosis", "basis"), [(40, "Haffer 2020"), (39, "Haffer 2020"), (61, "expert default")]
)
def test_only_the_hyperlordotic_reading_is_an_expert_default(lordosis: float, basis: str) -> None:
    result = reading(pelvic_incidence=50, lumbar_lordosis_standing=lordosis)
    assert result.balance_basis is not None and basis in result.balance_basis


def test_sitting_radiograph_gives_tilt_and_lordosis_changes() -> None:
    result = reading(
        pelvic_incidence=52,
        pelvic_tilt_standing=8,
        sacral_slope_standing=44,
        lumbar_lordosis_standing=66,
        pelvic_tilt_sitting=22,
        sacral_slope_sitting=30,
        lumbar_lordosis_sitting=40,
    )
    assert result.pelvic_tilt_change == 22 - 8
    assert result.lordosis_change == 66 - 40
    assert result.incidence_check is None  # 52 = 22 + 30 sitting, 8 + 44 standing


def test_sitting_measures_alone_give_a_reading() -> None:
    result = reading(pelvic_tilt_sitting=20)
    assert result is not None
    assert result.pelvic_tilt_change is None and result.mismatch is None


def test_sitting_incidence_identity_is_checked() -> None:
    check = reading(
        pelvic_incidence=52, pelvic_tilt_sitting=30, sacral_slope_sitting=30
    ).incidence_check
    assert check is not None and check.startswith("sitting:") and "re-measure" in check


def test_incidence_identity_is_checked() -> None:
    assert (
        reading(
            pelvic_incidence=57, pelvic_tilt_standing=8, sacral_slope_standing=44
        ).incidence_check
        is None
    )
    check = reading(
        pelvic_incidence=58, pelvic_tilt_standing=8, sacral_slope_standing=44
    ).incidence_check
    assert check is not None and "re-measure" in check


def test_radiographic_hyperlordosis_makes_the_tilt_link_active() -> None:
    case = build(
        obs("pelvic_incidence", value=45),
        obs("lumbar_lordosis_standing", value=70),
        strength=[mmt("iliopsoas", "4")],
    )
    result = chain(case)
    assert status(result)["pelvic_tilt_hyperlordosis"] == "active"
    tilt = next(link for link in result.links if link.id == "pelvic_tilt_hyperlordosis")
    assert any("exceeds pelvic incidence" in b and "expert-default" in b for b in tilt.observed)


def test_john_without_posture_or_radiograph_keeps_the_tilt_link_likely() -> None:
    data = john_data()
    data["findings"] = [
        o
        for o in data["findings"]
        if o["finding"]
        not in (
            "lumbar_hyperlordosis",
            "anterior_pelvic_tilt",
            "pelvic_incidence",
            "lumbar_lordosis_standing",
        )
    ]
    result = assess(parse_case(data)).biomechanics
    assert status(result)["pelvic_tilt_hyperlordosis"] == "likely"
    # Likely is not observed: the hip is not shown to drive the spine.
    assert result.hip_drives_spine is False
    assert result.hip_may_drive_spine is True


def test_posture_recorded_absent_does_not_negate_weakness() -> None:
    data = replacing(
        john_data(), obs("lumbar_hyperlordosis", "absent"), obs("anterior_pelvic_tilt", "absent")
    )
    result = assess(parse_case(data)).biomechanics
    # The radiograph still shows lordosis exceeding incidence.
    assert status(result)["pelvic_tilt_hyperlordosis"] == "active"


def test_consequence_examined_and_absent_is_not_likely() -> None:
    case = build(
        obs("lumbar_hyperlordosis", "absent"),
        obs("anterior_pelvic_tilt", "absent"),
        obs("pelvic_incidence", value=50),
        obs("lumbar_lordosis_standing", value=50),
        strength=[mmt("iliopsoas", "4"), mmt("gluteus_maximus", "4")],
    )
    result = chain(case)
    assert status(result)["pelvic_tilt_hyperlordosis"] != "likely"
    assert result.hip_drives_spine is False
