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
    supporting: tuple[str, ...] = ()


@dataclass(frozen=True)
class Threshold:
    """A laboratory value that counts as a red-flag item (``[[threshold]]``)."""

    id: str
    finding: str
    limit: float
    inclusive: bool  # ``at_least`` (≥) rather than ``above`` (>)
    label: str
    basis: str  # published | expert_default
    source: str

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the threshold."""
        return value >= self.limit if self.inclusive else value > self.limit


@dataclass(frozen=True)
class RedFlag:
    """A red flag that fired, with the findings that fired it."""

    id: str
    condition: str
    urgency: Urgency
    action: str
    citation: str
    because: tuple[str, ...]
    checked: tuple[str, ...] = ()
    """This flag's other items, answered and not counting (an ESR measured below its
    cut-off, weight loss asked and absent): what the clinician has already checked."""


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
        supporting=tuple(entry.get("supporting", ())),
    )


@cache
def flag_rules() -> tuple[FlagRule, ...]:
    """Every red-flag rule, in file order."""
    return tuple(_flag(e) for e in load("red_flags")["flag"])


@cache
def thresholds() -> dict[str, Threshold]:
    """The laboratory thresholds red flags may count, by identifier."""
    out = {}
    for e in load("red_flags").get("threshold", ()):
        inclusive = "at_least" in e
        out[e["id"]] = Threshold(
            e["id"],
            e["finding"],
            float(e["at_least"] if inclusive else e["above"]),
            inclusive,
            e["label"],
            e["basis"],
            e["source"],
        )
    return out


def _diagnoses() -> dict[str, list[str]]:
    found: dict[str, list[str]] = load("red_flags").get("diagnoses", {})
    return found


def item_label(item: str) -> str:
    """How a red-flag item (a finding or a laboratory threshold) is named to a clinician."""
    if item in thresholds():
        t = thresholds()[item]
        return t.label + (" (expert default)" if t.basis == "expert_default" else "")
    return findings()[item].label


def flag_findings() -> tuple[str, ...]:
    """Every finding a red flag or the screening list reads (thresholds by their finding)."""
    items = [i for f in flag_rules() for i in (*f.any, *f.count, *f.supporting)]
    items += load("red_flags")["screening"]["items"]
    names = [thresholds()[i].finding if i in thresholds() else i for i in items]
    return tuple(dict.fromkeys(names))


def _item(facts: Facts, item: str) -> str | None:
    """The reason ``item`` counts in this case, or None when it does not (or is unknown).

    A finding counts when present on either side (e.g. the sign of the buttock) or when a
    diagnosis of the same meaning is recorded; a threshold when the measured value meets it.
    """
    if item in thresholds():
        t = thresholds()[item]
        value = facts.value(t.finding, None)
        if value is None or not t.holds(value):
            return None
        unit = findings()[t.finding].unit or ""
        default = "; expert-default cut-off" if t.basis == "expert_default" else ""
        return f"{findings()[t.finding].label} {value:g} {unit} ({t.label}{default})"
    if any(o.result == "present" for o in facts.case.findings if o.finding == item):
        return findings()[item].label
    for condition in _diagnoses().get(item, ()):
        if facts.diagnosed(condition, None):
            return f"{findings()[item].label} (diagnosis)"
    return None


def _checked(facts: Facts, item: str) -> str | None:
    """How ``item`` was answered when it does not count: a threshold's measured value
    below it, or a finding recorded absent; None when it counts or is unknown."""
    if item in thresholds():
        t = thresholds()[item]
        value = facts.value(t.finding, None)
        if value is None or t.holds(value):
            return None
        unit = findings()[t.finding].unit or ""
        return f"{findings()[t.finding].label} {value:g} {unit} (not {t.label})".replace("  ", " ")
    answers = {o.result for o in facts.case.findings if o.finding == item}
    if answers == {"absent"}:
        return f"{findings()[item].label}: absent"
    return None


def red_flags(facts: Facts) -> tuple[RedFlag, ...]:
    """Return every red flag that fires, most urgent first."""
    fired = []
    age = facts.case.patient.age
    for rule in flag_rules():
        because = [r for r in (_item(facts, i) for i in rule.any) if r]
        if rule.at_least:
            counted = [r for r in (_item(facts, i) for i in rule.count) if r]
            if rule.age_at_least is not None and age is not None and age >= rule.age_at_least:
                counted.append(f"age {age} (≥{rule.age_at_least})")
            if len(counted) >= rule.at_least:
                because.extend(c for c in counted if c not in because)
        if because:
            supporting = [r for r in (_item(facts, i) for i in rule.supporting) if r]
            because.extend(r for r in supporting if r not in because)
            items = (*rule.any, *rule.count, *rule.supporting)
            checked = tuple(c for c in (_checked(facts, i) for i in items) if c)
            fired.append(
                RedFlag(
                    rule.id,
                    rule.condition,
                    rule.urgency,
                    rule.action,
                    rule.citation,
                    tuple(because),
                    checked,
                )
            )
    order = list(Urgency)
    return tuple(sorted(fired, key=lambda flag: order.index(flag.urgency)))


def unscreened(facts: Facts) -> tuple[str, ...]:
    """Screening items with no answer in the case (they are unknown, not absent).

    A diagnosis of the same meaning (osteoporosis) answers its item.
    """
    items: list[str] = load("red_flags")["screening"]["items"]
    answered = {o.finding for o in facts.case.findings if o.result in ("present", "absent")}
    answered |= {
        item
        for item, conditions in _diagnoses().items()
        if any(facts.diagnosed(c, None) for c in conditions)
    }
    missing = [f for f in items if f not in answered]
    if facts.case.patient.age is None:
        missing.insert(0, "age")
    return tuple(missing)
