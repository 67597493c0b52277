"""Questionnaire (one per instrument) and QuestionnaireResponse <-> hipspine
``questionnaire_response``.

Each instrument's Questionnaire is generated from its reviewed data file (items, answer
options with their labels, LOINC panel code where one exists). A response's answers are
``valueCoding`` (the option's value as the code, its label as display) for choice items and
``valueString`` for context items (e.g. the NPRS region). On import the score, subscales and
band are recomputed by the instrument's own scorer, never taken from the sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from hipspine.clinical import instruments
from hipspine.fhir._common import (
    CS,
    EXT,
    HIPSPINE,
    LOINC,
    Invalid,
    Marks,
    Resource,
    Row,
    Unused,
    coding,
    day,
    parse_day,
    reference,
)

SUBMISSION_KEY = f"{HIPSPINE}/sid/submission-key"
CONTEXT_EXT = f"{EXT}/response-context"


def canonical(instrument: instruments.Instrument) -> str:
    """The canonical URL of an instrument's Questionnaire, with its version.

    A canonical is a URI, which has no whitespace (FHIR's ``\\S*``), while versions such as
    LEFS's "Binkley 1999" have spaces: the version is percent-encoded, as in any URI
    (``…/lefs|Binkley%201999``); ``Questionnaire.version`` keeps the text as it is.
    """
    return f"{HIPSPINE}/Questionnaire/{instrument.id}|{quote(instrument.version, safe='')}"


def _answer_system(instrument_id: str) -> str:
    return f"{CS}/answer-{instrument_id}"


def questionnaire_to_fhir(instrument: instruments.Instrument) -> Resource:
    """The FHIR R4 Questionnaire of one instrument (items and answer options)."""
    items = []
    for item in instrument.items:
        entry: dict[str, Any] = {"linkId": item.id, "text": item.text}
        if item.kind == "context":
            entry["type"] = "string"
        else:
            entry["type"] = "choice"
            entry["answerOption"] = [
                {
                    "valueCoding": coding(
                        _answer_system(instrument.id), str(o.value), o.label or str(o.value)
                    )
                }
                for o in item.options
            ]
        items.append(entry)
    resource: Resource = {
        "resourceType": "Questionnaire",
        "id": instrument.id.replace("_", "-"),
        "url": f"{HIPSPINE}/Questionnaire/{instrument.id}",
        "version": instrument.version,
        "name": instrument.short_name.replace(" ", "").replace("-", ""),
        "title": instrument.name,
        "status": "active",
        "copyright": instrument.licence.notice,
        "item": items,
    }
    panel = next((entry for entry in instrument.loinc if entry.target == "panel"), None)
    if panel:
        resource["code"] = [coding(LOINC, panel.code, panel.display)]
    return resource


def to_fhir(row: Mapping[str, Any]) -> Resource:
    """The FHIR QuestionnaireResponse for one ``questionnaire_response`` row."""
    try:
        instrument = instruments.get(row["instrument"])
        url = canonical(instrument)
    except KeyError:
        instrument, url = None, f"{HIPSPINE}/Questionnaire/{row['instrument']}"
    items = []
    for link_id, value in row["answers"].items():
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        answers: list[dict[str, Any]] = []
        for one in values:
            if isinstance(one, int) and not isinstance(one, bool):
                label = None
                if instrument is not None:
                    try:
                        label = next(
                            (o.label for o in instrument.item(link_id).options if o.value == one),
                            None,
                        )
                    except KeyError:
                        label = None
                answers.append(
                    {"valueCoding": coding(_answer_system(row["instrument"]), str(one), label)}
                )
            else:
                answers.append({"valueString": str(one)})
        items.append({"linkId": link_id, "answer": answers})
    resource: Resource = {"resourceType": "QuestionnaireResponse", "id": row["id"]}
    context = row.get("context") or {}
    if context:
        resource["extension"] = [
            {
                "url": CONTEXT_EXT,
                "extension": [
                    {"url": k, "valueString": str(v)} for k, v in sorted(context.items())
                ],
            }
        ]
    if row.get("submission_key"):
        resource["identifier"] = {"system": SUBMISSION_KEY, "value": row["submission_key"]}
    resource.update(
        {
            "questionnaire": url,
            "status": "completed",
            "subject": reference("Patient", row["patient_id"]),
            "authored": day(row["completed_on"]),
            "item": items,
        }
    )
    return resource


def marks() -> Marks:
    """Kept only with a hipspine questionnaire."""
    return Marks((HIPSPINE,))


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``questionnaire_response`` row, scored by the clinical core."""
    url = str(resource.get("questionnaire", ""))
    prefix = f"{HIPSPINE}/Questionnaire/"
    if not url.startswith(prefix):
        raise Unused("QuestionnaireResponse to a questionnaire hipspine does not score")
    instrument_id = url[len(prefix) :].split("|")[0]
    try:
        instrument = instruments.get(instrument_id)
    except KeyError as error:
        raise Invalid(f"questionnaire: {error.args[0]}") from None
    if resource.get("status") not in ("completed", "amended"):
        raise Unused("QuestionnaireResponse not completed")
    answers: dict[str, Any] = {}
    for item in resource.get("item", ()):
        values: list[Any] = []
        for answer in item.get("answer", ()):
            if "valueCoding" in answer:
                code = answer["valueCoding"].get("code", "")
                try:
                    values.append(int(code))
                except ValueError:
                    raise Invalid(f"item {item.get('linkId')}: answer code {code!r}") from None
            elif "valueInteger" in answer:
                values.append(answer["valueInteger"])
            elif "valueString" in answer:
                values.append(answer["valueString"])
        if values:
            answers[item["linkId"]] = values[0] if len(values) == 1 else values
    try:
        result = instruments.score(instrument.id, answers)
    except instruments.InvalidAnswers as error:
        raise Invalid(str(error)) from None
    context: dict[str, Any] = {}
    for ext in resource.get("extension", ()):
        if ext.get("url") == CONTEXT_EXT:
            context = {e["url"]: e.get("valueString") for e in ext.get("extension", ())}
    identifier = resource.get("identifier") or {}
    return {
        "instrument": instrument.id,
        "instrument_version": instrument.version[:40],
        "answers": answers,
        "context": context,
        "score": result.value,
        "subscales": {k: s.value for k, s in result.subscales.items() if s.value is not None},
        "band": result.band.id if result.band else None,
        "completed_on": parse_day(resource.get("authored"), "authored"),
        "source": "import",
        "submission_key": identifier.get("value")
        if identifier.get("system") == SUBMISSION_KEY
        else None,
    }
