"""The committed FHIR reference must match what the mappings and their data files generate,
list every code they hold, and mark each unverified code as unverified."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fhir.resources.R4B import get_fhir_model_class

from hipspine.clinical import instruments
from hipspine.fhir._common import table
from hipspine.fhir.exporter import SECTIONS
from hipspine.fhir.importer import MAPPERS
from hipspine.web.api.fhir import router
from hipspine.web.fhir_reference import UNVERIFIED, fhir_page, write

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "integrator" / "fhir.md"


@pytest.fixture(scope="module")
def page() -> str:
    return fhir_page()


def rows(page: str, code: str) -> list[str]:
    """The table rows of the page that list ``code``."""
    found = [line for line in page.splitlines() if line.startswith("|") and f"`{code}`" in line]
    assert found, f"{code} is not in any table of the FHIR reference"
    return found


def test_committed_fhir_reference_matches_the_code(tmp_path: Path, page: str) -> None:
    assert write(tmp_path) == tmp_path / "fhir.md"
    assert (tmp_path / "fhir.md").read_text(encoding="utf-8") == page
    assert COMMITTED.exists(), "docs/integrator/fhir.md is missing: run `make docs`"
    assert COMMITTED.read_text(encoding="utf-8") == page, (
        "docs/integrator/fhir.md is out of date with the FHIR mappings: run `make docs`"
    )


def test_every_code_of_the_data_files_is_listed(page: str) -> None:
    codes: list[str] = []
    for entry in table("conditions")["condition"]:
        codes += [entry["snomed"], *entry.get("also_snomed", ()), *entry["icd10cm"].values()]
    laterality = table("conditions")["laterality"]
    codes += [v["code"] for v in laterality.values() if isinstance(v, dict)]
    observations = table("observations")
    codes += [observations["pain"]["loinc"], observations["strength"]["code"]]
    codes += list(observations["function"])
    codes += [m["rxnorm"] for m in table("medications")["medication"]]
    codes += [m["rxnorm"] for m in table("medications")["product"]]
    codes += [p["code"] for p in table("procedures")["external"]]
    imaging = table("imaging")
    codes += [imaging["report"]["loinc"], *(f["code"] for f in imaging["finding"].values())]
    for instrument in instruments.all_instruments():
        codes += [c.code for c in instrument.loinc]
        codes += [s.loinc for s in instrument.subscales if s.loinc]
    assert "72514-3" in codes
    for code in codes:
        rows(page, code)


def test_unverified_codes_are_marked_and_verified_ones_are_not(page: str) -> None:
    checks: list[tuple[str, bool]] = []
    for entry in table("conditions")["condition"]:
        checks.append((entry["snomed"], entry["snomed_verified"]))
        checks += [(code, entry["icd10cm_verified"]) for code in entry["icd10cm"].values()]
        checks += [(code, False) for code in entry.get("also_snomed", ())]
    checks += [(m["rxnorm"], m["verified"]) for m in table("medications")["medication"]]
    checks += [(m["rxnorm"], m["verified"]) for m in table("medications")["product"]]
    checks += [(p["code"], p["verified"]) for p in table("procedures")["external"]]
    assert any(not verified for _, verified in checks)
    for code, verified in checks:
        for row in rows(page, code):
            if verified:
                assert "| verified |" in row or f"{UNVERIFIED} in part" in row, row
            else:
                assert f"| {UNVERIFIED} |" in row, row


def test_instrument_loinc_codes_show_the_check_their_data_file_records(page: str) -> None:
    codes = [(code, i) for i in instruments.all_instruments() for code in i.loinc]
    assert codes
    for code, instrument in codes:
        shown = rows(page, code.code)
        assert shown, (instrument.id, code.code)
        for row in shown:
            if code.verified:
                assert "| verified |" in row and code.source in row, row
            else:
                assert f"| {UNVERIFIED} |" in row, row


def test_every_mapping_record_and_api_path_is_on_the_page(page: str) -> None:
    headings = [line for line in page.splitlines() if line.startswith("## ")]
    for kind in ("Patient", *MAPPERS):
        assert any(kind in heading for heading in headings), kind
    for model, _ in SECTIONS:
        assert f"`{model.__tablename__}`" in page, model.__tablename__
    for route in router.routes:
        assert isinstance(route, APIRoute)
        assert f"`{route.path}`" in page, route.path


def test_every_json_example_on_the_page_is_valid_fhir_r4(page: str) -> None:
    """What an integrator copies from the reference (mapped resources, the import's
    OperationOutcome, a transaction-response) validates against the R4B models."""
    blocks = re.findall(r"```json\n(.*?)\n```", page, re.S)
    kinds = []
    for block in blocks:
        resource = json.loads(block)
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        kinds.append(resource["resourceType"])
    assert {"OperationOutcome", "Bundle", "Encounter"} <= set(kinds), kinds
