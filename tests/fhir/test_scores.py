"""A QuestionnaireResponse alone restores its record: answers are rescored by the clinical
core, a response with only its totals (a paper form) keeps them, within the instrument's
range; score Observations are exported for EHRs and reported, not imported twice."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from hipspine.clinical import instruments
from hipspine.fhir import importer, observation, questionnaire
from hipspine.fhir.exporter import export_all, export_patient
from hipspine.fhir.importer import Importer
from hipspine.fhir.validate import problem
from hipspine.reports.progress import read_patient_file, series_document
from hipspine.store.models import Patient, QuestionnaireResponse
from hipspine.store.records import Records
from tests.fhir.support import DAY0, ODI

HOOS_SUBSCALES = {"pain": 62.5, "symptoms": 55.0, "adl": 70.58823529411765, "sport_rec": 43.75,
                  "qol": 31.25}  # fmt: skip


def _patient_with(db, world, *responses: dict[str, Any]) -> str:
    """A patient of clinic A with these ``questionnaire_response`` rows; their id."""
    with db.transaction() as session:
        records = Records(session, world.clinician_a)
        jo = records.add_patient(
            name="Jo Hipspine", identifier="A-9", sex="male", birth_date=date(1968, 5, 2)
        )
        for fields in responses:
            definition = instruments.get(fields["instrument"])
            records.add(
                QuestionnaireResponse(
                    patient_id=jo.id, instrument_version=definition.version, completed_on=DAY0,
                    **{"answers": {}, "context": {}, "subscales": {}, **fields},
                )
            )  # fmt: skip
        return jo.id


def _round_trip(db, world, patient_id: str) -> tuple[dict[str, Any], importer.Report]:
    """The patient's Bundle, after it was imported into an empty place and exported again
    (asserted identical), and the import's report."""
    first = export_patient(db, world.clinician_a, patient_id)
    with db.transaction() as session:
        session.delete(session.get(Patient, patient_id))
    report = Importer(db, world.clinician_a).import_bundle(first, "jo.json")
    assert report.problem_count == 0, report.problems
    again = export_patient(db, world.clinician_a, patient_id)
    assert _of(again, "QuestionnaireResponse") == _of(first, "QuestionnaireResponse")
    assert _of(again, "Observation") == _of(first, "Observation")
    assert again == first
    return first, report


def _of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _rows(db, patient_id: str) -> dict[str, dict[str, Any]]:
    """The patient's responses by instrument (score, subscales, band, answers, context)."""
    table = QuestionnaireResponse.__table__
    with db.engine.connect() as connection:
        rows = connection.execute(sa.select(table).where(table.c.patient_id == patient_id))
        return {row.instrument: dict(row._mapping) for row in rows}


def _calculated(response: dict[str, Any]) -> dict[str, Any]:
    return {
        item["linkId"]: item["answer"][0]["valueDecimal"]
        for item in response.get("item", ())
        if item["linkId"].startswith("score")
    }


def test_a_response_with_answers_is_rescored_and_round_trips(db, world):
    odi = instruments.score("odi", ODI)
    jo = _patient_with(
        db, world,
        {"instrument": "odi", "answers": ODI, "score": odi.value, "band": odi.band.id},
    )  # fmt: skip
    bundle, report = _round_trip(db, world, jo)
    (response,) = _of(bundle, "QuestionnaireResponse")
    assert _calculated(response) == {"score": odi.value}
    (total,) = _of(bundle, "Observation")
    assert total["code"]["coding"][0]["code"] == "97909-6"  # LOINC ODI score, for EHRs
    assert report.unused[("Observation", observation.SCORE_UNUSED)] == 1
    row = _rows(db, jo)["odi"]
    assert (row["answers"], row["score"], row["band"]) == (ODI, odi.value, odi.band.id)


