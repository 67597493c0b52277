"""Questionnaire (one per instrument) and QuestionnaireResponse <-> hipspine
``questionnaire_response``.

Each instrument's Questionnaire is generated from its reviewed data file (items, answer
options with their labels, LOINC panel code where one exists). A response's answers are
``valueCoding`` (the option's value as the code, its label as display) for choice items and
``valueString`` for context items (e.g. the NPRS region).

**Scores travel in the response.** Each Questionnaire ends with read-only ``decimal``
items, one per score the instrument's scorer gives: ``score`` (the total, for instruments
that have one) and ``score.<subscale>`` (e.g. HOOS ``score.pain``), each coded with the
score's LOINC code (or the hipspine instrument-score code) and bounded by the core
``minValue``/``maxValue`` extensions. A response answers them with ``valueDecimal``: the
calculated items of a FHIR Questionnaire
(https://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.readOnly), so
the response conforms to its Questionnaire and alone restores the record, also when the
clinic recorded only the totals (scores copied from a paper form, with no item answers).
The score Observations (``derivedFrom`` the response) are exported as well, for EHRs that
read scores as Observations, and are not imported a second time.

On import:

* **Item answers given** (any scored item): the score, subscales and band are recomputed
  by the instrument's own scorer (:func:`hipspine.clinical.instruments.score`); the
  answers are the truth, and any calculated items sent are ignored.
* **No item answers**: the calculated items are taken, each checked against the range the
  instrument's scorer can give (a value outside it is rejected, with the range); the band
  follows from the total for instruments banded on the score. STarT Back's risk group
  depends on its rule over the answers, so without answers it is not set. A response with
  neither answers nor scores holds nothing to store and is rejected.
* **Status** (https://hl7.org/fhir/R4/valueset-questionnaire-answers-status.html):
  ``completed`` and ``amended`` are kept; ``in-progress`` (still being filled in),
  ``stopped`` (abandoned before completion; a questionnaire is scored only when the patient
  finished it, whatever the missing-data rule would allow) and ``entered-in-error`` are
  counted as unused with that reason. A response without a status, or with a code outside
  the value set, is rejected naming the field (R4 requires it). Exported responses are
  ``completed``.
* **Context** (e.g. how the response was entered, the PSFS activities) travels as a
  hipspine extension, each value with its JSON type: ``valueBoolean``, ``valueInteger``,
  ``valueDecimal`` or ``valueString``, an object as nested extensions, a list as its JSON
  in an ``application/json`` ``valueAttachment``; it imports back with the same types.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from functools import cache
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
    Statuses,
    Unused,
    coding,
    day,
    link,
    linked_id,
    number,
    parse_day,
    reference,
)

SUBMISSION_KEY = f"{HIPSPINE}/sid/submission-key"
CONTEXT_EXT = f"{EXT}/response-context"
SCORE_CS = f"{CS}/instrument-score"
SCORE_ITEM = "score"
"""linkId of the calculated total; a subscale's is ``score.<subscale id>``."""
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
STATUSES = Statuses(
    "QuestionnaireResponse",
    "https://hl7.org/fhir/R4/valueset-questionnaire-answers-status.html",
    kept=("completed", "amended"),
    unused={
        "in-progress": "still being filled in, not completed",
        "stopped": "stopped before completion",
        "entered-in-error": "entered in error",
    },
)
"""QuestionnaireResponse statuses: those of a completed questionnaire, and those that are
not (why)."""


def _score_link(scope: str) -> str:
    return SCORE_ITEM if scope == "score" else f"{SCORE_ITEM}.{scope}"


@cache
def score_ranges(instrument_id: str) -> dict[str, tuple[float, float]]:
    """The scores an instrument's scorer gives — ``"score"`` (the total, if it has one) and
    each subscale id — with the lowest and highest value each can take, in form order.

    Found by scoring, with the instrument's own scorer, the lowest- and the highest-scoring
    option of every item, so the ranges are the scorer's, not a copy of them (HOOS
    subscales 0–100, STarT Back total 0–9 and psychosocial 0–5, GROC −7 … +7).
    """
    instrument = instruments.get(instrument_id)
    found: dict[str, list[float]] = {}
    for pick in (min, max):
        answers: dict[str, Any] = {
            item.id: (item.allowed_text[0] if item.allowed_text else None)
            if item.kind == "context"
            else pick(item.options, key=lambda option: option.score).value
            for item in instrument.items
        }
        result = instruments.score(instrument.id, answers)
        values = {"score": result.value} | {k: s.value for k, s in result.subscales.items()}
        for scope, value in values.items():
            if value is not None:
                found.setdefault(scope, []).append(value)
    declared = ["score", *(s.id for s in instrument.subscales)]
    return {scope: (min(found[scope]), max(found[scope])) for scope in declared if scope in found}


