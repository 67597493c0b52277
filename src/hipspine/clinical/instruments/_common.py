"""Small helpers shared by the scorers."""

from __future__ import annotations

from collections.abc import Mapping

from hipspine.clinical.instruments._answers import Resolved
from hipspine.clinical.instruments._model import Band, Instrument, Score, SubscaleScore


def counts(instrument: Instrument, resolved: Resolved) -> tuple[int, int]:
    """Return (answered, missing) over the instrument's scored items."""
    answered = sum(1 for s in resolved.scores.values() if s is not None)
    return answered, len(instrument.scored_items) - answered


def make_score(
    instrument: Instrument,
    resolved: Resolved,
    *,
    value: float | None,
    explain: str,
    reason: str = "",
    band: Band | None = None,
    subscales: Mapping[str, SubscaleScore] | None = None,
    notes: tuple[str, ...] = (),
) -> Score:
    """Assemble a :class:`Score` with the counts, rule id and notes filled in."""
    answered, missing = counts(instrument, resolved)
    return Score(
        instrument_id=instrument.id,
        version=instrument.version,
        value=value,
        reason=reason,
        subscales=dict(subscales or {}),
        band=band,
        answered=answered,
        missing=missing,
        missing_rule=instrument.missing_data.id,
        explain=explain,
        context=dict(resolved.context),
        notes=resolved.notes + notes,
    )


def fmt(value: float) -> str:
    """Format a score for an explanation: at most two decimals, trailing zeros dropped."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
