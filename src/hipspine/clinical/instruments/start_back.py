"""Keele STarT Back Screening Tool: total (0–9), psychosocial subscale (items 5–9) and risk.

Keele scoring (keele.ac.uk/sbst; Hill et al., Arthritis Rheum 2008;59:632-641): total ≤ 3 is
low risk; total ≥ 4 with psychosocial ≤ 3 is medium risk; psychosocial ≥ 4 is high risk.
The cut-offs are read from the data file. All nine items are needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from hipspine.clinical.instruments._answers import resolve
from hipspine.clinical.instruments._common import make_score
from hipspine.clinical.instruments._model import Answers, Instrument, Score, SubscaleScore


def score(instrument: Instrument, answers: Answers) -> Score:
    """Return the total with the psychosocial subscale and the risk group as the band."""
    resolved = resolve(instrument, answers)
    ids = [item.id for item in instrument.scored_items]
    given = resolved.answered(ids)
    if len(given) < instrument.missing_data.minimum_answered:
        unanswered = [i for i in ids if resolved.scores[i] is None]
        return make_score(
            instrument,
            resolved,
            value=None,
            reason=f"items unanswered ({', '.join(unanswered)}); all 9 are needed",
            explain=(
                f"No STarT Back score or risk group: {len(unanswered)} of 9 items unanswered."
            ),
        )
    risk = cast(Mapping[str, Any], instrument.extra["risk"])
    subscale = instrument.subscales[0]
    total = sum(given)
    psychosocial = sum(resolved.answered(subscale.items))
    if total <= int(risk["low_max_total"]):
        group = instrument.band("low")
    elif psychosocial >= int(risk["high_min_psychosocial"]):
        group = instrument.band("high")
    else:
        group = instrument.band("medium")
    return make_score(
        instrument,
        resolved,
        value=float(total),
        band=group,
        subscales={
            subscale.id: SubscaleScore(
                subscale.id, subscale.name, float(psychosocial), len(subscale.items), 0
            )
        },
        explain=(
            f"STarT Back total {total}/9, psychosocial subscale {psychosocial}/5: {group.label}."
        ),
    )
