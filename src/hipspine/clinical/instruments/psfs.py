"""Patient-Specific Functional Scale: the mean of the patient's activity ratings (0–10).

Stratford et al., Physiother Can 1995;47:258-263. The mean is taken over the activities
actually rated (1 to 5). With one activity the score is that rating and its change is read
against the single-activity MDC (3 points) rather than the average MDC (2 points); the
score carries a note saying so. Each activity's rating is also returned in
:attr:`Score.subscales` under its item id.
"""

from __future__ import annotations

from hipspine.clinical.instruments._answers import resolve
from hipspine.clinical.instruments._common import fmt, make_score
from hipspine.clinical.instruments._model import Answers, Instrument, Score, SubscaleScore


def score(instrument: Instrument, answers: Answers) -> Score:
    """Return the mean activity rating; ``value`` is ``None`` when no activity was rated."""
    resolved = resolve(instrument, answers)
    activities = {
        item.id: SubscaleScore(item.id, item.text, float(s), 1, 0)
        for item in instrument.scored_items
        if (s := resolved.scores[item.id]) is not None
    }
    if not activities:
        return make_score(
            instrument,
            resolved,
            value=None,
            reason="no activity was rated",
            explain="No PSFS score: no activity was rated.",
        )
    ratings = [a.value for a in activities.values() if a.value is not None]
    value = sum(ratings) / len(ratings)
    notes: tuple[str, ...] = ()
    if len(ratings) == 1:
        notes = (
            "Only one activity rated: the score is that activity's rating; judge its change "
            "against the single-activity MDC (3 points), not the average MDC (2 points).",
        )
    return make_score(
        instrument,
        resolved,
        value=value,
        subscales=activities,
        notes=notes,
        explain=(
            f"PSFS {fmt(value)}/10, the mean of {len(ratings)} rated "
            f"activit{'y' if len(ratings) == 1 else 'ies'}; higher is better."
        ),
    )
