"""The clinical vocabulary: body regions, muscles and findings.

Read from the reviewed data files ``regions.toml``, ``muscles.toml`` and ``findings.toml``
(each entry with its source). Everything that names a region, muscle or finding elsewhere
in hipspine uses the identifiers defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property
from typing import Any

from hipspine.clinical._data import load


class Side(StrEnum):
    """Side of the body an observation belongs to."""

    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"
    MIDLINE = "midline"

    def covers(self, side: Side) -> bool:
        """True when an observation on ``self`` applies to the one-sided ``side``."""
        return self is side or self in (Side.BILATERAL, Side.MIDLINE)


class Stage(StrEnum):
    """When in a visit a finding usually becomes known, in order."""

    HISTORY = "history"
    EXAM = "exam"
    LABS = "labs"
    IMAGING = "imaging"
    BLOCK = "block"

    @property
    def order(self) -> int:
        """Position in the visit, history first."""
        return list(Stage).index(self)


class Kind(StrEnum):
    """How a finding is recorded (see the header of ``findings.toml``)."""

    PRESENCE = "presence"
    ANGLE = "angle"
    MEASURE = "measure"
    GRADE = "grade"
    RELIEF = "relief"
    COUNT = "count"
    CHOICE = "choice"


PRESENCE_RESULTS = ("present", "absent", "unknown")
ANGLE_RESULTS = ("reduced", "normal", "painful", "unknown")
"""Range of motion in words when no degrees were measured. ``painful`` says the movement
hurt; it says nothing about the range, which stays unknown unless degrees are recorded."""
SPINAL_LEVELS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
NERVE_ROOTS = ("L1", "L2", "L3", "L4", "L5", "S1", "S2")


@dataclass(frozen=True)
class Region:
    """A region of the body pain map."""

    id: str
    label: str
    views: tuple[str, ...]
    sides: tuple[Side, ...]
    meaning: str
    source: str
    coarse: bool = False
    covers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Muscle:
    """A muscle of the hip–spine chain."""

    id: str
    label: str
    actions: tuple[str, ...]
    origin: str
    insertion: str
    nerve: str
    roots: tuple[str, ...]
    antagonists: tuple[str, ...]
    lateral: bool
    source: str


@dataclass(frozen=True)
class Finding:
    """A clinical finding that a case may record."""

    id: str
    label: str
    group: str
    stage: Stage
    kind: Kind
    lateral: bool = False
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    abnormal: tuple[str, ...] = ()
    scheme: str | None = None
    roots: bool = False
    level: bool = False
    locations: bool = False
    angle: bool = False
    tests: tuple[str, ...] = ()
    definition: str = ""
    definition_source: str = ""

    # Cached: the case validator reads both for every observation of every case it checks.
    @cached_property
    def results(self) -> tuple[str, ...]:
        """The words allowed in an observation's ``result`` for this finding."""
        if self.kind is Kind.PRESENCE:
            return PRESENCE_RESULTS
        if self.kind is Kind.ANGLE:
            return ANGLE_RESULTS
        if self.kind is Kind.CHOICE:
            return (*self.choices, "unknown")
        return ("unknown",)

    @cached_property
    def takes_value(self) -> bool:
        """True when the finding is recorded with a number."""
        return self.kind not in (Kind.PRESENCE, Kind.CHOICE)


def _region(entry: dict[str, Any]) -> Region:
    return Region(
        id=entry["id"],
        label=entry["label"],
        views=tuple(entry["views"]),
        sides=tuple(Side(s) for s in entry["sides"]),
        meaning=entry["meaning"],
        source=entry["source"],
        coarse=entry.get("coarse", False),
        covers=tuple(entry.get("covers", ())),
    )


def _muscle(entry: dict[str, Any]) -> Muscle:
    return Muscle(
        id=entry["id"],
        label=entry["label"],
        actions=tuple(entry["actions"]),
        origin=entry["origin"],
        insertion=entry["insertion"],
        nerve=entry["nerve"],
        roots=tuple(entry["roots"]),
        antagonists=tuple(entry["antagonists"]),
        lateral=entry["sides"],
        source=entry["source"],
    )


def _finding(entry: dict[str, Any]) -> Finding:
    return Finding(
        id=entry["id"],
        label=entry["label"],
        group=entry["group"],
        stage=Stage(entry["stage"]),
        kind=Kind(entry["kind"]),
        lateral=entry.get("lateral", False),
        unit=entry.get("unit"),
        minimum=entry.get("min"),
        maximum=entry.get("max"),
        choices=tuple(entry.get("choices", ())),
        abnormal=tuple(entry.get("abnormal", ())),
        scheme=entry.get("scheme"),
        roots=entry.get("roots", False),
        level=entry.get("level", False),
        locations=entry.get("locations", False),
        angle=entry.get("angle", False),
        tests=tuple(entry.get("tests", ())),
        definition=entry.get("definition", ""),
        definition_source=entry.get("definition_source", ""),
    )


@cache
def regions() -> dict[str, Region]:
    """All pain-map regions by identifier, specific regions first, then coarse forms."""
    return {e["id"]: _region(e) for e in load("regions")["region"]}


@cache
def muscles() -> dict[str, Muscle]:
    """All muscles of the hip–spine chain by identifier."""
    return {e["id"]: _muscle(e) for e in load("muscles")["muscle"]}


@cache
def findings() -> dict[str, Finding]:
    """All findings by identifier."""
    return {e["id"]: _finding(e) for e in load("findings")["finding"]}


SITE_NOT_RECORDED = "unspecified"
"""The region of a pain rating whose record does not say where the pain is (an EHR's or
Synthea's general pain severity, LOINC 72514-3 without a body site). Such ratings are
followed over time like any region's, but they are never a mark on the pain map: they say
nothing about where the pain comes from."""


@cache
def rated_regions() -> dict[str, str]:
    """Labels of the regions a pain rating followed over time may name, in display order:
    every pain-map region, then :data:`SITE_NOT_RECORDED`."""
    labels = {region.id: region.label for region in regions().values()}
    labels[SITE_NOT_RECORDED] = "General (site not recorded)"
    return labels


def specific_regions(region_id: str) -> tuple[str, ...]:
    """The specific regions a region may mean: itself, or what a coarse form covers."""
    region = regions()[region_id]
    return region.covers if region.coarse else (region.id,)
