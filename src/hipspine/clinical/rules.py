"""The rules of the hip–spine assessment, read from ``evidence.toml``.

Each rule reads a few findings of the case for one side and answers with an outcome (for
example Sutlive's "≥4 of 5 variables"), the facts that decided it, and the unknown
findings that kept it from deciding. The weight of each outcome, with its source, is in
the data file; the logic that needs more than one finding (published prediction rules and
classification criteria) is here, one function per rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hipspine.clinical._data import load
from hipspine.clinical.evidence import Weight, weight_from
from hipspine.clinical.facts import Facts, Truth, all_of, any_of
from hipspine.clinical.vocabulary import Side, findings

HIP_PAIN_REGIONS = ("groin", "lateral_hip", "hip")


@dataclass(frozen=True)
class Source:
    """A candidate pain source the assessment estimates (``[[source]]`` in evidence.toml)."""

    id: str
    short: str
    label: str
    category: str
    lateral: bool
    prior: float
    prior_basis: str


@dataclass(frozen=True)
class Band:
    """A range of a numeric finding — [low, high), or (low, high) when ``exclusive`` — and its weight."""

    low: float
    high: float
    label: str
    weight: Weight
    exclusive: bool = False

    def holds(self, value: float) -> bool:
        """Whether ``value`` falls in this band."""
        above = value > self.low if self.exclusive else value >= self.low
        return above and value < self.high


@dataclass(frozen=True)
class Rule:
    """One rule of the assessment with its weights and citation."""

    id: str
    title: str
    kind: str
    target: str
    group: str
    citation: str
    reference_standard: str = ""
    finding: str | None = None
    findings: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    bands: tuple[Band, ...] = ()
    outcomes: Mapping[str, Weight] = field(default_factory=dict)
    params: Mapping[str, float] = field(default_factory=dict)
    predicts: str = ""

    @property
    def short_title(self) -> str:
        """The title without its parenthesised source, for compact displays."""
        return self.title.split(" (")[0]

    def inputs(self) -> tuple[str, ...]:
        """The finding identifiers this rule reads (for contract checks and docs)."""
        if self.kind == "composite":
            return COMPOSITE_INPUTS[self.id]
        return (self.finding,) if self.finding else self.findings


@dataclass(frozen=True)
class Missing:
    """Something unknown that kept a rule from deciding: a finding, muscle or pain-map detail."""

    what: str  # "finding", "strength" or "pain_map"
    id: str
    side: Side | None = None


@dataclass(frozen=True)
class RuleResult:
    """What one rule concluded for one side."""

    rule: Rule
    side: Side | None
    outcome: str | None
    weight: Weight | None
    facts: tuple[str, ...] = ()
    missing: tuple[Missing, ...] = ()
    superseded_by: str = ""
    caveat: str = ""  # why a decided-looking result is not counted (shown with the unknowns)

    @property
    def status(self) -> str:
        """``fired`` (carries a weight), ``not_met`` (decided, no weight), ``undetermined``,
        or ``superseded`` (the reference standard the rule predicts is itself recorded)."""
        if self.superseded_by:
            return "superseded"
        if self.weight is not None:
            return "fired"
        return "undetermined" if self.outcome is None else "not_met"


@dataclass(frozen=True)
class _Decision:
    outcome: str | None
    facts: tuple[str, ...] = ()
    missing: tuple[Missing, ...] = ()


def _side_text(side: Side | None) -> str:
    return f" ({side.value})" if side else ""


def _truth_text(truth: Truth) -> str:
    return {True: "yes", False: "no", None: "unknown"}[truth]


def _label(finding_id: str) -> str:
    return findings()[finding_id].label


# ---------------------------------------------------------------------------------------
# Composite rules: published prediction rules and classification criteria.
# ---------------------------------------------------------------------------------------


def _items(
    facts: Facts, side: Side | None, items: list[tuple[str, Truth, Missing | None]]
) -> tuple[int, int, tuple[str, ...], tuple[Missing, ...]]:
    positives = sum(1 for _, truth, _ in items if truth is True)
    unknown = [m for _, truth, m in items if truth is None and m is not None]
    unknown_count = sum(1 for _, truth, _ in items if truth is None)
    text = tuple(f"{name}{_side_text(side)}: {_truth_text(truth)}" for name, truth, _ in items)
    return positives, unknown_count, text, tuple(unknown)


def _internal_rotation(facts: Facts, side: Side | None, limit: float, strict: bool) -> Truth:
    """IR below (strict) or at most ``limit`` degrees; ``normal`` counts as above any limit."""
    value = facts.value("hip_internal_rotation", side)
    if value is not None:
        return value < limit if strict else value <= limit
    return False if facts.present("hip_internal_rotation", side) is False else None


def _finding(fid: str, side: Side | None) -> Missing:
    lateral = findings()[fid].lateral
    return Missing("finding", fid, side if lateral else None)


def sutlive_2008(facts: Facts, side: Side | None, params: Mapping[str, float]) -> _Decision:
    """Sutlive 2008: count the five variables; ≥4, 3, or <3 once the count is certain."""
    limit = params["internal_rotation_max_deg"]
    items: list[tuple[str, Truth, Missing | None]] = [
        ("squatting aggravates", facts.present("aggravated_by_squatting", None), _finding("aggravated_by_squatting", side)),
        ("active hip flexion causes lateral hip pain", facts.present("active_hip_flexion_lateral_pain", side), _finding("active_hip_flexion_lateral_pain", side)),
        ("scour with adduction causes lateral hip or groin pain", facts.present("scour_with_adduction", side), _finding("scour_with_adduction", side)),
        ("active hip extension causes pain", facts.present("active_hip_extension_pain", side), _finding("active_hip_extension_pain", side)),
        (f"passive internal rotation ≤{limit:g}°", _internal_rotation(facts, side, limit, strict=False), _finding("hip_internal_rotation", side)),
    ]  # fmt: skip
    positives, unknown, text, missing = _items(facts, side, items)
    if positives >= 4:
        return _Decision("at_least_4", text)
    if positives == 3:
        return _Decision("at_least_3", text, missing)
    if positives + unknown < 3:
        return _Decision("fewer_than_3", text)
    return _Decision(None, text, missing)


def acr_1991_clinical(facts: Facts, side: Side | None, p: Mapping[str, float]) -> _Decision:
    """ACR 1991 clinical tree: hip pain and (branch a or branch b)."""
    hip_pain = facts.pain(HIP_PAIN_REGIONS, side)
    age = facts.case.patient.age
    ir_ok = _internal_rotation(facts, side, p["branch_a_internal_rotation_min_deg"], strict=True)
    ir_at_least = None if ir_ok is None else not ir_ok
    stiffness = facts.at_most("morning_stiffness", None, p["branch_a_morning_stiffness_max_min"])
    branch_a = all_of([
        ir_at_least,
        facts.present("pain_on_internal_rotation", side),
        stiffness,
        None if age is None else age > p["branch_a_age_over"],
    ])  # fmt: skip
    esr = facts.value("esr", None)
    if esr is not None:
        second: Truth = esr <= p["branch_b_esr_max"]
        second_text = f"ESR {esr:g} ≤{p['branch_b_esr_max']:g} mm/h: {_truth_text(second)}"
    else:
        second = facts.at_most("hip_flexion", side, p["branch_b_flexion_max_deg"])
        second_text = (
            f"no ESR; hip flexion ≤{p['branch_b_flexion_max_deg']:g}°: {_truth_text(second)}"
        )
    branch_b = all_of(
        [
            _internal_rotation(facts, side, p["branch_b_internal_rotation_below_deg"], strict=True),
            second,
        ]
    )
    if hip_pain is False:
        return _Decision(
            "not_applicable", (f"no hip pain{_side_text(side)}: criteria do not apply",)
        )
    # With hip pain unknown the criteria either do not apply or decide: undetermined.
    met = any_of([branch_a, branch_b]) if hip_pain else None
    text = (
        f"hip pain{_side_text(side)}: {_truth_text(hip_pain)}",
        f"branch a (IR ≥15°, pain on IR, morning stiffness ≤60 min, age >50): {_truth_text(branch_a)}",
        f"branch b (IR <15° and {second_text}): {_truth_text(branch_b)}",
    )
    if met is None:
        wanted = [
            "hip_internal_rotation",
            "pain_on_internal_rotation",
            "morning_stiffness",
            "esr",
            "hip_flexion",
        ]
        missing = tuple(_finding(f, side) for f in wanted if not facts.known(f, side))
        if hip_pain is None:
            missing += (Missing("pain_map", "groin", side),)
        return _Decision(None, text, missing)
    return _Decision("met" if met else "not_met", text)


def acr_1991_radiographic(facts: Facts, side: Side | None, p: Mapping[str, float]) -> _Decision:
    """ACR 1991 traditional format: hip pain plus ≥2 of ESR <20, osteophytes, narrowing."""
    hip_pain = facts.pain(HIP_PAIN_REGIONS, side)
    items: list[tuple[str, Truth, Missing | None]] = [
        (f"ESR <{p['esr_below']:g} mm/h", facts.below("esr", None, p["esr_below"]), _finding("esr", side)),
        ("radiographic osteophytes", facts.present("hip_osteophytes", side), _finding("hip_osteophytes", side)),
        ("radiographic joint-space narrowing", facts.present("hip_joint_space_narrowing", side), _finding("hip_joint_space_narrowing", side)),
    ]  # fmt: skip
    positives, unknown, text, missing = _items(facts, side, items)
    if hip_pain is False:
        return _Decision(
            "not_applicable", (f"no hip pain{_side_text(side)}: criteria do not apply",)
        )
    text = (f"hip pain{_side_text(side)}: {_truth_text(hip_pain)}", *text)
    criteria: Truth = True if positives >= 2 else (False if positives + unknown < 2 else None)
    met = criteria if hip_pain else None
    if met is None:
        return _Decision(None, text, missing)
    return _Decision("met" if met else "not_met", text)


def metcalfe_2019_abductor_weakness(
    facts: Facts, side: Side | None, p: Mapping[str, float]
) -> _Decision:
    """Hip abductor weakness: gluteus medius/minimus graded below MRC 5."""
    grade = facts.grade("gluteus_medius_minimus", side)
    if grade is None:
        return _Decision(None, (), (Missing("strength", "gluteus_medius_minimus", side),))
    text = (f"gluteus medius/minimus{_side_text(side)} MRC {grade}",)
    return _Decision("present" if grade.is_weak else "absent", text)


def brown_2004(facts: Facts, side: Side | None, p: Mapping[str, float]) -> _Decision:
    """Brown 2004: at least two of limp, groin pain and limited internal rotation."""
    limit = p["internal_rotation_limited_below_deg"]
    limited = _internal_rotation(facts, side, limit, strict=True)
    if limited is None and facts.present("hip_internal_rotation", side) is True:
        limited = True
    items: list[tuple[str, Truth, Missing | None]] = [
        ("limp", facts.present("gait", None), _finding("gait", side)),
        ("groin pain", facts.pain(["groin"], side), Missing("pain_map", "groin", side)),
        (f"limited internal rotation (<{limit:g}° or recorded as reduced)", limited, _finding("hip_internal_rotation", side)),
    ]  # fmt: skip
    positives, unknown, text, missing = _items(facts, side, items)
    if positives >= 2:
        return _Decision("at_least_2", text)
    if positives + unknown < 2:
        return _Decision("fewer_than_2", text)
    return _Decision(None, text, missing)


def hip_prior_diagnosis(facts: Facts, side: Side | None, p: Mapping[str, float]) -> _Decision:
    """A recorded diagnosis of hip osteoarthritis on this side."""
    if facts.diagnosed("hip_osteoarthritis", side):
        return _Decision("present", (f"hip osteoarthritis diagnosed{_side_text(side)}",))
    return _Decision("absent")


def laslett_2005(facts: Facts, side: Side | None, p: Mapping[str, float]) -> _Decision:
    """Laslett 2005: ≥3 of the 6 sacroiliac provocation tests reproduce familiar pain."""
    recorded = facts.count("sacroiliac_provocation", side)
    if recorded is None:
        return _Decision(None, (), (_finding("sacroiliac_provocation", side),))
    positive, performed = recorded
    threshold, cluster = int(p["positive_at_least"]), int(p["tests_in_cluster"])
    text = (f"sacroiliac provocation{_side_text(side)}: {positive} of {performed} tests positive",)
    if positive >= threshold:
        return _Decision("at_least_3", text)
    if positive + (cluster - performed) < threshold:
        return _Decision("fewer_than_3", text)
    return _Decision(None, text, (_finding("sacroiliac_provocation", side),))


def guggino_lateral_or_buttock(
    facts: Facts, side: Side | None, p: Mapping[str, float]
) -> _Decision:
    """Guggino's pain-location rule, spinal half: pain lateral to the hip, or in or just
    above the buttock, usually means the lumbar spine.

    Lateral hip pain is also what the published regional rule (Wilson 2014; Chamberlain
    2021) reads as greater trochanteric pain syndrome, and that rule weighs it for the
    trochanter. Here it counts for the spine only once the trochanter is examined and not
    tender (no tenderness makes gluteal tendinopathy unlikely, Grimaldi 2017).
    """
    where = _side_text(side)
    buttock = facts.pain(["buttock"], side)
    lateral = facts.pain(["lateral_hip"], side)
    if buttock:
        return _Decision("buttock", (f"pain in or just above the buttock{where}: yes",))
    if lateral:
        tender = facts.present("trochanteric_tenderness", side)
        text = (
            f"pain lateral to the hip{where}: yes",
            f"tenderness over the greater trochanter{where}: {_truth_text(tender)}",
        )
        if tender is False:
            return _Decision(
                "lateral_hip_not_trochanteric",
                (*text, "the trochanter does not explain the lateral pain: counted for the spine"),
            )
        if tender:
            return _Decision(
                "lateral_hip_trochanteric",
                (*text, "weighed for greater trochanteric pain syndrome, not for the spine"),
            )
        missing: tuple[Missing, ...] = (_finding("trochanteric_tenderness", side),)
        if buttock is None:
            missing += (Missing("pain_map", "buttock", side),)
        return _Decision(
            None,
            (*text, "the spine is counted only once the trochanter is examined and not tender"),
            missing,
        )
    if buttock is None or lateral is None:
        return _Decision(
            None,
            (f"pain lateral to the hip or in or just above the buttock{where}: unknown",),
            tuple(Missing("pain_map", r, side) for r in ("buttock", "lateral_hip")),
        )
    return _Decision("absent", (f"no pain lateral to the hip or in or above the buttock{where}",))


Composite = Callable[[Facts, Side | None, Mapping[str, float]], _Decision]
COMPOSITES: dict[str, Composite] = {
    "sutlive_2008": sutlive_2008,
    "acr_1991_clinical": acr_1991_clinical,
    "acr_1991_radiographic": acr_1991_radiographic,
    "metcalfe_2019_abductor_weakness": metcalfe_2019_abductor_weakness,
    "brown_2004": brown_2004,
    "hip_prior_diagnosis": hip_prior_diagnosis,
    "laslett_2005": laslett_2005,
    "guggino_lateral_or_buttock": guggino_lateral_or_buttock,
}
COMPOSITE_INPUTS: dict[str, tuple[str, ...]] = {
    "sutlive_2008": ("aggravated_by_squatting", "active_hip_flexion_lateral_pain", "scour_with_adduction", "active_hip_extension_pain", "hip_internal_rotation"),
    "acr_1991_clinical": ("hip_internal_rotation", "pain_on_internal_rotation", "morning_stiffness", "esr", "hip_flexion"),
    "acr_1991_radiographic": ("esr", "hip_osteophytes", "hip_joint_space_narrowing"),
    "metcalfe_2019_abductor_weakness": (),
    "brown_2004": ("gait", "hip_internal_rotation"),
    "hip_prior_diagnosis": (),
    "laslett_2005": ("sacroiliac_provocation",),
    "guggino_lateral_or_buttock": ("trochanteric_tenderness",),
}  # fmt: skip


# ---------------------------------------------------------------------------------------
# Generic rules: one finding, any of several, a pain-map region, a numeric threshold.
# ---------------------------------------------------------------------------------------


def _presence_decision(truth: Truth, text: str, missing: tuple[Missing, ...]) -> _Decision:
    if truth is None:
        return _Decision(None, (f"{text}: unknown",), missing)
    return _Decision("present" if truth else "absent", (f"{text}: {_truth_text(truth)}",))


def _generic(rule: Rule, facts: Facts, side: Side | None) -> _Decision:
    if rule.kind == "finding":
        assert rule.finding is not None
        return _presence_decision(
            facts.present(rule.finding, side),
            f"{_label(rule.finding)}{_side_text(side if findings()[rule.finding].lateral else None)}",
            (_finding(rule.finding, side),),
        )
    if rule.kind == "any_of":
        truths = [facts.present(f, side) for f in rule.findings]
        unknown = tuple(
            _finding(f, side) for f, t in zip(rule.findings, truths, strict=True) if t is None
        )
        names = ", ".join(_label(f) for f, t in zip(rule.findings, truths, strict=True) if t)
        text = (
            f"{names or 'any of ' + ', '.join(_label(f) for f in rule.findings)}{_side_text(side)}"
        )
        return _presence_decision(any_of(truths), text, unknown)
    if rule.kind == "pain_region":
        truth = facts.pain(rule.regions, side)
        text = f"pain map: {' or '.join(rule.regions)}{_side_text(side)}"
        return _presence_decision(
            truth, text, tuple(Missing("pain_map", r, side) for r in rule.regions)
        )
    if rule.kind == "threshold":
        assert rule.finding is not None
        value = facts.value(rule.finding, side)
        definition = findings()[rule.finding]
        if value is None:
            return _Decision(None, (), (_finding(rule.finding, side),))
        reading = (f"{definition.label}{_side_text(side)}: {value:g}{definition.unit or ''}",)
        for band in rule.bands:
            if band.holds(value):
                return _Decision(band.label, reading)
        return _Decision("equivocal", reading)
    raise ValueError(f"rule {rule.id!r} has unknown kind {rule.kind!r}")


@dataclass(frozen=True)
class Standard:
    """A reference standard that some rules only predict (``[standard.*]`` in evidence.toml).

    Once the standard itself is recorded on a side, a rule that predicts it adds nothing:
    its answer is kept for the clinician to see but no longer counted.
    """

    id: str
    name: str
    label: str
    findings: tuple[str, ...]
    citation: str

    def recorded(self, facts: Facts, side: Side | None) -> bool:
        """Whether any finding of the standard has a definite answer on ``side``."""
        return any(facts.known(f, side) for f in self.findings)


@cache
def standards() -> dict[str, Standard]:
    """The reference standards that supersede the rules predicting them."""
    return {
        key: Standard(key, e["name"], e["label"], tuple(e["findings"]), e["citation"])
        for key, e in load("evidence").get("standard", {}).items()
    }


def evaluate(rule: Rule, facts: Facts, side: Side | None) -> RuleResult:
    """Apply ``rule`` to the case for ``side`` and attach the outcome's weight.

    A rule whose reference standard is already recorded on this side (e.g. Sutlive's rule
    once a hip radiograph is graded) is ``superseded``: its outcome is shown, its weight
    is not counted, and it asks for nothing more.
    """
    if rule.kind == "composite":
        decision = COMPOSITES[rule.id](facts, side, rule.params)
    else:
        decision = _generic(rule, facts, side)
    if rule.predicts:
        standard = standards()[rule.predicts]
        if standard.recorded(facts, side):
            return RuleResult(
                rule, side, decision.outcome, None, decision.facts, (), standard.label
            )
    weight = rule.outcomes.get(decision.outcome) if decision.outcome else None
    return RuleResult(rule, side, decision.outcome, weight, decision.facts, decision.missing)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _rule(entry: Mapping[str, Any]) -> Rule:
    outcomes: dict[str, Weight] = {}
    for key in ("present", "absent"):
        if key in entry:
            outcomes[key] = weight_from(entry[key])
    for key, value in entry.get("outcomes", {}).items():
        outcomes[key] = weight_from(value)
    bands = []
    for band in entry.get("bands", ()):
        weight = weight_from(band)
        exclusive = "above" in band
        low = float(band["above"] if exclusive else band["min"])
        bands.append(Band(low, float(band["max"]), str(band["label"]), weight, exclusive))
        outcomes[str(band["label"])] = weight
    return Rule(
        id=entry["id"],
        title=entry["title"],
        kind=entry["kind"],
        target=entry["target"],
        group=entry["group"],
        citation=entry["citation"],
        reference_standard=entry.get("reference_standard", ""),
        finding=entry.get("finding"),
        findings=tuple(entry.get("findings", ())),
        regions=tuple(entry.get("regions", ())),
        bands=tuple(bands),
        outcomes=outcomes,
        params={k: float(v) for k, v in entry.get("params", {}).items()},
        predicts=entry.get("predicts", ""),
    )


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule of ``evidence.toml``, in file order."""
    return tuple(_rule(entry) for entry in load("evidence")["rule"])


@cache
def sources() -> tuple[Source, ...]:
    """The candidate pain sources with their priors."""
    return tuple(
        Source(
            id=e["id"],
            short=e["short"],
            label=e["label"],
            category=e["category"],
            lateral=e["lateral"],
            prior=float(e["prior"]),
            prior_basis=e["prior_basis"],
        )
        for e in load("evidence")["source"]
    )
