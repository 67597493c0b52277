"""Typed definitions of a patient-reported outcome instrument and of its score.

The definitions are built from the reviewed data files in ``data/instruments/``; nothing
clinical is written here. Every threshold, band and licence term carries the source it
came from and whether that source was checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

AnswerValue = int | str
"""One answer: an option's value (an integer) or its label (text)."""

Answer = AnswerValue | Sequence[AnswerValue] | None
"""What a patient gave for one item: one answer, several marked boxes, or nothing."""

Answers = Mapping[str, Answer]
"""Item id → answer; a missing key or ``None`` means the item was not answered."""

ThresholdKind = Literal["mcid", "mcii", "mdc", "mid", "pass", "responder_cutoff"]
ThresholdUnit = Literal["points", "percent_of_baseline"]
ItemKind = Literal["choice", "context"]


class InvalidAnswers(ValueError):
    """An answer is out of range or names an unknown item.

    ``item`` is the offending item id and ``allowed`` lists the values it accepts (for an
    unknown item: the instrument's item ids).
    """

    def __init__(self, instrument_id: str, item: str, message: str, allowed: Sequence[str]):
        self.instrument_id = instrument_id
        self.item = item
        self.allowed = tuple(allowed)
        super().__init__(
            f"{instrument_id}: item {item!r}: {message}; allowed: {', '.join(self.allowed)}"
        )


class Direction(Enum):
    """Which way a higher score points."""

    HIGHER_IS_BETTER = "higher_is_better"
    HIGHER_IS_WORSE = "higher_is_worse"

    def improvement(self, before: float, after: float) -> float:
        """Return the change from ``before`` to ``after``, positive when the patient improved."""
        change = after - before
        return change if self is Direction.HIGHER_IS_BETTER else -change


@dataclass(frozen=True)
class AnswerOption:
    """One box a patient can mark. ``value`` is the response code, ``score`` what it counts.

    The two are equal for every item except STarT Back item 9, whose five response codes
    (0–4) score 0, 0, 0, 1, 1.
    """

    value: int
    score: int
    label: str


@dataclass(frozen=True)
class Item:
    """One question. ``kind = "context"`` items (NPRS region, recall) are recorded, not scored."""

    id: str
    text: str
    text_verified: bool
    kind: ItemKind
    options: tuple[AnswerOption, ...]
    allowed_text: tuple[str, ...] = ()
    section: str | None = None

    @property
    def allowed_values(self) -> tuple[str, ...]:
        """The answers this item accepts, written for error messages and forms."""
        if self.kind == "context":
            return self.allowed_text
        return tuple(f"{o.value} ({o.label})" if o.label else str(o.value) for o in self.options)


@dataclass(frozen=True)
class Band:
    """An interpretation band: scores above the previous band's ``upper`` and ≤ ``upper``."""

    id: str
    label: str
    upper: float
    source: str


@dataclass(frozen=True)
class ChangeThreshold:
    """A published minimal important change or detectable change, with its source.

    ``unit`` is ``"points"`` (absolute change on the score's own scale; for the ODI that is
    percentage points) or ``"percent_of_baseline"`` (relative change from the baseline
    score). ``kind = "pass"`` is an absolute score (patient acceptable symptom state), not a
    change. ``preferred`` marks the value hipspine uses by default; ``verified = False``
    means the value or its attribution was not checked against a primary source and must
    be shown as unverified.
    """

    kind: ThresholdKind
    value: float
    unit: ThresholdUnit
    scope: str
    source: str
    population: str
    preferred: bool
    verified: bool
    confidence: str = ""
    note: str = ""


@dataclass(frozen=True)
class Thresholds:
    """The change thresholds of one instrument (or subscale), with the score's direction."""

    instrument_id: str
    scope: str
    direction: Direction
    entries: tuple[ChangeThreshold, ...]

    def of_kind(self, *kinds: ThresholdKind) -> tuple[ChangeThreshold, ...]:
        """Return the entries of the given kinds, in data-file order."""
        return tuple(e for e in self.entries if e.kind in kinds)

    def preferred(self, *kinds: ThresholdKind) -> tuple[ChangeThreshold, ...]:
        """Return the preferred entries of the given kinds (all kinds if none given)."""
        wanted = kinds or ("mcid", "mcii", "mdc", "mid", "pass", "responder_cutoff")
        return tuple(e for e in self.entries if e.preferred and e.kind in wanted)


