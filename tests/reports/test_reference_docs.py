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
