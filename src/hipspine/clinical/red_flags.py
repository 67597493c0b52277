"""Red flags: conditions that must not wait (``red_flags.toml``).

Red flags are not weighed against other findings. When an emergency or urgent flag fires,
the assessment's primary conclusion is ``red_flag`` regardless of anything else, and every
flag that fires is listed. Screening questions never asked are reported as unscreened:
an unknown red flag is not a negative one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from hipspine.clinical._data import load
from hipspine.clinical.facts import Facts
from hipspine.clinical.vocabulary import findings


class Urgency(StrEnum):
    """How soon a fired flag must be acted on."""

    EMERGENCY = "emergency"
    URGENT = "urgent"
    CONSIDER = "consider"

    @property
    def overrides(self) -> bool:
        """Emergency and urgent flags override every other conclusion."""
        return self is not Urgency.CONSIDER


@dataclass(frozen=True)
class FlagRule:
    """One red-flag rule of ``red_flags.toml``."""

    id: str
    condition: str
    urgency: Urgency
    action: str
    citation: str
    any: tuple[str, ...] = ()
    count: tuple[str, ...] = ()
    at_least: int = 0
    age_at_least: int | None = None


@dataclass(frozen=True)
class RedFlag:
    """A red flag that fired, with the findings that fired it."""

    id: str
    condition: str
    urgency: Urgency
    action: str
    citation: str
    because: tuple[str, ...]


def _flag(entry: dict[str, Any]) -> FlagRule:
    return FlagRule(
        id=entry["id"],
        condition=entry["condition"],
        urgency=Urgency(entry["urgency"]),
        action=entry["action"],
        citation=entry["citation"],
        any=tuple(entry.get("any", ())),
        count=tuple(entry.get("count", ())),
        at_least=int(entry.get("at_least", 0)),
        age_at_least=entry.get("age_at_least"),
    )


@cache
def flag_rules() -> tuple[FlagRule, ...]:
    """Every red-flag rule, in file order."""
    return tuple(_flag(e) for e in load("red_flags")["flag"])


def _present_anywhere(facts: Facts, finding: str) -> bool:
    """A red-flag finding counts on either side (e.g. the sign of the buttock)."""
    return any(o.result == "present" for o in facts.case.findings if o.finding == finding)


def red_flags(facts: Facts) -> tuple[RedFlag, ...]:
    """Return every red flag that fires, most urgent first."""
    fired = []
    age = facts.case.patient.age
    for rule in flag_rules():
        because = [findings()[f].label for f in rule.any if _present_anywhere(facts, f)]
        if rule.at_least:
            counted = [findings()[f].label for f in rule.count if _present_anywhere(facts, f)]
            if rule.age_at_least is not None and age is not None and age >= rule.age_at_least:
                counted.append(f"age {age} (≥{rule.age_at_least})")
            if len(counted) >= rule.at_least:
                because.extend(counted)
        if because:
            fired.append(
                RedFlag(
                    rule.id,
                    rule.condition,
                    rule.urgency,
                    rule.action,
                    rule.citation,
                    tuple(because),
                )
            )
    order = list(Urgency)
    return tuple(sorted(fired, key=lambda flag: order.index(flag.urgency)))


def unscreened(facts: Facts) -> tuple[str, ...]:
    """Screening items with no answer in the case (they are unknown, not absent)."""
    items: list[str] = load("red_flags")["screening"]["items"]
    answered = {o.finding for o in facts.case.findings if o.result in ("present", "absent")}
    missing = [f for f in items if f not in answered]
    if facts.case.patient.age is None:
        missing.insert(0, "age")
    return tuple(missing)
