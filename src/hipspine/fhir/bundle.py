"""FHIR Bundles: build a patient's Bundle, and read Bundles (transaction, batch or
collection) into resources with their references made literal (``Type/id``).

Synthea and many EHRs link entries by ``urn:uuid:`` fullUrls
(https://hl7.org/fhir/R4/bundle.html#references). Every Reference whose ``reference`` is
another entry's fullUrl — wherever it is in the resource: ``subject``, ``encounter``,
``basedOn``, ``derivedFrom``, ``reasonReference``, ``addresses``, ``partOf``, an extension's
``valueReference``, a contained resource's — is rewritten to that entry's ``Type/id``, so
the importer sees one kind of reference and keeps the links between records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hipspine.fhir._common import HIPSPINE, Resource


def build(resources: Iterable[Mapping[str, Any]], *, kind: str = "collection") -> Resource:
    """A Bundle of ``kind`` (collection or transaction) holding ``resources``.

    Each entry's ``fullUrl`` is ``urn:uuid:<id>`` (hipspine ids are UUIDs) or, for any
    other id, the resource's hipspine URL; the Bundle is identical each time it is built
    from the same records.
    """
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {
            "fullUrl": full_url(resource),
            "resource": resource,
        }
        if kind == "transaction":
            entry["request"] = {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


OUTSIDE_THE_PATIENT = frozenset({"Questionnaire"})
"""Types a patient's record refers to that are not of the patient's compartment: in a
searchset they are included, not matches."""


def searchset(resources: Iterable[Mapping[str, Any]]) -> Resource:
    """A searchset Bundle of ``resources`` (the answer of ``$everything``).

    FHIR R4 Patient/$everything returns a searchset
    (https://hl7.org/fhir/R4/patient-operation-everything.html): the patient's own
    resources are matches, ``total`` counts them; the Questionnaires their responses
    answer are included (``search.mode`` ``include``), not counted
    (https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.total).
    """
    built = build(resources)
    for entry in built["entry"]:
        outside = entry["resource"]["resourceType"] in OUTSIDE_THE_PATIENT
        entry["search"] = {"mode": "include" if outside else "match"}
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": sum(entry["search"]["mode"] == "match" for entry in built["entry"]),
        "entry": built["entry"],
    }


def full_url(resource: Mapping[str, Any]) -> str:
    """The absolute identity of a resource inside a hipspine Bundle."""
    try:
        return uuid.UUID(str(resource["id"])).urn
    except ValueError:
        return f"{HIPSPINE}/{resource['resourceType']}/{resource['id']}"


def entries(bundle: Mapping[str, Any]) -> Iterator[tuple[int, Resource | None, str | None]]:
    """(entry index, resource with its references to other entries made literal, problem)
    for each entry.

    A resource without an id takes the last part of its fullUrl as its id (the identity a
    transaction's ``POST`` entries have), and references to it are made literal too.
    """
    raw = bundle.get("entry", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        yield 0, None, "Bundle.entry: not a list of entries"
        return
    resources: list[Resource | None] = []
    refused: dict[int, str] = {}
    full_urls: dict[str, str] = {}
    for index, entry in enumerate(raw):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        method = _method(entry)
        if method not in (None, "PUT", "POST"):
            # A DELETE (or a read) carries no record to keep: never stored as one.
            refused[index] = f"request.method {method}: only PUT and POST entries are imported"
            resource = None
        if not isinstance(resource, dict):
            resources.append(None)
            continue
        full_url = entry.get("fullUrl")
        if not resource.get("id") and isinstance(full_url, str) and full_url:
            resource = {**resource, "id": full_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1]}
        kind, rid = resource.get("resourceType"), resource.get("id")
        if isinstance(full_url, str) and full_url and isinstance(kind, str) and rid:
            full_urls[full_url] = f"{kind}/{rid}"
        resources.append(resource)
    for index, found in enumerate(resources):
        if found is None:
            yield index, None, refused.get(index, "entry without a resource")
            continue
        try:
            literal = _literal(found, full_urls) if full_urls else found
        except RecursionError:  # no FHIR resource nests hundreds of levels deep
            yield index, None, "the resource is nested too deeply to read"
            continue
        yield index, literal, None


def _method(entry: Any) -> str | None:
    """The ``request.method`` of a transaction or batch entry, if it names one."""
    request = entry.get("request") if isinstance(entry, dict) else None
    method = request.get("method") if isinstance(request, dict) else None
    return str(method).upper() if method is not None else None


def _literal(value: Any, full_urls: Mapping[str, str]) -> Any:
    """``value`` with each ``reference`` that is one of ``full_urls`` replaced by its
    ``Type/id``; a part with nothing replaced is returned as it is, not copied."""
    if isinstance(value, dict):
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                new = full_urls.get(item, item)
            elif isinstance(item, dict | list):
                new = _literal(item, full_urls)
            else:
                continue
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items = [_literal(item, full_urls) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    return value
