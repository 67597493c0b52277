"""Streaming NDJSON (one FHIR resource per line, the Bulk Data format): read line by line,
write one file per resource type, memory bounded by one line (reading) or by the open
files (writing)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson


class Line:
    """One line of an NDJSON file: its number, and the resource or why it could not be read."""

    __slots__ = ("error", "number", "resource")

    def __init__(self, number: int, resource: dict[str, Any] | None, error: str | None) -> None:
        self.number, self.resource, self.error = number, resource, error


def read(path: Path) -> Iterator[Line]:
    """Each non-blank line of ``path``, parsed; unparseable lines carry their error."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                yield Line(number, None, f"not valid JSON: {error}")
                continue
            if not isinstance(value, dict):
                yield Line(number, None, "not a JSON object")
                continue
            yield Line(number, value, None)


def first_type(path: Path) -> str | None:
    """The resourceType on the first non-blank line (the Bulk Data layout has one type a file)."""
    for line in read(path):
        return (line.resource or {}).get("resourceType")
    return None


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
