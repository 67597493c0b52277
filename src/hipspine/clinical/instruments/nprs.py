"""Numeric Pain Rating Scale (0–10), one rating per body region and recall period.

The region is an id from ``data/regions.toml`` (or ``unspecified``: the record did not say
where) and the recall period defaults to the past week (Chiarotto et al., Pain 2018).
Thresholds: MCID 2 points or 30% (Ostelo et al., Spine 2008); MDC 2 points (Childs et al.,
Spine 2005).
"""

from __future__ import annotations

from hipspine.clinical.instruments._answers import resolve
from hipspine.clinical.instruments._common import make_score
from hipspine.clinical.instruments._model import Answers, Instrument, Score
from hipspine.clinical.vocabulary import rated_regions

_RECALL = {
    "now": "right now",
    "past_24_hours": "over the past 24 hours",
    "past_week": "over the past week",
}


def _region_label(region_id: str) -> str:
    return rated_regions().get(region_id, region_id).lower()


def score(instrument: Instrument, answers: Answers) -> Score:
    """Return the pain rating for one region; ``value`` is ``None`` if it was not given."""
    resolved = resolve(instrument, answers)
    region, recall = resolved.context["region"], resolved.context["recall"]
    where = f"{_region_label(region)} pain {_RECALL[recall]}"
    rating = resolved.scores["pain"]
    if rating is None:
        return make_score(
            instrument,
            resolved,
            value=None,
            reason="the pain rating was not answered",
            explain=f"No NPRS score for {where}: the rating was not answered.",
        )
    band = instrument.band_for(rating)
    assert band is not None
    return make_score(
        instrument,
        resolved,
        value=float(rating),
        band=band,
        explain=f"NPRS {rating}/10 for {where} ({band.label}); higher is worse.",
    )