def score_coding(instrument: instruments.Instrument, scope: str) -> dict[str, str]:
    """The Coding of one score (``"score"`` or a subscale id): its LOINC code where the
    instrument's data file gives one, else a code of the hipspine instrument-score system."""
    if scope == "score":
        loinc = next((e for e in instrument.loinc if e.target == "score"), None)
        if loinc:
            return coding(LOINC, loinc.code, loinc.display)
        return coding(SCORE_CS, f"{instrument.id}-score", f"{instrument.name} score")
    subscale = next(s for s in instrument.subscales if s.id == scope)
    display = f"{instrument.short_name} {subscale.name}"
    if subscale.loinc:
        return coding(LOINC, subscale.loinc, display)
    return coding(SCORE_CS, f"{instrument.id}-{subscale.id}", display)


def recorded_scores(row: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(scope, value) of the total and subscale scores a ``questionnaire_response`` row
    holds, for the scores its instrument gives, in form order."""
    try:
        ranges = score_ranges(row["instrument"])
    except KeyError:
        return []
    subscales = row.get("subscales") or {}
    found = []
    for scope in ranges:
        value = row.get("score") if scope == "score" else subscales.get(scope)
        if isinstance(value, dict):  # a subscale stored with its name and answer count
            value = value.get("value")
        if value is not None:
            found.append((scope, value))
    return found


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
    """The FHIR R4 Questionnaire of one instrument: its items with their answer options,
    then one read-only calculated ``decimal`` item per score (see the module's notes)."""
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
    for scope, (low, high) in score_ranges(instrument.id).items():
        concept = score_coding(instrument, scope)
        items.append(
            {
                "extension": [
                    {"url": MIN_VALUE, "valueDecimal": number(low)},
                    {"url": MAX_VALUE, "valueDecimal": number(high)},
                ],
                "linkId": _score_link(scope),
                "code": [concept],
                "text": f"{concept['display']} (calculated)",
                "type": "decimal",
                "readOnly": True,
            }
        )
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
    for scope, score in recorded_scores(row):
        items.append({"linkId": _score_link(scope), "answer": [{"valueDecimal": number(score)}]})
    resource: Resource = {"resourceType": "QuestionnaireResponse", "id": row["id"]}
    context = _context_extensions(row.get("context") or {})
    if context:
        resource["extension"] = [{"url": CONTEXT_EXT, "extension": context}]
    if row.get("submission_key"):
        resource["identifier"] = {"system": SUBMISSION_KEY, "value": row["submission_key"]}
    resource.update(
        {
            "questionnaire": url,
            "status": "completed",
            "subject": reference("Patient", row["patient_id"]),
            **link("encounter", "Encounter", row.get("encounter_id")),
            "authored": day(row["completed_on"]),
            "item": items,
        }
    )
    if not items:  # FHIR JSON has no empty arrays
        del resource["item"]
    return resource


def _context_extensions(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A response's context as extensions, one per key, each value of its own JSON type:
    a boolean, integer, decimal or string as that value[x], an object as nested
    extensions, anything else (a list) as its JSON in an ``application/json`` attachment.
    Empty values are left out (FHIR has no empty strings or elements)."""
    found: list[dict[str, Any]] = []
    for key, value in sorted(context.items()):
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            found.append({"url": key, "valueBoolean": value})
        elif isinstance(value, int) and -(2**31) <= value < 2**31:  # FHIR integers: 32 bits
            found.append({"url": key, "valueInteger": value})
        elif isinstance(value, int | float):
            found.append({"url": key, "valueDecimal": value})
        elif isinstance(value, str):
            found.append({"url": key, "valueString": value})
        elif isinstance(value, Mapping) and _context_extensions(value):
            found.append({"url": key, "extension": _context_extensions(value)})
        else:
            data = json.dumps(value, sort_keys=True, ensure_ascii=False).encode()
            attachment = {"contentType": JSON, "data": base64.b64encode(data).decode()}
            found.append({"url": key, "valueAttachment": attachment})
    return found


def _context_of(extensions: Any) -> dict[str, Any]:
    """The context that :func:`_context_extensions` sent, with its types."""
    context: dict[str, Any] = {}
    for ext in extensions or ():
        key = ext.get("url")
        attachment = ext.get("valueAttachment")
        if "extension" in ext:
            context[key] = _context_of(ext["extension"])
        elif isinstance(attachment, dict) and attachment.get("contentType") == JSON:
            try:
                context[key] = json.loads(base64.b64decode(attachment.get("data", "")))
            except ValueError:
                raise Invalid(f"extension {key}: the attachment is not JSON") from None
        else:
            context[key] = next((ext[k] for k in _CONTEXT_TYPES if k in ext), None)
    return context


JSON = "application/json"
_CONTEXT_TYPES = ("valueBoolean", "valueInteger", "valueDecimal", "valueString")


def marks() -> Marks:
    """Kept only with a hipspine questionnaire."""
    return Marks((HIPSPINE,))


def from_fhir(resource: Mapping[str, Any]) -> Row:
    """Column values of a ``questionnaire_response`` row: its answers scored by the clinical
    core, or, sent without answers, its calculated scores checked against their ranges.

    Raises :class:`Unused` for a response that is not completed, :class:`Invalid` for
    answers the instrument refuses, a score out of range, or nothing to store.
    """
    url = str(resource.get("questionnaire", ""))
    prefix = f"{HIPSPINE}/Questionnaire/"
    if not url.startswith(prefix):
        raise Unused("QuestionnaireResponse to a questionnaire hipspine does not score")
    instrument_id = url[len(prefix) :].split("|")[0]
    try:
        instrument = instruments.get(instrument_id)
    except KeyError as error:
        raise Invalid(f"questionnaire: {error.args[0]}") from None
    STATUSES.of(resource)
    answers: dict[str, Any] = {}
    calculated = {_score_link(scope): scope for scope in score_ranges(instrument.id)}
    carried: dict[str, Any] = {}
    for item in resource.get("item", ()):
        if item.get("linkId") in calculated:
            carried[calculated[item["linkId"]]] = [
                a.get("valueDecimal", a.get("valueInteger")) for a in item.get("answer", ())
            ]
            continue
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
    scored = {item.id for item in instrument.scored_items}
    if any(link_id in scored for link_id in answers):
        score = result.value
        subscales = {key: sub.as_record() for key, sub in result.subscales.items()}
        band = result.band.id if result.band else None
    else:
        score, subscales, band = _calculated(instrument, carried)
    context: dict[str, Any] = {}
    for ext in resource.get("extension", ()):
        if ext.get("url") == CONTEXT_EXT:
            context = _context_of(ext.get("extension"))
    identifier = resource.get("identifier") or {}
    return {
        "instrument": instrument.id,
        "instrument_version": instrument.version[:40],
        "answers": answers,
        "context": context,
        "score": score,
        "subscales": subscales,
        "band": band,
        "completed_on": parse_day(resource.get("authored"), "authored"),
        "encounter_id": linked_id(resource.get("encounter"), "Encounter"),
        "source": "import",
        "submission_key": identifier.get("value")
        if identifier.get("system") == SUBMISSION_KEY
        else None,
    }


def _calculated(
    instrument: instruments.Instrument, carried: Mapping[str, list[Any]]
) -> tuple[float | None, dict[str, Any], str | None]:
    """(total, subscales, band) of a response sent without item answers, from its
    calculated items, each checked against the range the instrument's scorer can give.

    A subscale is kept as a scored one is (:meth:`SubscaleScore.as_record`), with no count
    of answers: it was entered as a score, not scored from answers."""
    if not carried:
        raise Invalid(
            "item: neither item answers nor calculated scores "
            f"({', '.join(map(_score_link, score_ranges(instrument.id)))}); nothing to store"
        )
    values: dict[str, float] = {}
    for scope, answers in carried.items():
        link_id = _score_link(scope)
        if len(answers) != 1:
            raise Invalid(f"item {link_id}: one valueDecimal is required, got {len(answers)}")
        value = answers[0]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"item {link_id}: a calculated score is a valueDecimal")
        low, high = score_ranges(instrument.id)[scope]
        if not low <= value <= high:
            raise Invalid(
                f"item {link_id}: {instrument.short_name} "
                f"{'score' if scope == 'score' else scope} {value:g} is outside "
                f"{low:g}–{high:g}"
            )
        values[scope] = float(value)
    total = values.pop("score", None)
    names = {sub.id: sub.name for sub in instrument.subscales}
    subscales = {
        scope: {"name": names[scope], "value": value, "answered": None}
        for scope, value in values.items()
    }
    band = None
    if total is not None and instrument.banding == "score":
        found = instrument.band_for(total)
        band = found.id if found else None
    return total, subscales, band
