"""Oswestry Disability Index v2.1a and the modified ODI (Fritz & Irrgang 2001).

Score = sum of answered sections / (5 × answered sections) × 100 (Fairbank & Pynsent,
Spine 2000;25(22):2940-52): each unanswered section removes 5 from the denominator, so the
worked example 16 points over 9 sections scores 16/45 = 35.56%. The score is kept
unrounded. The two versions share this arithmetic but not their items, so they are scored
under separate ids and must not be mixed in one series.
"""

from __future__ import annotations

from hipspine.clinical.instruments._answers import resolve
from hipspine.clinical.instruments._common import fmt, make_score
from hipspine.clinical.instruments._model import Answers, Instrument, Score


def score(instrument: Instrument, answers: Answers) -> Score:
    """Return the ODI percentage; ``value`` is ``None`` only when no section was answered."""
    resolved = resolve(instrument, answers)
    ids = [item.id for item in instrument.scored_items]
    given = resolved.answered(ids)
    sections, unanswered = len(given), len(ids) - len(given)
    if sections < instrument.missing_data.minimum_answered:
        return make_score(
            instrument,
            resolved,
            value=None,
            reason="no section was answered",
            explain=f"No {instrument.short_name} score: no section was answered.",
        )
    points, possible = sum(given), 5 * sections
    value = points / possible * 100
    band = instrument.band_for(value) if instrument.bands else None
    notes: tuple[str, ...] = ()
    if unanswered > 1:
        notes = (
            f"{unanswered} sections unanswered. The manual still scores the answered "
            "sections; some implementations refuse to score with more than one missing.",
        )
    left_out = (
        f"; {unanswered} unanswered section{'s' if unanswered > 1 else ''} left out of the "
        "denominator"
        if unanswered
        else ""
    )
    meaning = f" — {band.label}" if band else " — no interpretation bands for this version"
    return make_score(
        instrument,
        resolved,
        value=value,
        band=band,
        notes=notes,
        explain=(
            f"{instrument.short_name} {fmt(value)}% ({points} of {possible} points, "
            f"{sections} of {len(ids)} sections answered{left_out}){meaning}; higher is worse."
        ),
    )
