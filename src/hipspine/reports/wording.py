"""Small pieces of report wording shared by the registry report's sentences, its terminal
summary and its HTML/PDF pages, so each says a number the same way."""

from __future__ import annotations

from collections.abc import Sequence


def turnbull_weeks(median: Sequence[float | None] | None) -> str:
    """The Turnbull median as words: a week, the weeks it lies between, or beyond a week."""
    if median is None:
        return "not reached"
    lo, hi = median
    if hi is None:
        return f"beyond {lo:.1f}"
    return f"{lo:.1f}" if hi == lo else f"{lo:.1f}–{hi:.1f}"


def patients(n: int) -> str:
    """ "1 patient", "2,500 patients"."""
    return "1 patient" if n == 1 else f"{n:,} patients"


__all__ = ["patients", "turnbull_weeks"]