@dataclass(frozen=True)
class Licence:
    """Copyright and licence terms as recorded in the data file.

    ``requires_permission_for`` lists the uses that need the owner's permission or a fee;
    a clinic without that permission switches the instrument off with
    :func:`hipspine.clinical.instruments.enabled`.
    """

    notice: str
    terms: str
    requires_permission_for: tuple[str, ...]
    free_for: tuple[str, ...]
    verified: bool
    source: str


@dataclass(frozen=True)
class Loinc:
    """A LOINC code for the instrument, one of its subscales, or an item, and where the code
    and its meaning were seen (``verified`` only when checked against a named source)."""

    code: str
    display: str
    target: str
    verified: bool
    source: str


@dataclass(frozen=True)
class MissingDataRule:
    """How unanswered items are handled, and whose rule that is."""

    id: str
    rule: str
    minimum_answered: int
    follows: str
    disagreement: str
    multiple_marks: Literal["reject", "highest"]


@dataclass(frozen=True)
class Subscale:
    """A group of items scored on its own (HOOS), with its minimum number of answers."""

    id: str
    name: str
    items: tuple[str, ...]
    minimum_answered: int
    loinc: str


@dataclass(frozen=True)
class Instrument:
    """The reviewed definition of one patient-reported outcome instrument."""

    id: str
    name: str
    short_name: str
    version: str
    language: str
    recall_period: str
    instructions: str
    instructions_verified: bool
    direction: Direction
    score_min: float
    score_max: float
    unit: str
    scoring_rule: str
    rounding: str
    missing_data: MissingDataRule
    items: tuple[Item, ...]
    subscales: tuple[Subscale, ...]
    bands: tuple[Band, ...]
    thresholds: tuple[ChangeThreshold, ...]
    licence: Licence
    loinc: tuple[Loinc, ...]
    source: str
    text_source: str
    banding: Literal["score", "rule"] = "score"
    extra: Mapping[str, object] = field(default_factory=dict)

    def item(self, item_id: str) -> Item:
        """Return the item with this id, or raise ``KeyError``."""
        for candidate in self.items:
            if candidate.id == item_id:
                return candidate
        raise KeyError(item_id)

    @property
    def scored_items(self) -> tuple[Item, ...]:
        """The items that count towards a score (not context such as the NPRS region)."""
        return tuple(i for i in self.items if i.kind == "choice")

    def band(self, band_id: str) -> Band:
        """Return the band with this id, or raise ``KeyError``."""
        for candidate in self.bands:
            if candidate.id == band_id:
                return candidate
        raise KeyError(band_id)

    def band_for(self, value: float) -> Band | None:
        """Return the interpretation band holding ``value``, or ``None`` if there are none.

        Only for instruments banded on the score alone; STarT Back's risk groups depend on
        two numbers and are assigned by its scorer (``banding == "rule"``).
        """
        if self.banding != "score":
            raise ValueError(f"{self.id} bands are assigned by its scoring rule, not by value")
        for band in self.bands:
            if value <= band.upper:
                return band
        return None


@dataclass(frozen=True)
class SubscaleScore:
    """The score of one subscale; ``value`` is ``None`` when too few items were answered."""

    id: str
    name: str
    value: float | None
    answered: int
    missing: int
    reason: str = ""

    def as_record(self) -> dict[str, Any]:
        """How a stored response keeps this subscale (``questionnaire_response.subscales``)."""
        return {
            "name": self.name,
            "value": self.value,
            "answered": self.answered,
            "missing": self.missing,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Score:
    """The result of scoring one completed questionnaire.

    ``value`` is unrounded. It is ``None`` when the missing-data rule forbids a score, or
    when the instrument has no total (HOOS reports subscales only); ``reason`` then says
    which. ``missing_rule`` names the rule applied and ``explain`` says in one plain
    sentence what the number means and how it was reached.
    """

    instrument_id: str
    version: str
    value: float | None
    reason: str
    subscales: Mapping[str, SubscaleScore]
    band: Band | None
    answered: int
    missing: int
    missing_rule: str
    explain: str
    context: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
