"""HOOS LK2.0: five subscales, each 100 − mean/4 × 100 (HOOS Scoring 2013, koos.nu).

A subscale is scored only when at least half its items are answered (pain 5, symptoms 3,
ADL 9, sport/recreation 2, quality of life 2); when two boxes are marked the more severe
one counts. The HOOS has no total score, so :attr:`Score.value` is always ``None`` and the
results are in :attr:`Score.subscales`.
"""

from __future__ import annotations

from hipspine.clinical.instruments._answers import resolve
from hipspine.clinical.instruments._common import fmt, make_score
from hipspine.clinical.instruments._model import Answers, Instrument, Score, SubscaleScore


def score(instrument: Instrument, answers: Answers) -> Score:
    """Return the five HOOS subscale scores (0 = extreme problems, 100 = no problems)."""
    resolved = resolve(instrument, answers)
    results: dict[str, SubscaleScore] = {}
    parts: list[str] = []
    for subscale in instrument.subscales:
        given = resolved.answered(subscale.items)
        missing = len(subscale.items) - len(given)
        if len(given) < subscale.minimum_answered:
            reason = (
                f"{len(given)} of {len(subscale.items)} items answered; "
                f"at least {subscale.minimum_answered} needed"
            )
            results[subscale.id] = SubscaleScore(
                subscale.id, subscale.name, None, len(given), missing, reason
            )
            parts.append(f"{subscale.name} not scored ({reason})")
            continue
        value = 100 - (sum(given) / len(given)) / 4 * 100
        results[subscale.id] = SubscaleScore(subscale.id, subscale.name, value, len(given), missing)
        parts.append(f"{subscale.name} {fmt(value)}")
    return make_score(
        instrument,
        resolved,
        value=None,
        reason="the HOOS reports five subscale scores and no total",
        subscales=results,
        explain="HOOS subscales (0 = extreme problems, 100 = no problems): "
        + "; ".join(parts)
        + ".",
    )
