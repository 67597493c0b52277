"""Likelihood-ratio arithmetic of the assessment.

The engine updates the odds that a structure contributes to the pain with likelihood
ratios (LR): post-test odds = pre-test odds × LR (Jaeschke R, Guyatt GH, Sackett DL. Users'
guides to the medical literature III: how to use an article about a diagnostic test.
JAMA 1994;271(9):703-707). When a source gives sensitivity (Sn) and specificity (Sp)
instead, LR+ = Sn / (1 − Sp) and LR− = (1 − Sn) / Sp.

Redundant findings are grouped (see ``evidence.toml``): inside a group only the strongest
LR above 1 and the strongest below 1 count, so findings that measure the same thing are
not multiplied twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from math import prod
from typing import Any

from hipspine.clinical._data import load


class Basis(StrEnum):
    """Where a weight comes from; shown to the clinician with every weight."""

    PUBLISHED = "published"
    DERIVED = "derived"
    EXPERT_DEFAULT = "expert_default"
    NOT_INFORMATIVE = "not_informative"

    @property
    def label(self) -> str:
        """How the basis is described to a clinician."""
        return {
            "published": "published likelihood ratio",
            "derived": "likelihood ratio from published sensitivity and specificity",
            "expert_default": "expert default (no published accuracy)",
            "not_informative": "published as uninformative",
        }[self.value]


@dataclass(frozen=True)
class Weight:
    """The likelihood ratio an outcome of a rule carries, with its basis."""

    lr: float
    basis: Basis
    note: str = ""


@cache
def method() -> dict[str, Any]:
    """The combination settings of ``evidence.toml`` (threshold, grades, LR clipping)."""
    return dict(load("evidence")["method"])


def weight_from(entry: Mapping[str, Any]) -> Weight:
    """Return the weight described by an outcome entry of ``evidence.toml``.

    An entry gives either ``lr`` or ``sensitivity``/``specificity`` with ``side``
    (``positive`` → LR+, ``negative`` → LR−). Derived ratios are clipped to
    [``lr_floor``, ``lr_ceiling``] so a 100% cell from a small study cannot decide alone.
    """
    basis = Basis(entry["basis"])
    note = str(entry.get("note", ""))
    if "lr" in entry:
        return Weight(float(entry["lr"]), basis, note)
    sn, sp = float(entry["sensitivity"]), float(entry["specificity"])
    if not (0 <= sn <= 1 and 0 <= sp <= 1):
        raise ValueError(f"sensitivity and specificity must be 0–1, got {sn}, {sp}")
    settings = method()
    floor, ceiling = float(settings["lr_floor"]), float(settings["lr_ceiling"])
    if entry["side"] == "positive":
        lr = sn / (1 - sp) if sp < 1 else ceiling
    else:
        lr = (1 - sn) / sp if sp > 0 else ceiling
    return Weight(min(max(lr, floor), ceiling), basis, note)


def combine_group(lrs: Iterable[float]) -> float:
    """Return the LR a group of redundant evidence contributes.

    The strongest LR above 1 and the strongest LR below 1 are kept and multiplied; the
    others measure the same thing again and are not counted.
    """
    values = list(lrs)
    for_source = max((lr for lr in values if lr > 1), default=1.0)
    against = min((lr for lr in values if lr < 1), default=1.0)
    return for_source * against


def posterior(prior: float, group_lrs: Iterable[float]) -> float:
    """Return the post-test probability from a prior and the groups' LRs (Bayes' theorem)."""
    if not 0 < prior < 1:
        raise ValueError(f"prior must be strictly between 0 and 1, got {prior}")
    odds = prior / (1 - prior) * prod(group_lrs)
    return odds / (1 + odds)


def grade(probability: float) -> str:
    """Return the words for a probability (expert-default bands of ``evidence.toml``)."""
    for band in method()["grades"]:
        if probability >= band["min"]:
            return str(band["label"])
    raise ValueError(f"probability must be 0–1, got {probability}")