def test_answers_win_over_the_scores_sent_with_them(db, world):
    odi = instruments.score("odi", ODI)
    jo = _patient_with(db, world, {"instrument": "odi", "answers": ODI, "score": odi.value})
    sent = export_patient(db, world.clinician_a, jo)
    with db.transaction() as session:
        session.delete(session.get(Patient, jo))
    (response,) = _of(sent, "QuestionnaireResponse")
    next(i for i in response["item"] if i["linkId"] == "score")["answer"] = [{"valueDecimal": 99}]
    report = Importer(db, world.clinician_a).import_bundle(sent, "jo.json")
    assert report.problem_count == 0, report.problems
    assert _rows(db, jo)["odi"]["score"] == odi.value


def test_a_response_with_only_its_total_keeps_it(db, world):
    # A paper total entered by the clinician: no item answers, nothing to recompute.
    jo = _patient_with(
        db, world,
        {"instrument": "odi", "score": 42.0, "context": {"entered_as": "paper form"}},
        {"instrument": "lefs", "score": 57.0},
    )  # fmt: skip
    bundle, report = _round_trip(db, world, jo)
    odi = next(r for r in _of(bundle, "QuestionnaireResponse") if "/odi|" in r["questionnaire"])
    assert odi["item"] == [{"linkId": "score", "answer": [{"valueDecimal": 42}]}]
    assert report.stored["questionnaire_response"] == 2
    rows = _rows(db, jo)
    assert (rows["odi"]["answers"], rows["odi"]["score"]) == ({}, 42.0)
    assert rows["odi"]["band"] == "severe"  # ODI 41–60 %: severe disability (its bands)
    assert rows["lefs"]["score"] == 57.0


def test_a_response_with_only_subscales_keeps_them(db, world):
    # HOOS has no total: the subscale scores of a paper form, stored with their names.
    jo = _patient_with(
        db, world,
        {
            "instrument": "hoos", "context": {"entered_as": "subscale scores"},
            "subscales": {
                k: {"name": k, "value": v, "answered": None} for k, v in HOOS_SUBSCALES.items()
            },
        },
    )  # fmt: skip
    bundle, report = _round_trip(db, world, jo)
    (response,) = _of(bundle, "QuestionnaireResponse")
    assert _calculated(response) == {f"score.{k}": v for k, v in HOOS_SUBSCALES.items()}
    scores = _of(bundle, "Observation")
    assert {o["code"]["coding"][0]["code"] for o in scores} == {
        "72097-9", "72096-1", "72095-3", "72094-6", "72093-8",
    }  # fmt: skip
    assert report.unused[("Observation", observation.SCORE_UNUSED)] == 5
    row = _rows(db, jo)["hoos"]
    assert row["score"] is None
    assert {k: sub["value"] for k, sub in row["subscales"].items()} == HOOS_SUBSCALES
    # Kept as the app keeps a subscale, so the imported patient's progress shows them.
    with db.transaction() as session:
        file = read_patient_file(Records(session, world.clinician_a), jo)
    [visit] = series_document(file)["visits"]
    [hoos] = visit["questionnaires"]
    assert hoos == {"instrument": "hoos", "subscales": HOOS_SUBSCALES}


def test_start_back_totals_keep_both_scores(db, world):
    jo = _patient_with(
        db, world, {"instrument": "start_back", "score": 6.0, "subscales": {"psychosocial": 4.0}}
    )
    _round_trip(db, world, jo)
    row = _rows(db, jo)["start_back"]
    # Its risk group follows a rule over the answers: without them it is not made up.
    assert (row["score"], row["band"]) == (6.0, None)
    assert row["subscales"]["psychosocial"]["value"] == 4.0


def _response(world, items: list[dict[str, Any]], instrument: str = "odi") -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse", "id": f"qr-{len(items)}-{instrument}",
        "questionnaire": questionnaire.canonical(instruments.get(instrument)),
        "status": "completed", "subject": {"reference": f"Patient/{world.john}"},
        "authored": "2025-11-17", "item": items,
    }  # fmt: skip


def _import(db, world, resource: dict[str, Any]) -> importer.Report:
    return Importer(db, world.admin_a).import_bundle(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]},
        "scores.json",
    )


