"""Reading a case one finding at a time, in three-valued logic.

Every question asked of a case here answers True, False or None (unknown). None is
carried through the rules as unknown and never silently becomes False. The Kleene
connectives below are the only place where unknowns are combined.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hipspine.clinical.case import Case, Observation
from hipspine.clinical.mmt import MRCGrade
from hipspine.clinical.vocabulary import Kind, Side, findings, regions, specific_regions

Truth = bool | None


def all_of(values: Iterable[Truth]) -> Truth:
    """Kleene AND: False if any is False, else None if any is unknown, else True."""
    seen = list(values)
    if any(v is False for v in seen):
        return False
    return None if any(v is None for v in seen) else True


def any_of(values: Iterable[Truth]) -> Truth:
    """Kleene OR: True if any is True, else None if any is unknown, else False."""
    seen = list(values)
    if any(v is True for v in seen):
        return True
    return None if any(v is None for v in seen) else False


@dataclass(frozen=True)
class Facts:
    """Questions about one case, asked for one side (``None`` for unsided findings)."""

    case: Case

    def observations(self, finding: str, side: Side | None) -> list[Observation]:
        """Observations of ``finding`` that apply to ``side`` (bilateral ones included)."""
        lateral = findings()[finding].lateral
        return [
            o
            for o in self.case.findings
            if o.finding == finding
            and (not lateral or side is None or (o.side is not None and o.side.covers(side)))
        ]

    def present(self, finding: str, side: Side | None) -> Truth:
        """Whether a presence or choice finding is present/abnormal; None when unknown.

        For a range-of-motion finding, ``reduced`` counts as present and ``normal`` as
        absent; ``painful`` says nothing about the range and answers None, as do degrees
        alone, because no single cut-off is universal.
        """
        definition = findings()[finding]
        answers: list[Truth] = []
        for obs in self.observations(finding, side):
            result = obs.result
            if definition.kind is Kind.CHOICE:
                answers.append(
                    None if result in (None, "unknown") else result in definition.abnormal
                )
            elif definition.kind is Kind.ANGLE:
                answers.append({"reduced": True, "normal": False}.get(result or ""))
            else:
                answers.append({"present": True, "absent": False}.get(result or ""))
        return any_of(answers) if answers else None

    def known(self, finding: str, side: Side | None) -> bool:
        """Whether the case holds a definite answer (not "unknown") for ``finding``.

        A range of motion recorded only as ``painful`` has no answer about its range.
        """
        vague = ("unknown", "painful") if findings()[finding].kind is Kind.ANGLE else ("unknown",)
        return any(
            o.value is not None or (o.result is not None and o.result not in vague)
            for o in self.observations(finding, side)
        )

    def value(self, finding: str, side: Side | None) -> float | None:
        """The recorded number (the worst, i.e. highest, across levels); None when unknown."""
        values = [o.value for o in self.observations(finding, side) if o.value is not None]
        return max(values) if values else None

    def count(self, finding: str, side: Side | None) -> tuple[int, int] | None:
        """(positive, performed) for a count finding such as the sacroiliac cluster."""
        for obs in self.observations(finding, side):
            if obs.value is not None and obs.of is not None:
                return int(obs.value), obs.of
        return None

    def at_most(self, finding: str, side: Side | None, limit: float) -> Truth:
        """Whether a measured value is ≤ ``limit``; None when not measured."""
        value = self.value(finding, side)
        return None if value is None else value <= limit

    def below(self, finding: str, side: Side | None, limit: float) -> Truth:
        """Whether a measured value is < ``limit``; None when not measured."""
        value = self.value(finding, side)
        return None if value is None else value < limit

    def pain(self, region_ids: Iterable[str], side: Side | None) -> Truth:
        """Whether the pain map shows pain in any of ``region_ids`` on ``side``.

        No pain map: unknown. A coarse mark ("hip", "leg") that could mean one of the
        regions asked about, and no specific mark, leaves the answer unknown rather than
        absent: less specific, not wrong.
        """
        if self.case.pain_map is None:
            return None
        wanted = set(region_ids)
        maybe = False
        for entry in self.case.pain_map:
            if side is not None and not entry.side.covers(side):
                continue
            if entry.intensity == 0:
                continue
            covered = set(specific_regions(entry.region))
            if entry.region in wanted:
                return True
            if regions()[entry.region].coarse and covered & wanted:
                maybe = True
        return None if maybe else False

    def coarse_marks(self, side: Side | None) -> list[str]:
        """Coarse pain-map regions marked on ``side`` (to ask the patient to be specific)."""
        if self.case.pain_map is None:
            return []
        return [
            e.region
            for e in self.case.pain_map
            if regions()[e.region].coarse and (side is None or e.side.covers(side))
        ]

    def grade(self, muscle: str, side: Side | None) -> MRCGrade | None:
        """The weakest MRC grade recorded for ``muscle`` on ``side``; None when untested."""
        grades = [
            t.grade
            for t in self.case.strength
            if t.muscle == muscle and (side is None or t.side is None or t.side.covers(side))
        ]
        return min(grades) if grades else None

    def weak(self, muscle: str, side: Side | None) -> Truth:
        """Whether ``muscle`` tests below MRC 5 on ``side``; None when untested."""
        grade = self.grade(muscle, side)
        return None if grade is None else grade.is_weak

    def diagnosed(self, condition: str, side: Side | None) -> bool:
        """Whether ``condition`` is among the case's diagnoses (on ``side`` if sided)."""
        return any(
            d.condition == condition and (d.side is None or side is None or d.side.covers(side))
            for d in self.case.diagnoses
        )

    def complaint_sides(self) -> tuple[Side, ...]:
        """The side(s) the assessment is made for: the complaint, else the pain map, else both."""
        stated = self.case.complaint.side
        if stated is not None:
            return (Side.LEFT, Side.RIGHT) if stated is Side.BILATERAL else (stated,)
        marked = {
            e.side
            for e in self.case.pain_map or ()
            if e.side in (Side.LEFT, Side.RIGHT, Side.BILATERAL)
        }
        if Side.BILATERAL in marked or marked == {Side.LEFT, Side.RIGHT} or not marked:
            return (Side.LEFT, Side.RIGHT)
        return (marked.pop(),)
