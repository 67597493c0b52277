"""The committed clinician's reference must match what the data files generate."""

from pathlib import Path

from hipspine.reports.reference import PAGES, write

DOCS = Path(__file__).resolve().parents[2] / "docs" / "clinical"


def test_committed_reference_matches_the_data(tmp_path: Path) -> None:
    write(tmp_path)
    for name in PAGES:
        committed = DOCS / name
        assert committed.exists(), f"docs/clinical/{name} is missing: run `make docs`"
        assert committed.read_text(encoding="utf-8") == (tmp_path / name).read_text(
            encoding="utf-8"
        ), f"docs/clinical/{name} is out of date with the clinical data: run `make docs`"


def test_reference_shows_every_rule_with_its_source() -> None:
    from hipspine.clinical.rules import all_rules

    page = PAGES["assessment.md"]()
    for rule in all_rules():
        assert f"### {rule.title}" in page
        assert rule.citation in page


def test_reference_labels_expert_defaults_and_unverified_cut_offs() -> None:
    assert "expert default (no published accuracy)" in PAGES["assessment.md"]()
    assert "unverified cut-offs" in PAGES["vocabulary.md"]()


def test_committed_api_reference_matches_the_api(tmp_path: Path) -> None:
    from hipspine.web.reference import write as write_api

    generated = write_api(tmp_path).read_text(encoding="utf-8")
    committed = DOCS.parent / "integrator" / "api.md"
    assert committed.read_text(encoding="utf-8") == generated, (
        "docs/integrator/api.md is out of date with the API: run `make docs`"
    )


def test_assessment_page_names_the_pain_location_rule_and_how_it_is_applied() -> None:
    page = PAGES["assessment.md"]()
    assert "## Guggino pain-location rule" in page
    assert "Guggino S. Hip and low back pain" in page
    assert "Lateral to the hip" in page and "not tender" in page
    assert "Wilson 2014; Chamberlain 2021" in page
    assert "more likely side" in page
    assert "superseded" in page
    assert "*Possibly secondary*" in page
    assert "`weishaupt_facet` ≥ 2 | expert default" in page


def test_vocabulary_page_documents_muscles_mrc_definitions_and_unweighed_findings() -> None:
    from hipspine.clinical.assessment import findings_not_weighed
    from hipspine.clinical.vocabulary import findings, muscles

    page = PAGES["vocabulary.md"]()
    for muscle in muscles().values():
        assert muscle.origin in page and muscle.insertion in page
    assert "A muscle is weak when graded below 5" in page
    assert "MRC Memorandum No. 45" in page
    for finding in ("sign_of_the_buttock", "empty_end_feel", "psoas_sign"):
        assert f"(`{finding}`): {findings()[finding].definition}" in page
    for finding in findings_not_weighed():
        assert f"(`{finding}`)" in page.split("### Recorded but not weighed")[1]
    assert "`as_needed`" in page and "## Diagnoses" in page
    assert "a region with no mark means no pain" in page
    assert "expert default" in page.split("Spinopelvic balance")[1]


def test_red_flag_page_lists_lab_thresholds_with_their_basis() -> None:
    page = PAGES["red-flags.md"]()
    assert "ESR ≥20 mm/h" in page and "Sn 78%, Sp 67%" in page
    assert "CRP above 10 mg/L | `crp` | expert default" in page
    assert "osteoporosis ← diagnosis osteoporosis" in page
    for item in ("intravenous drug use", "immunosuppression", "osteoporosis"):
        assert item in page.split("were not asked")[1]


def test_case_format_page_documents_every_field_and_its_example_is_valid() -> None:
    from hipspine.clinical.case import case_json_schema

    page = PAGES["case-format.md"]()
    schema = case_json_schema()
    for definition in [schema, *schema["$defs"].values()]:
        for field in definition.get("properties", {}):
            assert f"| `{field}` |" in page
    assert "a region with no mark means no pain" in page
    assert "Unknown is not absent" in page
