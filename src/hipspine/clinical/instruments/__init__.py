"""Patient-reported outcome instruments: definitions, scoring and change thresholds.

Each instrument is a reviewed data file in ``data/instruments/<id>.toml`` (items, answer
options, scoring and missing-data rules, bands, licence, LOINC codes, MCID/MDC values,
each with its source) plus one scorer module here. Shipped instruments:

- ``nprs`` — Numeric Pain Rating Scale 0–10, one rating per body region and recall period
- ``odi`` — Oswestry Disability Index v2.1a (Fairbank & Pynsent, Spine 2000)
- ``odi_modified`` — modified ODI, employment/homemaking for sex life (Fritz & Irrgang 2001)
- ``hoos`` — HOOS LK2.0, five subscales (HOOS Scoring 2013)
- ``lefs`` — Lower Extremity Functional Scale 0–80 (Binkley et al., Phys Ther 1999)
- ``psfs`` — Patient-Specific Functional Scale (Stratford et al., Physiother Can 1995)
- ``groc`` — Global Rating of Change −7 … +7 (Jaeschke et al. 1989)
- ``start_back`` — Keele STarT Back Screening Tool (Hill et al., Arthritis Rheum 2008)

**HOOS JR is deliberately absent.** It is scored by converting the raw sum (0–24) to an
interval score with the Rasch table published by HSS (Lyman et al., Clin Orthop Relat Res
2016;474(6):1472-82). That official table could not be obtained and cited (searches of
documentation, web pages and public code found only partial, unattributed values), and a
linear conversion would be wrong. Use the full HOOS subscales instead until the table is
in hand.

Example::

    >>> from hipspine.clinical import instruments
    >>> result = instruments.score("odi", {"pain_intensity": 2, "personal_care": 1,
    ...     "lifting": 3, "walking": 1, "sitting": 2, "standing": 2, "sleeping": 1,
    ...     "social_life": 2, "travelling": 2})
    >>> round(result.value, 2), result.band.id if result.band else None
    (35.56, 'moderate')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

from hipspine.clinical.instruments import groc, hoos, lefs, nprs, odi, psfs, start_back
from hipspine.clinical.instruments._load import INSTRUMENT_IDS, build
from hipspine.clinical.instruments._model import (
    Answer,
    AnswerOption,
    Answers,
    AnswerValue,
    Band,
    ChangeThreshold,
    Direction,
    Instrument,
    InvalidAnswers,
    Item,
    Licence,
    Loinc,
    MissingDataRule,
    Score,
    Subscale,
    SubscaleScore,
    Thresholds,
)

__all__ = [
    "INSTRUMENT_IDS",
    "Answer",
    "AnswerOption",
    "AnswerValue",
    "Answers",
    "Band",
    "ChangeThreshold",
    "Direction",
    "Instrument",
    "InvalidAnswers",
    "Item",
    "Licence",
    "Loinc",
    "MissingDataRule",
    "Score",
    "Subscale",
    "SubscaleScore",
    "Thresholds",
    "all_instruments",
    "change_thresholds",
    "direction",
    "enabled",
    "get",
    "score",
]

_SCORERS: dict[str, Callable[[Instrument, Answers], Score]] = {
    "nprs": nprs.score,
    "odi": odi.score,
    "odi_modified": odi.score,
    "hoos": hoos.score,
    "lefs": lefs.score,
    "psfs": psfs.score,
    "groc": groc.score,
    "start_back": start_back.score,
}


@cache
def get(instrument_id: str) -> Instrument:
    """Return the reviewed definition of one instrument.

    Raises ``KeyError`` naming the known ids when ``instrument_id`` is not one of them.
    """
    if instrument_id not in INSTRUMENT_IDS:
        raise KeyError(f"unknown instrument {instrument_id!r}; known: {', '.join(INSTRUMENT_IDS)}")
    return build(instrument_id)


def all_instruments() -> tuple[Instrument, ...]:
    """Return every shipped instrument, in form order."""
    return tuple(get(i) for i in INSTRUMENT_IDS)


def enabled(disabled_ids: Iterable[str] = ()) -> tuple[Instrument, ...]:
    """Return the instruments a clinic may use, leaving out those it switched off.

    A clinic switches off instruments whose licence it does not hold (see each
    instrument's ``licence.requires_permission_for``). Unknown ids raise ``KeyError`` so a
    misspelt switch never silently leaves a licensed instrument on.
    """
    off = set(disabled_ids)
    unknown = off - set(INSTRUMENT_IDS)
    if unknown:
        raise KeyError(
            f"unknown instrument(s) {sorted(unknown)}; known: {', '.join(INSTRUMENT_IDS)}"
        )
    return tuple(i for i in all_instruments() if i.id not in off)


def score(instrument_id: str, answers: Answers) -> Score:
    """Score one completed questionnaire with the instrument's own scorer.

    ``answers`` maps item id → option value (int), option label (str), several marked
    options (a list; the manual's rule for two marked boxes applies, or it is rejected),
    or ``None``/absent for unanswered. Unknown items and out-of-range answers raise
    :class:`InvalidAnswers` naming the item and its allowed values. Too many unanswered
    items give the documented missing-data result: ``value`` is ``None`` and ``reason``
    says why; a score is never computed from fewer answers than the rule allows.
    """
    return _SCORERS[get(instrument_id).id](get(instrument_id), answers)


def change_thresholds(instrument_id: str, subscale: str | None = None) -> Thresholds:
    """Return the MCID/MCII/MDC entries (with sources) for an instrument or subscale.

    ``subscale`` is ``None`` for the main score, a subscale id (HOOS ``"pain"``), or
    ``"single_item"`` for PSFS single-activity values. The result carries the score's
    direction so a change can be turned into an improvement with
    :meth:`Direction.improvement`. Entries with ``verified = False`` must be shown as
    unverified; ``unit`` says whether a value is in points or percent of baseline.
    """
    instrument = get(instrument_id)
    scope = subscale or "score"
    scopes = {"score", *(s.id for s in instrument.subscales)}
    scopes |= {t.scope for t in instrument.thresholds}
    if scope not in scopes:
        raise KeyError(f"{instrument_id} has no subscale {scope!r}; known: {sorted(scopes)}")
    return Thresholds(
        instrument_id=instrument_id,
        scope=scope,
        direction=instrument.direction,
        entries=tuple(t for t in instrument.thresholds if t.scope == scope),
    )


def direction(instrument_id: str) -> Direction:
    """Return whether a higher score is better or worse for this instrument."""
    return get(instrument_id).direction