def test_a_carried_score_out_of_range_is_refused(db, world):
    cases = [
        (_response(world, [{"linkId": "score", "answer": [{"valueDecimal": 120}]}]),
         "QuestionnaireResponse: item score: ODI score 120 is outside 0–100"),
        (_response(world, [{"linkId": "score.pain", "answer": [{"valueDecimal": -5}]}], "hoos"),
         "QuestionnaireResponse: item score.pain: HOOS pain -5 is outside 0–100"),
        (_response(world, [{"linkId": "score.psychosocial", "answer": [{"valueDecimal": 6}]}],
                   "start_back"),
         "QuestionnaireResponse: item score.psychosocial: SBST psychosocial 6 is outside "
         "0–5"),
    ]  # fmt: skip
    for resource, reason in cases:
        report = _import(db, world, resource)
        assert [p.reason for p in report.problems] == [reason]
        assert report.stored_total == 0


def test_a_response_with_neither_answers_nor_scores_is_refused(db, world):
    report = _import(db, world, _response(world, []) | {"id": "qr-empty"})
    assert report.problem_count == 1
    assert "neither item answers nor calculated scores" in report.problems[0].reason


def test_context_values_keep_their_types(db, world):
    context = {
        "synthetic": True, "visits": 3, "weight": 1.5, "entered_as": "paper form",
        "activities": {"activity_1": "Hike with elevation gain", "activity_2": "Climb stairs"},
        "tags": ["baseline", 1],
    }  # fmt: skip
    jo = _patient_with(db, world, {"instrument": "odi", "score": 30.0, "context": context})
    _round_trip(db, world, jo)
    assert _rows(db, jo)["odi"]["context"] == context


def test_responses_conform_to_their_questionnaires(db, world):
    jo = _patient_with(
        db, world,
        {"instrument": "odi", "answers": ODI, "score": instruments.score("odi", ODI).value},
        {"instrument": "hoos", "subscales": HOOS_SUBSCALES},
    )  # fmt: skip
    bundle = export_patient(db, world.clinician_a, jo)
    forms = {q["url"]: q for q in _of(bundle, "Questionnaire")}
    for response in _of(bundle, "QuestionnaireResponse"):
        assert problem(response) is None
        form = forms[response["questionnaire"].split("|")[0]]
        items = {item["linkId"]: item for item in form["item"]}
        for item in response["item"]:
            defined = items[item["linkId"]]
            if item["linkId"].startswith("score"):
                assert defined["readOnly"] is True and defined["type"] == "decimal"
                low, high = (e["valueDecimal"] for e in defined["extension"])
                assert low <= item["answer"][0]["valueDecimal"] <= high
            else:
                assert defined["type"] == "choice"


def test_bulk_score_observations_reach_the_mapping_and_are_named(db, world, tmp_path):
    jo = _patient_with(
        db, world,
        {"instrument": "odi", "score": 42.0},
        {"instrument": "hoos", "subscales": HOOS_SUBSCALES},
    )  # fmt: skip
    written = export_all(db, world.clinician_a, tmp_path)
    report = Importer(db, world.admin_b).import_files(sorted(tmp_path.glob("*.ndjson")))
    assert report.problem_count == 0, report.problems
    assert report.unused[("Observation", observation.SCORE_UNUSED)] == written["Observation"] == 6
    assert ("Observation", importer.UNMARKED) not in report.unused
    assert report.stored["questionnaire_response"] == 2
    with db.engine.connect() as connection:
        table = QuestionnaireResponse.__table__
        stored = connection.execute(
            sa.select(table.c.instrument, table.c.score, table.c.subscales).where(
                table.c.clinic_id == world.clinic_b
            )
        ).all()
    values = [(i, score, {k: sub["value"] for k, sub in subs.items()}) for i, score, subs in stored]
    assert sorted(values) == [("hoos", None, HOOS_SUBSCALES), ("odi", 42.0, {})]
    assert jo  # clinic A's patient, exported from A and imported into B
