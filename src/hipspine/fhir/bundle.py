"""FHIR Bundles: build a patient's Bundle, and read Bundles (transaction, batch or
collection) into resources with their references made literal (``Type/id``).

Synthea and many EHRs link entries by ``urn:uuid:`` fullUrls; a reference to such a fullUrl
is rewritten to the target's ``Type/id`` so the importer sees one kind of reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hipspine.fhir._common import HIPSPINE, Resource

REFERENCE_FIELDS = ("subject", "patient")


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


def searchset(resources: Iterable[Mapping[str, Any]]) -> Resource:
    """A searchset Bundle of ``resources``, each a match (the answer of ``$everything``).

    FHIR R4 Patient/$everything returns a searchset; ``total`` counts every entry.
    """
    built = build(resources)
    for entry in built["entry"]:
        entry["search"] = {"mode": "match"}
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(built["entry"]),
        "entry": built["entry"],
    }


def full_url(resource: Mapping[str, Any]) -> str:
    """The absolute identity of a resource inside a hipspine Bundle."""
    try:
        return uuid.UUID(str(resource["id"])).urn
    except ValueError:
        return f"{HIPSPINE}/{resource['resourceType']}/{resource['id']}"


def entries(bundle: Mapping[str, Any]) -> Iterator[tuple[int, Resource | None, str | None]]:
    """(entry index, resource with literal patient references, problem) for each entry."""
    full_urls: dict[str, str] = {}
    raw = bundle.get("entry") or []
    for entry in raw:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and entry.get("fullUrl") and resource.get("id"):
            full_urls[entry["fullUrl"]] = f"{resource.get('resourceType')}/{resource['id']}"
    for index, entry in enumerate(raw):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            yield index, None, "entry without a resource"
            continue
        if not resource.get("id") and isinstance(entry.get("fullUrl"), str):
            # A resource identified only by its fullUrl keeps that as its identity.
            resource = {**resource, "id": entry["fullUrl"].rsplit(":", 1)[-1].rsplit("/", 1)[-1]}
        for name in REFERENCE_FIELDS:
            ref = resource.get(name)
            if isinstance(ref, dict) and ref.get("reference") in full_urls:
                resource = {**resource, name: {**ref, "reference": full_urls[ref["reference"]]}}
        yield index, resource, None
