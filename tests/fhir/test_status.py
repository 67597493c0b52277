"""A resource whose status says it did not happen, or was recorded in error, never becomes a
record: it is counted as unused with the reason. Statuses that describe something that did
happen are kept, closed or stopped where the status says so; a resource without its status
(required in R4), or with one outside its value set, is rejected naming the field; and what
hipspine exports imports back as the same record."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from hipspine.clinical import instruments
from hipspine.fhir.exporter import export_patient
from hipspine.fhir.importer import Importer, Report
from hipspine.fhir.questionnaire import canonical
from hipspine.store.models import (
    Base,
    Episode,
    Goal,
    Medication,
    Patient,
    TherapyRegimen,
)
from hipspine.store.records import Records
from tests.fhir.support import DAY0, imported_ids, johns_record, pain_rating

CS = "https://hipspine.org/fhir/CodeSystem"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _import(db, world, resources: list[dict[str, Any]]) -> Report:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    return Importer(db, world.admin_a).import_bundle(bundle, "status.json")


def _stored(db, table: str, ids: list[str], clinic_id: str) -> dict[str, dict[str, Any]]:
    """The rows of ``table`` that the resources with these source ids became, by source id
    (column values in their Python types)."""
    became = imported_ids(db, clinic_id, table, ids)
    source = {record: source for source, record in became.items()}
    columns = Base.metadata.tables[table]
    with db.engine.connect() as connection:
        found = connection.execute(sa.select(columns).where(columns.c.id.in_(source))).mappings()
        return {source[row["id"]]: dict(row) for row in found}


def _unused(report: Report, kind: str) -> dict[str, int]:
    return {reason: n for (k, reason), n in report.unused.items() if k == kind}


# -- Observation --------------------------------------------------------------------------


def _pain(world, rid: str, status: str, value: int = 9) -> dict[str, Any]:
    return pain_rating(f"Patient/{world.john}", value, rid, status=status)


def test_observation_statuses(db, world):
    kept = ["final", "amended", "corrected", "preliminary"]
    dropped = ["entered-in-error", "cancelled", "registered", "unknown"]
    strength = {
        "resourceType": "Observation", "id": "obs-strength-cancelled", "status": "cancelled",
        "code": {"coding": [{"system": f"{CS}/observation", "code": "muscle-strength"}]},
        "subject": {"reference": f"Patient/{world.john}"}, "effectiveDateTime": "2025-11-17",
        "bodySite": {"coding": [{"system": f"{CS}/muscle", "code": "gluteus_maximus"}]},
    }  # fmt: skip
    report = _import(db, world, [*(_pain(world, f"obs-{s}", s) for s in kept + dropped), strength])
    assert report.problem_count == 0, report.problems
    stored = _stored(
        db, "pain_rating", [f"obs-{s}" for s in kept + dropped], world.admin_a.clinic_id
    )
    assert set(stored) == {f"obs-{s}" for s in kept}
    assert _unused(report, "Observation") == {
        "Observation with status 'entered-in-error': entered in error": 1,
        "Observation with status 'cancelled': not made": 2,  # the pain rating and strength test
        "Observation with status 'registered': no result yet": 1,
        "Observation with status 'unknown': it may have been cancelled or entered in error": 1,
    }
    assert not _stored(db, "strength_test", ["obs-strength-cancelled"], world.admin_a.clinic_id)


# -- Condition ----------------------------------------------------------------------------


def _condition(world, rid: str, **status: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition", "id": rid,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "239872002"}]},
        "subject": {"reference": f"Patient/{world.john}"}, "onsetDateTime": "2024-11-01",
    }  # fmt: skip
    for key, value in status.items():
        if key in ("clinical", "verification"):
            system = CLINICAL if key == "clinical" else VERIFICATION
            resource[f"{key}Status"] = {"coding": [{"system": system, "code": value}]}
        else:
            resource[key] = value
    return resource


def test_condition_verification_and_clinical_statuses(db, world):
    resources = [
        # the reviewer's case: ruled out and resolved is no episode at all
        _condition(world, "c-refuted", verification="refuted", clinical="resolved",
                   abatementDateTime="2025-01-01"),
        _condition(world, "c-error", verification="entered-in-error"),
        *(_condition(world, f"c-{v}", verification=v, clinical="active")
          for v in ("confirmed", "provisional", "differential", "unconfirmed")),
        _condition(world, "c-resolved", clinical="resolved", abatementDateTime="2025-06-30"),
        _condition(world, "c-remission", clinical="remission",
                   abatementPeriod={"start": "2025-03-01", "end": "2025-04-15"}),
        _condition(world, "c-inactive", clinical="inactive",
                   abatementPeriod={"start": "2025-05-02"}),
        _condition(world, "c-active-abated", clinical="active", abatementDateTime="2025-06-30"),
        _condition(world, "c-recurrence", clinical="recurrence"),
        _condition(world, "c-no-status", abatementDateTime="2025-07-01"),
        _condition(world, "c-resolved-undated", clinical="resolved"),
        _condition(world, "c-abated-before-onset", clinical="resolved",
                   abatementDateTime="2020-01-01"),
    ]  # fmt: skip
    report = _import(db, world, resources)
    assert _unused(report, "Condition") == {
        "Condition refuted (the diagnosis was ruled out)": 1,
        "Condition entered in error": 1,
    }
    problems = {p.where: p.reason for p in report.problems}
    assert problems == {
        "entry 12": "Condition: abatement[x]: a Condition with clinicalStatus 'resolved' needs "
        "the date it abated (abatementDateTime or abatementPeriod) to close its episode",
        "entry 13": "Condition: abatement: 2020-01-01 is before the onset (2024-11-01)",
    }
    stored = _stored(db, "episode", [r["id"] for r in resources], world.admin_a.clinic_id)
    closed = {rid: row["closed_on"] for rid, row in stored.items()}
    assert closed == {
        "c-confirmed": None, "c-provisional": None, "c-differential": None,
        "c-unconfirmed": None, "c-active-abated": None, "c-recurrence": None,
        "c-resolved": date(2025, 6, 30), "c-remission": date(2025, 4, 15),
        "c-inactive": date(2025, 5, 2), "c-no-status": date(2025, 7, 1),
    }  # fmt: skip


# -- MedicationStatement and MedicationRequest --------------------------------------------


def _medication(world, kind: str, rid: str, status: str, **more: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": kind, "id": rid, "status": status,
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "5640", "display": "ibuprofen"}]
        },
        "subject": {"reference": f"Patient/{world.john}"},
    }  # fmt: skip
    if kind == "MedicationRequest":
        resource["intent"] = "order"
    resource.update(more)
    return resource


def test_medication_statuses(db, world):
    statement, request = "MedicationStatement", "MedicationRequest"
    period = {"start": "2025-01-10", "end": "2025-09-30"}
    resources = [
        # the reviewer's case: ibuprofen not taken is no use of it
        _medication(world, statement, "ms-not-taken", "not-taken"),
        *(_medication(world, statement, f"ms-{s}", s)
          for s in ("entered-in-error", "intended", "unknown")),
        _medication(world, statement, "ms-active", "active"),
        _medication(world, statement, "ms-as-needed", "active",
                    dosage=[{"asNeededBoolean": True}]),
        _medication(world, statement, "ms-stopped", "stopped", effectivePeriod=period),
        _medication(world, statement, "ms-completed", "completed"),
        _medication(world, statement, "ms-on-hold", "on-hold"),
        *(_medication(world, request, f"mr-{s}", s)
          for s in ("cancelled", "draft", "entered-in-error", "unknown")),
        _medication(world, request, "mr-do-not", "active", doNotPerform=True),
        _medication(world, request, "mr-active", "active", authoredOn="2025-02-01"),
        _medication(world, request, "mr-stopped", "stopped"),
    ]  # fmt: skip
    report = _import(db, world, resources)
    assert report.problem_count == 0, report.problems
    assert _unused(report, statement) == {
        "MedicationStatement with status 'not-taken': not taken": 1,
        "MedicationStatement with status 'entered-in-error': entered in error": 1,
        "MedicationStatement with status 'intended': intended, not started": 1,
        "MedicationStatement with status 'unknown': whether it is taken is not known": 1,
    }
    assert _unused(report, request) == {
        "MedicationRequest with status 'cancelled': cancelled before any was taken": 1,
        "MedicationRequest with status 'draft': a draft, never prescribed": 1,
        "MedicationRequest with status 'entered-in-error': entered in error": 1,
        "MedicationRequest with status 'unknown': whether it is taken is not known": 1,
        "MedicationRequest with doNotPerform: an order not to take it": 1,
    }
    stored = _stored(db, "medication", [r["id"] for r in resources], world.admin_a.clinic_id)
    assert {rid: (row["pattern"], row["stopped_on"]) for rid, row in stored.items()} == {
        "ms-active": ("regular", None),
        "ms-as-needed": ("as_needed", None),
        "ms-stopped": ("stopped", date(2025, 9, 30)),
        "ms-completed": ("stopped", None),
        "ms-on-hold": ("stopped", None),
        "mr-active": ("regular", None),
        "mr-stopped": ("stopped", None),
    }


# -- Procedure ----------------------------------------------------------------------------


def test_procedure_statuses(db, world):
    def procedure(status: str) -> dict[str, Any]:
        return {
            "resourceType": "Procedure", "id": f"p-{status}", "status": status,
            "code": {"coding": [{"system": f"{CS}/procedure-type", "code": "prp"}]},
            "subject": {"reference": f"Patient/{world.john}"},
            "performedDateTime": "2025-12-01",
        }  # fmt: skip

    kept = ["completed", "in-progress"]
    dropped = ["preparation", "not-done", "on-hold", "stopped", "entered-in-error", "unknown"]
    report = _import(db, world, [procedure(s) for s in kept + dropped])
    assert report.problem_count == 0, report.problems
    assert set(
        _stored(db, "procedure", [f"p-{s}" for s in kept + dropped], world.admin_a.clinic_id)
    ) == {f"p-{s}" for s in kept}
    assert _unused(report, "Procedure") == {
        "Procedure with status 'preparation': in preparation, not started": 1,
        "Procedure with status 'not-done': not done": 1,
        "Procedure with status 'on-hold': on hold, not done": 1,
        "Procedure with status 'stopped': stopped before it was done": 1,
        "Procedure with status 'entered-in-error': entered in error": 1,
        "Procedure with status 'unknown': whether it was done is not known": 1,
    }


# -- QuestionnaireResponse ----------------------------------------------------------------


def test_questionnaire_response_statuses(db, world):
    def response(status: str) -> dict[str, Any]:
        return {
            "resourceType": "QuestionnaireResponse", "id": f"qr-{status}",
            "questionnaire": canonical(instruments.get("groc")),
            "status": status, "subject": {"reference": f"Patient/{world.john}"},
            "authored": "2025-12-01",
            "item": [{"linkId": "groc", "answer": [{"valueCoding": {
                "system": f"{CS}/answer-groc", "code": "5"}}]}],
        }  # fmt: skip

    kept = ["completed", "amended"]
    dropped = ["in-progress", "stopped", "entered-in-error"]
    report = _import(db, world, [response(s) for s in kept + dropped])
    assert report.problem_count == 0, report.problems
    stored = _stored(
        db, "questionnaire_response", [f"qr-{s}" for s in kept + dropped], world.admin_a.clinic_id
    )
    assert {rid: row["score"] for rid, row in stored.items()} == {
        "qr-completed": 5.0,
        "qr-amended": 5.0,
    }
    assert _unused(report, "QuestionnaireResponse") == {
        "QuestionnaireResponse with status 'in-progress': still being filled in, not completed": 1,
        "QuestionnaireResponse with status 'stopped': stopped before completion": 1,
        "QuestionnaireResponse with status 'entered-in-error': entered in error": 1,
    }


# -- CarePlan and Goal --------------------------------------------------------------------


def test_care_plan_statuses(db, world):
    def plan(rid: str, status: str, **period: str) -> dict[str, Any]:
        return {
            "resourceType": "CarePlan", "id": rid, "status": status, "intent": "plan",
            "category": [{"coding": [{"system": f"{CS}/care-plan-category",
                                      "code": "physical-therapy"}]}],
            "subject": {"reference": f"Patient/{world.john}"},
            "period": {"start": "2025-11-17", **period},
        }  # fmt: skip

    resources = [
        plan("cp-active", "active"),
        plan("cp-on-hold", "on-hold"),
        plan("cp-completed", "completed", end="2026-02-01"),
        plan("cp-revoked", "revoked", end="2025-12-10"),
        plan("cp-completed-undated", "completed"),
        plan("cp-draft", "draft"),
        plan("cp-error", "entered-in-error"),
        plan("cp-unknown", "unknown"),
    ]
    report = _import(db, world, resources)
    assert [p.reason for p in report.problems] == [
        "CarePlan: period.end: a completed CarePlan needs the day its regimen ended"
    ]
    assert _unused(report, "CarePlan") == {
        "CarePlan with status 'draft': a draft, never agreed": 1,
        "CarePlan with status 'entered-in-error': entered in error": 1,
        "CarePlan with status 'unknown': whether it was followed is not known": 1,
    }
    stored = _stored(db, "therapy_regimen", [r["id"] for r in resources], world.admin_a.clinic_id)
    assert {rid: row["stopped_on"] for rid, row in stored.items()} == {
        "cp-active": None,
        "cp-on-hold": None,
        "cp-completed": date(2026, 2, 1),
        "cp-revoked": date(2025, 12, 10),
    }


def test_goal_statuses(db, world):
    def goal(status: str) -> dict[str, Any]:
        return {
            "resourceType": "Goal", "id": f"g-{status}", "lifecycleStatus": status,
            "category": [{"coding": [{"system": f"{CS}/goal-category", "code": "functional"}]}],
            "description": {"text": "6-mile hike with elevation gain in October"},
            "subject": {"reference": f"Patient/{world.john}"},
        }  # fmt: skip

    kept = ["proposed", "planned", "accepted", "active", "on-hold", "completed"]
    dropped = ["cancelled", "rejected", "entered-in-error"]
    report = _import(db, world, [goal(s) for s in kept + dropped])
    assert report.problem_count == 0, report.problems
    assert set(
        _stored(db, "goal", [f"g-{s}" for s in kept + dropped], world.admin_a.clinic_id)
    ) == {f"g-{s}" for s in kept}
    assert _unused(report, "Goal") == {
        "Goal with lifecycleStatus 'cancelled': cancelled, no goal of the patient": 1,
        "Goal with lifecycleStatus 'rejected': rejected, no goal of the patient": 1,
        "Goal with lifecycleStatus 'entered-in-error': entered in error": 1,
    }


# -- Encounter ----------------------------------------------------------------------------


def _encounter(world, rid: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter", "id": rid, "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": f"{CS}/encounter-kind", "code": "follow_up"}]}],
        "subject": {"reference": f"Patient/{world.john}"}, "period": {"start": "2026-01-05"},
    }  # fmt: skip


def test_encounter_statuses(db, world):
    # "unknown" is as for every other resource: it may have been cancelled or entered in
    # error, so it is no visit hipspine can count on.
    kept = ["finished", "in-progress", "arrived", "triaged", "onleave"]
    dropped = ["planned", "cancelled", "entered-in-error", "unknown"]
    report = _import(db, world, [_encounter(world, f"e-{s}", s) for s in kept + dropped])
    assert report.problem_count == 0, report.problems
    assert set(
        _stored(db, "encounter", [f"e-{s}" for s in kept + dropped], world.admin_a.clinic_id)
    ) == {f"e-{s}" for s in kept}
    assert _unused(report, "Encounter") == {
        "Encounter with status 'planned': planned, not yet taken place": 1,
        "Encounter with status 'cancelled': cancelled, no visit took place": 1,
        "Encounter with status 'entered-in-error': entered in error": 1,
        "Encounter with status 'unknown': it may have been cancelled or entered in error": 1,
    }


# -- a status is required -----------------------------------------------------------------


def _procedure(world, rid: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure", "id": rid, "status": status,
        "code": {"coding": [{"system": f"{CS}/procedure-type", "code": "prp"}]},
        "subject": {"reference": f"Patient/{world.john}"}, "performedDateTime": "2025-12-01",
    }  # fmt: skip


def _response(world, rid: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse", "id": rid, "status": status,
        "questionnaire": canonical(instruments.get("groc")),
        "subject": {"reference": f"Patient/{world.john}"}, "authored": "2025-12-01",
        "item": [{"linkId": "groc", "answer": [{"valueCoding": {
            "system": f"{CS}/answer-groc", "code": "5"}}]}],
    }  # fmt: skip


VALUE_SETS = {
    "Observation": "https://hl7.org/fhir/R4/valueset-observation-status.html",
    "Procedure": "https://hl7.org/fhir/R4/valueset-event-status.html",
    "QuestionnaireResponse": "https://hl7.org/fhir/R4/valueset-questionnaire-answers-status.html",
    "Encounter": "https://hl7.org/fhir/R4/valueset-encounter-status.html",
    "MedicationStatement": "https://hl7.org/fhir/R4/valueset-medication-statement-status.html",
}


def test_a_missing_or_unknown_status_is_rejected_naming_the_field_for_every_resource(db, world):
    """R4 requires the status of each of these (1..1, bound to its value set): without one,
    or with a code outside the value set, a resource is rejected as a problem naming the
    field and the allowed codes — the same for Observation, Procedure and
    QuestionnaireResponse (and every other mapping), never counted as unused."""
    makers = {
        "Observation": lambda rid, status: _pain(world, rid, status),
        "Procedure": lambda rid, status: _procedure(world, rid, status),
        "QuestionnaireResponse": lambda rid, status: _response(world, rid, status),
        "Encounter": lambda rid, status: _encounter(world, rid, status),
        "MedicationStatement": lambda rid, status: _medication(
            world, "MedicationStatement", rid, status
        ),
    }
    resources = []
    for kind, make in makers.items():
        missing = make(f"{kind}-missing", "final")
        del missing["status"]
        resources += [missing, make(f"{kind}-made-up", "done")]
    report = _import(db, world, resources)
    assert not report.unused and not report.stored_total
    problems = [p.reason for p in report.problems]
    assert len(problems) == len(resources)
    for index, kind in enumerate(makers):
        missing, made_up = problems[2 * index : 2 * index + 2]
        assert missing.startswith(
            f"{kind}: status: required in FHIR R4 ({VALUE_SETS[kind]}); allowed: "
        ), missing
        assert made_up.startswith(
            f"{kind}: status: 'done' is not in {VALUE_SETS[kind]}; allowed: "
        ), made_up
    assert (
        "allowed: completed, in-progress, preparation, not-done, on-hold, stopped, "
        in (problems[2])
    )


# -- what hipspine exports comes back the same --------------------------------------------


def test_closed_and_stopped_records_round_trip(db, world):
    with db.transaction() as session:
        jo = Records(session, world.clinician_a).add_patient(
            name="Jo Hipspine", identifier="A-9", sex="male", birth_date=date(1968, 5, 2)
        )
        records = Records(session, world.clinician_a)
        records.add(
            Episode(
                patient_id=jo.id, condition="hip_osteoarthritis", side="left",
                started_on=date(2023, 1, 5), closed_on=date(2024, 3, 1),
            )
        )  # fmt: skip
        records.add(
            Medication(
                patient_id=jo.id, name="ibuprofen", pattern="as_needed", days_per_week=2,
                started_on=date(2024, 1, 1), stopped_on=date(2025, 10, 1),
            )
        )  # fmt: skip
        records.add(Medication(patient_id=jo.id, name="naproxen", pattern="stopped"))
        records.add(
            TherapyRegimen(
                patient_id=jo.id, started_on=DAY0, stopped_on=date(2026, 1, 12),
                exercises=[{"name": "bridge", "sets": 3, "reps": 12}],
            )
        )  # fmt: skip
        records.add(Goal(patient_id=jo.id, description="Walk the dog for an hour", ratings=[]))
        jo_id = jo.id
    johns_record(db, world.clinician_a, jo_id)
    first = export_patient(db, world.clinician_a, jo_id)
    with db.transaction() as session:
        session.delete(session.get(Patient, jo_id))

    report = Importer(db, world.clinician_a).import_bundle(first, "jo.json")
    assert report.problem_count == 0, report.problems
    assert {kind for kind, _ in report.unused} <= {"Observation", "Questionnaire"}
    assert export_patient(db, world.clinician_a, jo_id) == first
