"""Bundles that link their entries by ``urn:uuid:`` fullUrls, as Synthea and most EHRs write
them, lose no link, on SQLite and PostgreSQL: every reference to another entry's fullUrl,
wherever it is in a resource, is read as that entry's ``Type/id``; John's record sent that
way lands with the same visits and episodes linked as when sent with literal references."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from hipspine.fhir import bundle
from hipspine.fhir.exporter import export_patient
from hipspine.fhir.imaging import CARRIED
from hipspine.fhir.importer import UNUSED_TYPE, Importer, Report
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    Clinic,
    Encounter,
    Episode,
    FhirSource,
    FunctionTest,
    PainRating,
    Procedure,
    QuestionnaireResponse,
    StrengthTest,
    TherapyRegimen,
    User,
)
from hipspine.web.demo import seed_john
from tests.fhir.support import counts, pain_rating

_NAMESPACE = uuid.UUID("0b6a4f36-2f4e-4c59-8d0e-6a1c2f1f7e21")
VISIT_LINKS = (PainRating, StrengthTest, FunctionTest, QuestionnaireResponse)
EPISODE_LINKS = (Encounter, Procedure, TherapyRegimen)


def _as_urn_uuid(data: dict[str, Any], *, with_ids: bool) -> dict[str, Any]:
    """``data`` as Synthea writes a transaction Bundle: every resource gets a new id X, its
    entry the fullUrl ``urn:uuid:X``, and every reference to it becomes ``urn:uuid:X``.
    Without ids, the resources carry none: a transaction's ``POST`` entries, known only by
    their fullUrl."""
    new = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": str(
            uuid.uuid5(_NAMESPACE, f"{e['resource']['resourceType']}/{e['resource']['id']}")
        )
        for e in data["entry"]
    }

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: f"urn:uuid:{new[item]}"
                if key == "reference" and item in new
                else rewrite(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    entries = []
    for entry in data["entry"]:
        source = entry["resource"]
        rid = new[f"{source['resourceType']}/{source['id']}"]
        resource = rewrite(source)
        if with_ids:
            resource["id"] = rid
        else:
            del resource["id"]
        entries.append(
            {
                "fullUrl": f"urn:uuid:{rid}",
                "resource": resource,
                "request": {"method": "POST", "url": source["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _fresh_clinic(db: Database) -> Actor:
    """An admin of a clinic of its own, that holds nothing yet."""
    with db.transaction() as session:
        clinic = Clinic(name="Fresh Clinic")
        session.add(clinic)
        session.flush()
        admin = User(clinic_id=clinic.id, email="admin.c@example.org", name="C", role="admin")
        session.add(admin)
        session.flush()
        return Actor(admin.id, "admin", clinic.id)


def _copy_of(db: Database, actor: Actor, source_id: str) -> str:
    """The patient a clinic's import made of the source's Patient ``source_id``."""
    with db.transaction() as session:
        return session.scalars(
            sa.select(FhirSource.patient_id).where(
                FhirSource.clinic_id == actor.clinic_id,
                FhirSource.resource_type == "Patient",
                FhirSource.source_id == source_id,
            )
        ).one()


def _links(db: Database, patient_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Per record table, the visit (kind, day, note) or episode (condition, side, start)
    each record names, None where it names none: what the links say, whatever the ids."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    groups = ((VISIT_LINKS, "encounter_id", Encounter), (EPISODE_LINKS, "episode_id", Episode))
    with db.engine.connect() as connection:
        for models, column, target in groups:
            linked = target.__table__
            described = (
                (linked.c.kind, linked.c.occurred_on, linked.c.note)
                if target is Encounter
                else (linked.c.condition, linked.c.side, linked.c.started_on)
            )
            for model in models:
                table = model.__table__
                query = (
                    sa.select(table.c[column], *described)
                    .select_from(table.outerjoin(linked, linked.c.id == table.c[column]))
                    .where(table.c.patient_id == patient_id)
                )
                rows = [tuple(row) for row in connection.execute(query)]
                found[table.name] = sorted(
                    (row[1:] if row[0] is not None else (None,) for row in rows), key=repr
                )
    return found


def _import(db: Database, actor: Actor, data: dict[str, Any]) -> Report:
    report = Importer(db, actor).import_bundle(data, "john.json")
    assert report.problem_count == 0, report.problems
    return report


@pytest.mark.parametrize("with_ids", [True, False], ids=["ids", "fullUrl-only"])
def test_links_by_urn_uuid_are_kept_as_with_literal_references(db, world, with_ids):
    john = seed_john(db, world.clinician_a)
    literal = export_patient(db, world.clinician_a, john)
    source_links = _links(db, john)
    # every kind of link is there to lose, and every record is linked
    assert all(rows and (None,) not in rows for rows in source_links.values()), source_links

    by_literal = _import(db, world.admin_b, copy.deepcopy(literal))
    urn = _as_urn_uuid(literal, with_ids=with_ids)
    fresh = _fresh_clinic(db)
    by_urn = _import(db, fresh, urn)

    # the same records, and the same resources counted as unused for the same reasons:
    # score Observations still name their QuestionnaireResponse, the imaging report its
    # Encounter (so it adds no second intake visit)
    assert by_urn.stored == by_literal.stored and by_urn.stored["encounter"] == 6
    assert by_urn.unused == by_literal.unused
    assert by_urn.unused[("DiagnosticReport", CARRIED)] == 1
    patient = urn["entry"][0]["fullUrl"].removeprefix("urn:uuid:")
    moved = _copy_of(db, fresh, patient)
    assert _links(db, moved) == _links(db, _copy_of(db, world.admin_b, john)) == source_links
    with db.transaction() as session:
        kinds = session.scalars(sa.select(Encounter.kind).where(Encounter.patient_id == moved))
        assert sorted(kinds) == [
            "follow_up", "follow_up", "follow_up", "follow_up", "intake", "procedure"
        ]  # fmt: skip


def test_every_reference_to_an_entry_is_made_literal_wherever_it_is():
    ehr = "http://ehr.example.org/fhir"
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "extension": [
            {"url": "http://example.org/ext", "valueReference": {"reference": "urn:uuid:e1"}}
        ],
        "basedOn": [{"reference": "urn:uuid:s1"}],
        "partOf": [{"reference": f"{ehr}/Procedure/p1"}],
        "subject": {"reference": "urn:uuid:p"},
        "encounter": {"reference": "urn:uuid:e1", "display": "intake"},
        "derivedFrom": [{"reference": "urn:uuid:q1"}, {"reference": "Observation/elsewhere"}],
        "hasMember": [{"reference": "#inside"}],
        "contained": [
            {"resourceType": "Observation", "id": "inside", "focus": [{"reference": "urn:uuid:p"}]}
        ],
        "code": {"text": "urn:uuid:e1"},
        "status": "final",
    }
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", "id": "pat-1"}},
            {"fullUrl": "urn:uuid:e1", "resource": {"resourceType": "Encounter"}},
            {"fullUrl": "urn:uuid:s1", "resource": {"resourceType": "ServiceRequest", "id": "s"}},
            {"fullUrl": "urn:uuid:q1", "resource": {"resourceType": "QuestionnaireResponse"}},
            {
                "fullUrl": f"{ehr}/Procedure/p1",
                "resource": {"resourceType": "Procedure", "id": "p1"},
            },
            {"fullUrl": "urn:uuid:o1", "resource": observation},
        ],
    }
    before = copy.deepcopy(data)
    found = {i: r for i, r, _ in bundle.entries(data)}
    assert data == before  # the Bundle read is left as it was
    assert found[1] == {"resourceType": "Encounter", "id": "e1"}
    read = found[5]
    assert read["extension"][0]["valueReference"] == {"reference": "Encounter/e1"}
    assert read["basedOn"] == [{"reference": "ServiceRequest/s"}]
    assert read["partOf"] == [{"reference": "Procedure/p1"}]
    assert read["subject"] == {"reference": "Patient/pat-1"}
    assert read["encounter"] == {"reference": "Encounter/e1", "display": "intake"}
    assert read["derivedFrom"] == [
        {"reference": "QuestionnaireResponse/q1"},
        {"reference": "Observation/elsewhere"},  # not an entry of this Bundle: as it was
    ]
    assert read["hasMember"] == [{"reference": "#inside"}]
    assert read["contained"][0]["focus"] == [{"reference": "Patient/pat-1"}]
    assert read["code"] == {"text": "urn:uuid:e1"}  # only references are rewritten
    untouched = {"resourceType": "Bundle", "entry": [{"resource": observation}]}
    [(_, same, _)] = bundle.entries(untouched)
    assert same is observation  # nothing to rewrite: not copied


def test_an_entry_that_is_not_a_record_to_keep_is_named_not_stored():
    """A DELETE (or a read) in a transaction carries no record: it is named with its
    method, never imported as a new record; entries that are not a list are named too."""
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"text": "Pat"}]}
    data = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient, "request": {"method": "PUT", "url": "Patient/p1"}},
            {"resource": patient, "request": {"method": "DELETE", "url": "Patient/p1"}},
            {"request": {"method": "GET", "url": "Patient/p1"}},
            {"resource": patient, "request": {"method": "post", "url": "Patient"}},
        ],
    }
    read = [
        (index, resource is not None, problem) for index, resource, problem in bundle.entries(data)
    ]
    assert read == [
        (0, True, None),
        (1, False, "request.method DELETE: only PUT and POST entries are imported"),
        (2, False, "request.method GET: only PUT and POST entries are imported"),
        (3, True, None),
    ]
    assert list(bundle.entries({**data, "entry": {}})) == [
        (0, None, "Bundle.entry: not a list of entries")
    ]


@pytest.mark.parametrize("kind", ["transaction", "collection"])
def test_a_transaction_is_all_or_nothing_a_collection_a_patient_at_a_time(
    db, world, tmp_path, kind
):
    """FHIR R4 (http.html#transaction): a transaction with a rejected entry stores nothing;
    a collection stores each patient whole, and reports the bad entry."""
    ann = {"resourceType": "Patient", "id": "ann", "name": [{"text": "Ann"}]}
    bob = {"resourceType": "Patient", "id": "bob", "name": [{"text": "Bob"}]}
    resources = [
        ann,
        pain_rating("Patient/ann", 3, "ann-1"),
        bob,
        pain_rating("Patient/bob", 5, "bob-1"),
        pain_rating("Patient/bob", 11, "bob-2"),  # a 0–10 scale
        {"resourceType": "Claim", "id": "c1"},  # not kept: counted, stops nothing
    ]
    path = tmp_path / "sent.json"
    path.write_text(json.dumps(bundle.build(resources, kind=kind)))
    before = counts(db)

    report = Importer(db, world.admin_a).import_files([path])
    assert [p.where for p in report.in_order()] == (
        ["Bundle", "entry 4"] if kind == "transaction" else ["entry 4"]
    )
    assert report.unused[("Claim", UNUSED_TYPE)] == 1 and report.read == 6
    after = counts(db)
    if kind == "transaction":
        assert report.in_order()[0].reason.startswith("transaction not imported")
        assert report.stored_total == report.patients_created == report.already == 0
        # The Bundle is not a rejected resource; its four good entries are held back.
        assert report.problem_count == 1 and report.held_back == 4 and report.unlisted == 0
        assert report.summary().endswith("rejected 1 · held back 4 (transaction refused)")
        assert after == before  # audit entries included
    else:
        assert report.stored == {"patient": 2, "pain_rating": 2}
        assert report.problem_count == 1 and report.held_back == 0
        assert after["pain_rating"] == before["pain_rating"] + 2
