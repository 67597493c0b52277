"""Streaming NDJSON (one FHIR resource per line, the Bulk Data format): read line by line,
write one file per resource type, memory bounded by one line (reading) or by the open
files (writing)."""

from __future__ import annotations

import re
from collections.abc import Container, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson


class Line:
    """One line of an NDJSON file: its number, and the resource or why it could not be read.

    A line whose type the reader was told to pass over has neither: only its ``kind``.
    """

    __slots__ = ("error", "kind", "number", "resource")

    def __init__(
        self,
        number: int,
        resource: dict[str, Any] | None,
        error: str | None,
        kind: str | None = None,
    ) -> None:
        self.number, self.resource, self.error = number, resource, error
        self.kind = kind if resource is None else resource.get("resourceType")


# ``{"resourceType": "X"`` at the very start of a line: the top-level type, as written by
# FHIR servers, Synthea and hipspine. A type found later in the line may be a contained
# resource's, so only this form is trusted without parsing.
LEADING_TYPE = re.compile(rb'\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]{1,64})"')


def leading_type(raw: bytes) -> str | None:
    """The resource type of a raw line that plainly starts with it, else None."""
    lead = LEADING_TYPE.match(raw)
    return None if lead is None else lead[1].decode()


def read(path: Path, wanted: Container[str] | None = None) -> Iterator[Line]:
    """Each non-blank line of ``path``, parsed (see :func:`parse`)."""
    for number, raw in lines(path):
        line = parse(number, raw, wanted)
        if line is not None:
            yield line


def lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The raw lines of ``path`` with their numbers (from 1), unparsed."""
    with path.open("rb") as handle:
        yield from enumerate(handle, start=1)


def parse(number: int, raw: bytes, wanted: Container[str] | None = None) -> Line | None:
    """One raw line, parsed; an unparseable line carries its error; None for a blank line.

    With ``wanted``, a line that plainly starts with a resource type not in it is not
    parsed (parsing is most of the cost of reading): it comes back with only its kind.
    """
    if wanted is not None:
        kind = leading_type(raw)
        if kind is not None and kind not in wanted:
            return Line(number, None, None, kind)
    if not raw.strip():
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return Line(number, None, f"not valid JSON: {error}")
    if not isinstance(value, dict):
        return Line(number, None, "not a JSON object")
    return Line(number, value, None)


MANIFEST = "manifest.json"
"""The file name of a Bulk Data export manifest (see :meth:`Writer.manifest`)."""


class Writer:
    """Writes resources to ``<folder>/<ResourceType>.ndjson``, one line each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[bytes]] = {}
        self.counts: dict[str, int] = {}

    def write(self, resource: Mapping[str, Any]) -> None:
        kind = str(resource["resourceType"])
        handle = self._files.get(kind)
        if handle is None:
            handle = self._files[kind] = (self.folder / f"{kind}.ndjson").open("wb")
        handle.write(orjson.dumps(resource))
        handle.write(b"\n")
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def manifest(self, transaction_time: datetime, request: str = "hipspine export --all") -> Path:
        """Write ``manifest.json`` beside the files: the Bulk Data export manifest (FHIR Bulk
        Data Access IG 2.0, "Response - Complete Status"), and return its path.

        ``transactionTime`` is when the export's snapshot was taken; ``output`` lists each
        file with its ``type``, ``url`` (the file's name, relative to the manifest, so the
        folder can be moved) and ``count`` of resources.
        """
        document = {
            "transactionTime": transaction_time.isoformat(timespec="milliseconds"),
            "request": request,
            "requiresAccessToken": False,
            "output": [
                {"type": kind, "url": f"{kind}.ndjson", "count": count}
                for kind, count in sorted(self.counts.items())
            ],
            "error": [],
        }
        path = self.folder / MANIFEST
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        return path

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
