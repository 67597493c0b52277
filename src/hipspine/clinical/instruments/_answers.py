"""Turn raw answers into option scores, rejecting anything the instrument does not allow."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hipspine.clinical.instruments._model import (
    Answer,
    AnswerOption,
    Instrument,
    InvalidAnswers,
    Item,
)

_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Resolved:
    """Scores of the answered items (``None`` = unanswered), context values and notes."""

    scores: Mapping[str, int | None]
    context: Mapping[str, str]
    notes: tuple[str, ...]

    def answered(self, item_ids: Sequence[str]) -> list[int]:
        """Return the scores of the answered items among ``item_ids``."""
        return [s for i in item_ids if (s := self.scores[i]) is not None]


def _option(instrument: Instrument, item: Item, raw: object) -> AnswerOption:
    def invalid(why: str) -> InvalidAnswers:
        return InvalidAnswers(instrument.id, item.id, why, item.allowed_values)

    if isinstance(raw, bool):
        raise invalid(f"{raw!r} is not an answer")
    if isinstance(raw, str):
        text = raw.strip()
        if _INTEGER.match(text):
            raw = int(text)
        else:
            for option in item.options:
                if option.label.casefold() == text.casefold():
                    return option
            raise invalid(f"{raw!r} is not one of the answer options")
    if isinstance(raw, int):
        for option in item.options:
            if option.value == raw:
                return option
        raise invalid(f"{raw} is out of range")
    raise invalid(f"{raw!r} is neither an option value (integer) nor an option label")


def _choice(instrument: Instrument, item: Item, raw: Answer, notes: list[str]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, (str, int)):
        return _option(instrument, item, raw).score
    if not isinstance(raw, Sequence):
        raise InvalidAnswers(
            instrument.id, item.id, f"{raw!r} is not an answer", item.allowed_values
        )
    marked = [_option(instrument, item, one) for one in raw]
    if not marked:
        return None
    if len(marked) == 1:
        return marked[0].score
    if instrument.missing_data.multiple_marks == "reject":
        raise InvalidAnswers(
            instrument.id,
            item.id,
            f"{len(marked)} answers were marked but this instrument takes exactly one",
            item.allowed_values,
        )
    worst = max(marked, key=lambda option: option.score)
    notes.append(
        f"Item {item.id}: {len(marked)} boxes marked; the higher-scoring "
        f"({worst.label or worst.value}) was used, as the manual directs."
    )
    return worst.score


def _context(instrument: Instrument, item: Item, raw: Answer) -> str:
    defaults = instrument.extra.get("context_defaults", {})
    assert isinstance(defaults, Mapping)
    if raw is None:
        if item.id in defaults:
            return str(defaults[item.id])
        raise InvalidAnswers(instrument.id, item.id, "is required", item.allowed_values)
    if not isinstance(raw, str) or raw not in item.allowed_text:
        raise InvalidAnswers(instrument.id, item.id, f"{raw!r} is not allowed", item.allowed_values)
    return raw


def resolve(instrument: Instrument, answers: Mapping[str, Answer]) -> Resolved:
    """Return each item's score, or raise :class:`InvalidAnswers` naming the bad item."""
    if not isinstance(answers, Mapping):
        raise InvalidAnswers(
            instrument.id,
            "<answers>",
            "answers must map item ids to answers",
            [i.id for i in instrument.items],
        )
    known = {item.id for item in instrument.items}
    for key in answers:
        if key not in known:
            raise InvalidAnswers(
                instrument.id, str(key), "is not an item of this instrument", sorted(known)
            )
    notes: list[str] = []
    scores: dict[str, int | None] = {}
    context: dict[str, str] = {}
    for item in instrument.items:
        raw = answers.get(item.id)
        if item.kind == "context":
            context[item.id] = _context(instrument, item, raw)
        else:
            scores[item.id] = _choice(instrument, item, raw, notes)
    return Resolved(scores=scores, context=context, notes=tuple(notes))
