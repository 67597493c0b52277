"""CarePlan: a stopped physical-therapy regimen is ``completed`` with ``period.end`` (its
last day), a running one ``active`` without it; import maps both back, and export →
import → export of a patient with both is identical."""

from __future__ import annotations

from datetime import date

import pytest
from fhir.resources.R4B.careplan import CarePlan
from sqlalchemy import select

from hipspine.fhir import careplan
from hipspine.fhir._common import Invalid
from hipspine.fhir.exporter import export_patient
from hipspine.fhir.importer import Importer
from hipspine.fhir.validate import problem
from hipspine.store.models import Patient, TherapyRegimen
from hipspine.store.records import Records
from hipspine.web.fhir_reference import fhir_page
from tests.fhir.support import johns_record

ROW = {
    "id": "5b0c59c1-4a5e-4a52-9a3c-3f7d3c1f1a10",
    "patient_id": "0d7f2b0e-7b43-4c8e-9a59-5ad1d0d7a1a2",
    "started_on": date(2025, 12, 15),
    "stopped_on": None,
    "exercises": [{"name": "Glute bridge", "sets": 3, "reps": 12}],
    "adherence_percent": 85.0,
}


def test_a_running_regimen_is_active_and_a_stopped_one_completed_with_its_last_day() -> None:
    running = careplan.to_fhir(ROW)
    assert running["status"] == "active" and running["period"] == {"start": "2025-12-15"}
    assert running["activity"][0]["detail"]["status"] == "in-progress"
    stopped = careplan.to_fhir({**ROW, "stopped_on": date(2026, 6, 30)})
    assert stopped["status"] == "completed"
    assert stopped["period"] == {"start": "2025-12-15", "end": "2026-06-30"}
    assert stopped["activity"][0]["detail"]["status"] == "completed"
    for resource in (running, stopped):
        CarePlan.model_validate(resource)
        assert problem(resource) is None
    assert careplan.from_fhir(running)["stopped_on"] is None
    back = careplan.from_fhir(stopped)
    assert (back["started_on"], back["stopped_on"]) == (date(2025, 12, 15), date(2026, 6, 30))


def test_an_end_before_the_start_is_refused_naming_the_field() -> None:
    resource = careplan.to_fhir({**ROW, "stopped_on": date(2026, 6, 30)})
    resource["period"]["end"] = "2025-12-01"
    with pytest.raises(Invalid, match=r"period\.end: 2025-12-01 is before period\.start"):
        careplan.from_fhir(resource)
    resource["period"]["end"] = "June"
    with pytest.raises(Invalid, match=r"period\.end"):
        careplan.from_fhir(resource)


def test_export_import_export_keeps_the_stop_date(db, world) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        records = Records(session, world.clinician_a)
        jo = records.add_patient(name="Jo Stopped", identifier="A-7", sex="male").id
    johns_record(db, world.clinician_a, jo)  # one running regimen
    with db.transaction() as session:
        Records(session, world.clinician_a).add(
            TherapyRegimen(
                patient_id=jo,
                started_on=date(2025, 9, 1),
                stopped_on=date(2025, 10, 31),
                exercises=[{"name": "Clamshell", "target_muscles": ["gluteus_medius_minimus"]}],
            )
        )
    first = export_patient(db, world.clinician_a, jo)
    plans = [e["resource"] for e in first["entry"] if e["resource"]["resourceType"] == "CarePlan"]
    assert sorted(p["status"] for p in plans) == ["active", "completed"]
    with db.transaction() as session:
        session.delete(session.get(Patient, jo))

    report = Importer(db, world.clinician_a).import_bundle(first, "jo.json")
    assert report.problem_count == 0, report.problems
    assert export_patient(db, world.clinician_a, jo) == first
    with db.transaction() as session:
        stops = session.execute(
            select(TherapyRegimen.started_on, TherapyRegimen.stopped_on).where(
                TherapyRegimen.patient_id == jo
            )
        ).all()
    assert sorted(stops, key=lambda r: r[0]) == [
        (date(2025, 9, 1), date(2025, 10, 31)),
        (date(2025, 11, 17), None),
    ]


def test_a_paused_regimen_is_kept_running_and_the_reference_says_it_exports_as_active() -> None:
    """hipspine records no pause (``therapy_regimen`` is running or stopped), so an
    ``on-hold`` CarePlan is kept as a running regimen and comes back ``active``; the FHIR
    reference says so instead of promising that the status is kept as it is."""
    paused = {**careplan.to_fhir(ROW), "status": "on-hold"}
    row = careplan.from_fhir(paused)
    assert row["stopped_on"] is None
    again = careplan.to_fhir({**ROW, **row})
    assert again["status"] == "active" and again == careplan.to_fhir(ROW)
    assert careplan.RUNNING == ("active", "on-hold")

    section = fhir_page().split("## CarePlan", 1)[1].split("\n## ", 1)[0]
    assert "kept as they are" not in section
    assert "`on-hold` (paused) is kept as a running regimen too" in section
    assert "a paused regimen is exported as `active`" in section
