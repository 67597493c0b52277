"""Global Rating of Change, −7 (a very great deal worse) … +7 (a very great deal better).

Jaeschke, Singer & Guyatt, Control Clin Trials 1989;10:407-415. The rating is itself a
judgement of change since the reference point, so it is never differenced between visits.
"""

from __future__ import annotations

from hipspine.clinical.instruments._answers import resolve
from hipspine.clinical.instruments._common import make_score
from hipspine.clinical.instruments._model import Answers, Instrument, Score


def score(instrument: Instrument, answers: Answers) -> Score:
    """Return the rating (−7 … +7); ``value`` is ``None`` if it was not answered."""
    resolved = resolve(instrument, answers)
    rating = resolved.scores["groc"]
    if rating is None:
        return make_score(
            instrument,
            resolved,
            value=None,
            reason="the rating was not answered",
            explain="No GROC score: the rating was not answered.",
        )
    band = instrument.band_for(rating)
    assert band is not None
    label = next(o.label for o in instrument.item("groc").options if o.score == rating)
    return make_score(
        instrument,
        resolved,
        value=float(rating),
        band=band,
        explain=f"GROC {rating:+d} ('{label}'): the patient rates themselves {band.label}.",
    )
