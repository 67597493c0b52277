"""Building cases for the assessment-engine tests.

Cases are written as the JSON documents a clinic would send (``hipspine.case/1``) and
validated with ``parse_case``, so every test exercises the same path as real input.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hipspine.clinical.case import Case, parse_case
from hipspine.clinical.facts import Facts
from hipspine.clinical.rules import Rule, RuleResult, all_rules, evaluate
from hipspine.clinical.vocabulary import Side

ROOT = Path(__file__).resolve().parents[2]
JOHN_PATH = ROOT / "examples" / "john.json"

_UNSET: Any = object()


def john_data() -> dict[str, Any]:
    """John's first-visit case as a fresh, mutable JSON document."""
    return json.loads(JOHN_PATH.read_text(encoding="utf-8"))


def john() -> Case:
    """John's first-visit case, validated."""
    return parse_case(john_data())


def obs(
    finding: str,
    result: str | None = None,
    *,
    side: str | None = None,
    value: float | None = None,
    of: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One observation as it appears in a case document."""
    entry: dict[str, Any] = {"finding": finding}
    if side is not None:
        entry["side"] = side
    if result is not None:
        entry["result"] = result
    if value is not None:
        entry["value"] = value
    if of is not None:
        entry["of"] = of
    entry.update(extra)
    return entry


def right(finding: str, result: str | None = None, **kw: Any) -> dict[str, Any]:
    """An observation on the right side (the side of every built case's complaint)."""
    return obs(finding, result, side="right", **kw)


def pain(region: str, side: str = "right", intensity: int | None = None) -> dict[str, Any]:
    """One mark on the pain map."""
    entry: dict[str, Any] = {"region": region, "side": side}
    if intensity is not None:
        entry["intensity"] = intensity
    return entry


def document(
    *observations: dict[str, Any],
    pain_map: Any = _UNSET,
    age: int | None = None,
    strength: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
    diagnoses: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
    side: str | None = "right",
) -> dict[str, Any]:
    """A case document; ``pain_map`` left out means no map was drawn (null)."""
    data: dict[str, Any] = {"format": "hipspine.case/1", "findings": list(observations)}
    if side is not None:
        data["complaint"] = {"side": side}
    if age is not None:
        data["patient"] = {"age": age}
    if pain_map is not _UNSET:
        data["pain_map"] = None if pain_map is None else list(pain_map)
    if strength:
        data["strength"] = list(strength)
    if diagnoses:
        data["diagnoses"] = list(diagnoses)
    return data


def build(*observations: dict[str, Any], **kw: Any) -> Case:
    """A validated case (see :func:`document`)."""
    return parse_case(document(*observations, **kw))


def replacing(data: dict[str, Any], *observations: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` where each observation replaces any of the same finding and side."""
    data = copy.deepcopy(data)
    for new in observations:
        key = (new["finding"], new.get("side"), new.get("level"))
        data["findings"] = [
            o
            for o in data.get("findings", [])
            if (o["finding"], o.get("side"), o.get("level")) != key
        ]
        data["findings"].append(new)
    return data


def removing(data: dict[str, Any], *finding_ids: str) -> dict[str, Any]:
    """A copy of ``data`` without any observation of the given findings."""
    data = copy.deepcopy(data)
    data["findings"] = [o for o in data.get("findings", []) if o["finding"] not in finding_ids]
    return data


def john_weakness_only() -> dict[str, Any]:
    """John without posture findings or spinopelvic radiographs, only his right gluteus
    maximus tested (MRC 4+): a hip-to-spine link whose consequence was never examined."""
    data = removing(
        john_data(),
        "lumbar_hyperlordosis",
        "anterior_pelvic_tilt",
        "pelvic_incidence",
        "lumbar_lordosis_standing",
        "pelvic_tilt_standing",
        "sacral_slope_standing",
        "sacral_slope_sitting",
    )
    data["strength"] = [{"muscle": "gluteus_maximus", "side": "right", "mrc": "4+"}]
    return data


def rule(rule_id: str) -> Rule:
    """The rule of ``evidence.toml`` with this identifier."""
    return {r.id: r for r in all_rules()}[rule_id]


def run(rule_id: str, case: Case, side: Side | None = Side.RIGHT) -> RuleResult:
    """Evaluate one rule on ``case`` for ``side``."""
    return evaluate(rule(rule_id), Facts(case), side)


def lr(result: RuleResult) -> float | None:
    """The likelihood ratio a rule result carries, or None when it carries none."""
    return None if result.weight is None else result.weight.lr
