"""Manual muscle testing on the Medical Research Council (Oxford) scale.

MRC grades 0–5 come from *Aids to the examination of the peripheral nervous system*,
Medical Research Council Memorandum No. 45 (HMSO, 1976):
0 no contraction, 1 flicker or trace, 2 active movement with gravity eliminated,
3 against gravity, 4 against gravity and resistance, 5 normal power.
The ``-``/``+`` modifiers on grades 2–4 (e.g. ``4-``, ``4+``) are a widespread clinical
convention, not part of the 1976 memorandum; they order grades but add no validated
interval meaning, so arithmetic on them is only ever ordinal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_GRADE = re.compile(r"^\s*([0-5])\s*([+-]?)\s*$")
_MODIFIABLE = {2, 3, 4}
MRC_GRADES: tuple[str, ...] = (
    "0", "1", "2-", "2", "2+", "3-", "3", "3+", "4-", "4", "4+", "5",
)  # fmt: skip

MRC_MEANING: dict[int, str] = {
    0: "no contraction",
    1: "flicker or trace of contraction",
    2: "active movement with gravity eliminated",
    3: "active movement against gravity",
    4: "active movement against gravity and resistance",
    5: "normal power",
}


@total_ordering
@dataclass(frozen=True)
class MRCGrade:
    """One manual muscle test result on the MRC 0–5 scale, with an optional +/- modifier."""

    base: int
    modifier: str = ""

    def __post_init__(self) -> None:
        if self.base not in MRC_MEANING:
            raise ValueError(f"MRC grade must be 0–5, got {self.base}")
        if self.modifier not in ("", "+", "-"):
            raise ValueError(f"MRC modifier must be '+', '-' or empty, got {self.modifier!r}")
        if self.modifier and self.base not in _MODIFIABLE:
            raise ValueError(f"MRC grade {self.base} takes no '+' or '-' modifier")

    @classmethod
    def parse(cls, text: str | int) -> MRCGrade:
        """Return the grade written as ``"4-"``, ``"4"``, ``"4+"`` or an integer 0–5."""
        match = _GRADE.match(str(text))
        if match is None:
            raise ValueError(f"MRC grade {text!r} is not one of {', '.join(MRC_GRADES)}")
        return cls(int(match.group(1)), match.group(2))

    @property
    def rank(self) -> int:
        """Position on the ordinal scale 0 (no contraction) … 11 (normal power)."""
        return MRC_GRADES.index(str(self))

    @property
    def is_weak(self) -> bool:
        """True for any grade below 5 (normal power)."""
        return self.base < 5

    @property
    def meaning(self) -> str:
        """The memorandum's description of the base grade."""
        return MRC_MEANING[self.base]

    def __str__(self) -> str:
        return f"{self.base}{self.modifier}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, MRCGrade):
            return NotImplemented
        return self.rank < other.rank
