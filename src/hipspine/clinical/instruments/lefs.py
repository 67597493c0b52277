"""Lower Extremity Functional Scale: sum of 20 items scored 0–4, total 0–80.

Binkley et al., Phys Ther 1999;79:371-383. Higher is better. No published missing-data
rule was found, so hipspine scores only complete questionnaires rather than prorating.
"""

from __future__ import annotations

from hipspine.clinical.instruments._answers import resolve
from hipspine.clinical.instruments._common import make_score
from hipspine.clinical.instruments._model import Answers, Instrument, Score


def score(instrument: Instrument, answers: Answers) -> Score:
    """Return the LEFS total (0–80); ``value`` is ``None`` unless all 20 items are answered."""
    resolved = resolve(instrument, answers)
    ids = [item.id for item in instrument.scored_items]
    given = resolved.answered(ids)
    if len(given) < instrument.missing_data.minimum_answered:
        unanswered = [i for i in ids if resolved.scores[i] is None]
        return make_score(
            instrument,
            resolved,
            value=None,
            reason=(
                f"{len(unanswered)} items unanswered ({', '.join(unanswered)}); all 20 are needed"
            ),
            explain=(
                f"No LEFS score: {len(unanswered)} of 20 items unanswered, and the LEFS is "
                "only scored when complete."
            ),
        )
    total = sum(given)
    return make_score(
        instrument,
        resolved,
        value=float(total),
        explain=f"LEFS {total}/80 (sum of 20 activities scored 0–4); higher is better.",
    )
