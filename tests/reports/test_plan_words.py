"""The plan in words, as the patient page and the PDF say it: procedures of hipspine and of
other systems, and the drug class a medication name falls in (combination products)."""

from __future__ import annotations

import datetime as dt

import pytest

from hipspine.reports.progress import drug_class, procedure_text
from hipspine.store.models import Procedure

DAY = dt.date(2025, 12, 1)


def test_johns_injection_reads_with_its_targets_and_guidance() -> None:
    injection = Procedure(
        type="adipose_derived_cells",
        targets=[
            {"site": "hip_joint", "side": "right"},
            {"site": "facet", "level": "L4-L5", "side": "bilateral"},
        ],
        guidance="ultrasound",
        performed_on=DAY,
    )
    assert procedure_text(injection) == (
        "adipose-derived cell injection into the right hip joint; bilateral L4-L5 facet joint, "
        "ultrasound-guided"
    )


def test_an_imported_procedure_is_named_by_its_code_and_says_no_empty_target() -> None:
    therapy = Procedure(
        type="other",
        targets=[],
        guidance=None,
        performed_on=DAY,
        code={
            "system": "http://snomed.info/sct",
            "code": "91251008",
            "display": "Physical therapy procedure (regime/therapy)",
        },
    )
    assert procedure_text(therapy) == "Physical therapy procedure (regime/therapy)"
    assert procedure_text(Procedure(type="other", targets=[], performed_on=DAY)) == "procedure"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ibuprofen", "nsaid"),
        ("Ibuprofen 200 MG Oral Tablet", "nsaid"),
        ("Naproxen sodium 220 MG Oral Tablet", "nsaid"),
        ("Acetaminophen 325 MG Oral Tablet", "paracetamol"),
        # A combination with an opioid is an opioid, whichever ingredient is named first.
        ("Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet", "opioid"),
        ("Oxycodone Hydrochloride 5 MG Oral Tablet", "opioid"),
        ("tramadol", "opioid"),
        # An ingredient is matched as a word, never inside another word.
        ("Metformin 500 MG Oral Tablet", "other"),
        ("pseudoibuprofenate", "other"),
    ],
)
def test_drug_class_of_a_medication_name(name: str, kind: str) -> None:
    assert drug_class(name) == kind
