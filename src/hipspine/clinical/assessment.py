"""The hip–spine assessment: is this pain from the hip, the lumbar spine, both, or
something that must not wait?

``assess(case)`` is a pure function. For every candidate pain source (hip joint, lumbar
spine axial and radicular, greater trochanteric pain syndrome, sacroiliac joint) it
updates an expert-default prior with the likelihood ratios of the rules that fired
(``evidence.toml``; method in :mod:`hipspine.clinical.evidence`). The conclusion follows:

* ``red_flag`` when an emergency or urgent red flag fires — always, whatever else is found;
* ``hip_and_spine`` when both the hip and the lumbar spine are likely, typed after
  Offierski & MacNab (Spine 1983): *secondary* when the case shows the hip driving the
  spine (a hip-to-spine link of the biomechanical chain with its consequence observed),
  *possibly secondary* when the premise is met but pelvic tilt or hyperlordosis was never
  examined, otherwise *complex* (needs selective injections);
* ``hip``, ``spine`` or ``other`` (naming the source) when one is likely;
* ``undetermined`` when nothing reaches "likely" yet — with the tests that would decide.

Every conclusion carries the evidence that drove it (finding, direction, weight, basis,
citation), what is still unknown, and the tests that would change it most, found by
re-running the assessment with each unknown test answered both ways.

A sided source (a hip joint, a trochanter, a sacroiliac joint) is one structure per side.
When the complaint side is not known both sides are estimated, and the category takes
the more likely side: the two sides are never combined as if they were independent
sources, so stating the side of a symmetric case cannot change the conclusion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from math import log, prod
from typing import Any

from hipspine.clinical._data import load
from hipspine.clinical.biomechanics import READS as CHAIN_READS
from hipspine.clinical.biomechanics import Biomechanics, ChainLink, biomechanics
from hipspine.clinical.case import Case, MuscleTest, Observation
from hipspine.clinical.evidence import combine_group, grade, method, posterior
from hipspine.clinical.facts import Facts
from hipspine.clinical.red_flags import RedFlag, flag_findings, red_flags, unscreened
from hipspine.clinical.rules import (
    Missing,
    RuleResult,
    Source,
    all_rules,
    evaluate,
    sources,
    standards,
)
from hipspine.clinical.vocabulary import Kind, Side, Stage, findings, muscles, regions

ENGINE_VERSION = "1.1.1"
"""Stored with every assessment; bumped whenever a rule, weight or prior changes."""

CATEGORY_LABELS = {
    "hip": "Hip",
    "spine": "Lumbar spine",
    "hip_and_spine": "Hip and lumbar spine",
    "other": "Other source",
    "red_flag": "Red flag",
    "undetermined": "Undetermined",
}


@dataclass(frozen=True)
class SourceEstimate:
    """The probability that one structure contributes to the pain, and why."""

    source: Source
    side: Side | None
    probability: float
    results: tuple[RuleResult, ...]
    counted: frozenset[tuple[str, Side | None]]

    @property
    def name(self) -> str:
        """The source's short name with its side, e.g. "Hip joint (right)"."""
        return self.source.short + (f" ({self.side.value})" if self.side else "")

    @property
    def grade(self) -> str:
        """The probability in words."""
        return grade(self.probability)

    def evidence(self) -> list[RuleResult]:
        """Rules that carried a weight other than 1, strongest first."""
        fired = [r for r in self.results if r.weight is not None and r.weight.lr != 1]
        return sorted(fired, key=lambda r: -abs(log(r.weight.lr)) if r.weight else 0)

    def is_counted(self, result: RuleResult) -> bool:
        """False when a stronger rule of the same group already counted this evidence."""
        return (result.rule.id, result.side) in self.counted


@dataclass(frozen=True)
class Alternative:
    """One possible answer to "where is the pain from?" with its estimated probability."""

    category: str
    detail: str
    probability: float

    @property
    def grade(self) -> str:
        """The probability in words."""
        return grade(self.probability)


@dataclass(frozen=True)
class Conclusion:
    """The primary answer of the assessment."""

    category: str
    detail: str
    probability: float | None
    hip_spine_type: str | None  # Offierski–MacNab: simple, secondary, possibly_secondary, complex
    type_reason: str
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        """Headline text, e.g. "Hip and lumbar spine — secondary hip–spine syndrome"."""
        text = CATEGORY_LABELS[self.category]
        if self.detail:
            text += f": {self.detail}"
        if self.hip_spine_type:
            kind = self.hip_spine_type.replace("_", " ")
            text += f" — {kind} hip–spine syndrome (Offierski & MacNab)"
        return text


@dataclass(frozen=True)
class Outcome:
    """What the assessment would conclude if a test came out one way."""

    result: str
    conclusion: str
    probabilities: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class NextTest:
    """An unknown test and how much its answer could change the assessment."""

    test: str
    missing: Missing
    outcomes: tuple[Outcome, ...]
    swing: float
    changes_conclusion: bool


@dataclass(frozen=True)
class NamedRule:
    """A named clinical rule spanning several evidence rules (``[named_rule.*]``), with how
    it was applied to this case."""

    id: str
    name: str
    statement: str
    citation: str
    strength: str
    applied: tuple[str, ...]
    results: tuple[RuleResult, ...]


@dataclass(frozen=True)
class Assessment:
    """The full, explainable answer for one case at one stage of the visit."""

    engine_version: str
    stage: Stage
    sides: tuple[Side, ...]
    conclusion: Conclusion
    alternatives: tuple[Alternative, ...]
    sources: tuple[SourceEstimate, ...]
    red_flags: tuple[RedFlag, ...]
    unscreened_red_flags: tuple[str, ...]
    biomechanics: Biomechanics
    unknown: tuple[str, ...]
    next_tests: tuple[NextTest, ...]
    named_rules: tuple[NamedRule, ...] = ()

    def probability(self, category: str) -> float:
        """Probability of hip, spine, or one named other source (e.g. ``sacroiliac_joint``);
        for a sided source, that of the more likely side."""
        return _category_probabilities(self.sources)[category]


# ---------------------------------------------------------------------------------------


def _pick_across_sides(results: list[RuleResult]) -> RuleResult:
    """For an unsided source (the spine), read a sided test on every complaint side.

    A positive side counts (the strongest). Otherwise, while any side is unknown the rule
    stays undetermined: with the complaint side not known, a negative test on one side
    says nothing about the other, so it is never counted against the spine. When every
    side is known and none is positive, the weakest evidence against counts.
    """
    if len(results) == 1:
        return results[0]
    fired = [r for r in results if r.weight is not None]
    positive = [r for r in fired if r.weight and r.weight.lr > 1]
    if positive:
        return max(positive, key=lambda r: r.weight.lr if r.weight else 0.0)
    unknown = [r for r in results if r.status == "undetermined"]
    if unknown:
        caveat = ""
        known = [r for r in results if r.status != "undetermined"]
        if known:
            done = ", ".join(r.side.value for r in known if r.side)
            open_ = ", ".join(r.side.value for r in unknown if r.side)
            caveat = (
                f"{unknown[0].rule.short_title}: recorded on the {done} side only, none positive; "
                f"with the {open_} side unknown it is not counted until that side is examined"
            )
        return RuleResult(
            results[0].rule,
            None,
            None,
            None,
            tuple(f for r in results for f in r.facts),
            tuple(m for r in unknown for m in r.missing),
            caveat=caveat,
        )
    if fired:
        return max(fired, key=lambda r: r.weight.lr if r.weight else 0.0)
    return results[0]


def _estimate(source: Source, side: Side | None, results: list[RuleResult]) -> SourceEstimate:
    groups: dict[str, list[RuleResult]] = {}
    for result in results:
        if result.weight is not None:
            groups.setdefault(result.rule.group, []).append(result)
    counted: set[tuple[str, Side | None]] = set()
    group_lrs = []
    for members in groups.values():
        lrs = [m.weight.lr for m in members if m.weight]
        group_lrs.append(combine_group(lrs))
        strongest_for = max(
            (m for m in members if m.weight and m.weight.lr > 1),
            key=lambda m: m.weight.lr if m.weight else 0,
            default=None,
        )
        strongest_against = min(
            (m for m in members if m.weight and m.weight.lr < 1),
            key=lambda m: m.weight.lr if m.weight else 0,
            default=None,
        )
        counted.update((m.rule.id, m.side) for m in (strongest_for, strongest_against) if m)
    return SourceEstimate(
        source, side, posterior(source.prior, group_lrs), tuple(results), frozenset(counted)
    )


def estimate_sources(facts: Facts, sides: tuple[Side, ...]) -> tuple[SourceEstimate, ...]:
    """Return the probability of each candidate source (per side for sided sources)."""
    estimates = []
    for source in sources():
        rules = [r for r in all_rules() if r.target == source.id]
        if source.lateral:
            for side in sides:
                estimates.append(_estimate(source, side, [evaluate(r, facts, side) for r in rules]))
        else:
            results = []
            for rule in rules:
                if rule.kind == "pain_region" or not any(
                    findings()[f].lateral for f in rule.inputs()
                ):
                    results.append(evaluate(rule, facts, None))
                else:
                    results.append(
                        _pick_across_sides([evaluate(rule, facts, side) for side in sides])
                    )
            estimates.append(_estimate(source, None, results))
    return tuple(estimates)


def _either(probabilities: Iterable[float]) -> float:
    """Probability that at least one of independent sources contributes."""
    return 1 - prod(1 - p for p in probabilities)


def _category_probabilities(estimates: Iterable[SourceEstimate]) -> dict[str, float]:
    """Probability of each category: the more likely side of a sided source (the sides
    of one structure are not independent sources), then "at least one" across the
    distinct sources of a category (lumbar axial and radicular)."""
    per_source: dict[tuple[str, str], float] = {}
    for e in estimates:
        key = (e.source.category if e.source.category != "other" else e.source.id, e.source.id)
        per_source[key] = max(per_source.get(key, 0.0), e.probability)
    by_category: dict[str, list[float]] = {}
    for (category, _), p in per_source.items():
        by_category.setdefault(category, []).append(p)
    return {key: _either(values) for key, values in by_category.items()}


def _alternatives(estimates: tuple[SourceEstimate, ...]) -> tuple[Alternative, ...]:
    p = _category_probabilities(estimates)
    hip, spine = p["hip"], p["spine"]
    items = [
        Alternative("hip", "hip joint without a lumbar source", hip * (1 - spine)),
        Alternative("spine", "lumbar spine without a hip source", spine * (1 - hip)),
        Alternative("hip_and_spine", "both hip and lumbar spine", hip * spine),
    ]
    for e in estimates:
        if e.source.category == "other":
            items.append(Alternative("other", e.name, e.probability))
    return tuple(sorted(items, key=lambda a: -a.probability))


def _reasons(estimates: Iterable[SourceEstimate], limit: int = 4) -> tuple[str, ...]:
    reasons = []
    for e in estimates:
        for r in e.evidence():
            if r.weight and r.weight.lr > 1 and e.is_counted(r):
                reasons.append(
                    f"{r.rule.short_title}{_side(r.side)}: LR {r.weight.lr:.2g} ({r.weight.basis.label})"
                )
                if len(reasons) >= limit:
                    return tuple(reasons)
    return tuple(reasons)


def percent(p: float) -> str:
    """A probability as a clinician reads it; never 0% or 100%, which no estimate is."""
    if p > 0.99:
        return ">99%"
    if p < 0.01:
        return "<1%"
    return f"{p:.0%}"


def _side(side: Side | None) -> str:
    return f" ({side.value})" if side else ""


def _degenerate(facts: Facts, sides: tuple[Side, ...], region: str) -> tuple[str, ...]:
    """What shows ``region`` degenerate (``[[degenerate]]`` of evidence.toml), with basis."""
    where: tuple[Side | None, ...] = sides if region == "hip" else (None,)
    shown = []
    for marker in load("evidence")["degenerate"]:
        if marker["region"] != region:
            continue
        if "diagnosis" in marker:
            if any(facts.diagnosed(marker["diagnosis"], s) for s in where):
                shown.append(f"{marker['diagnosis'].replace('_', ' ')} diagnosed")
            continue
        values = [v for s in where if (v := facts.value(marker["finding"], s)) is not None]
        if values and max(values) >= marker["at_least"]:
            label = findings()[marker["finding"]].label
            basis = " — expert-default cut-off" if marker["basis"] == "expert_default" else ""
            shown.append(f"{label} {max(values):g} (≥{marker['at_least']}{basis})")
    return tuple(shown)


def _link_evidence(link: ChainLink) -> str:
    premises = ", ".join(link.premises)
    observed = ", ".join(link.observed)
    return f"{premises} with {observed}" if observed else premises


def _hip_spine_type(chain: Biomechanics | None) -> tuple[str | None, str]:
    """The Offierski–MacNab type of a hip-and-spine case, and why, from the chain."""
    if chain is not None:
        active = [link for link in chain.hip_to_spine() if link.status == "active"]
        if active:
            evidence = "; ".join(_link_evidence(link) for link in active)
            return "secondary", f"the examination shows the hip driving the spine: {evidence}"
        likely = [link for link in chain.hip_to_spine() if link.status == "likely"]
        if likely:
            evidence = "; ".join(_link_evidence(link) for link in likely)
            return (
                "possibly_secondary",
                f"{evidence} could drive the spine, but pelvic tilt and hyperlordosis were not "
                "examined: examine posture or a standing lateral radiograph",
            )
        if chain.hip_spine_links_known:
            return (
                "complex",
                "both contribute with no clear primary source; selective diagnostic injections can separate them",
            )
    return (
        None,
        "type not yet known: examine iliopsoas and gluteus maximus strength, posture (lordosis, pelvic tilt) and the Thomas test",
    )


def conclude(
    facts: Facts,
    sides: tuple[Side, ...],
    estimates: tuple[SourceEstimate, ...],
    flags: tuple[RedFlag, ...],
    chain: Biomechanics | None,
) -> Conclusion:
    """Return the primary conclusion from the source estimates and red flags."""
    overriding = [f for f in flags if f.urgency.overrides]
    if overriding:
        detail = "; ".join(f"{f.condition} ({f.urgency.value})" for f in overriding)
        reasons = tuple(f"{f.condition}: {', '.join(f.because)} — {f.action}" for f in overriding)
        return Conclusion("red_flag", detail, None, None, "", reasons)
    threshold = float(method()["likely_threshold"])
    p = _category_probabilities(estimates)
    hip_likely, spine_likely = p["hip"] >= threshold, p["spine"] >= threshold
    hip_estimates = [e for e in estimates if e.source.category == "hip"]
    spine_estimates = [e for e in estimates if e.source.category == "spine"]
    others = sorted(
        (e for e in estimates if e.source.category == "other"), key=lambda e: -e.probability
    )
    kind: str | None
    if hip_likely and spine_likely:
        kind, why = _hip_spine_type(chain)
        reasons = _reasons(hip_estimates, 2) + _reasons(spine_estimates, 2)
        return Conclusion("hip_and_spine", "", p["hip"] * p["spine"], kind, why, reasons)
    if hip_likely or spine_likely:
        category = "hip" if hip_likely else "spine"
        chosen = hip_estimates if hip_likely else spine_estimates
        detail = ", ".join(e.name for e in chosen if e.probability >= threshold)
        other_region = "spine" if hip_likely else "hip"
        degenerate = _degenerate(facts, sides, other_region)
        kind, why = None, ""
        if degenerate:
            kind = "simple"
            why = (
                f"the {other_region} is degenerate ({'; '.join(degenerate)}) "
                "but not the likely pain source"
            )
        return Conclusion(category, detail, p[category], kind, why, _reasons(chosen))
    if others and others[0].probability >= threshold:
        top = others[0]
        return Conclusion("other", top.name, top.probability, None, "", _reasons([top]))
    leading = max(estimates, key=lambda e: e.probability)
    name = leading.name
    tied = [
        e
        for e in estimates
        if e.source.id == leading.source.id and abs(e.probability - leading.probability) < 1e-9
    ]
    if len(tied) > 1:
        name = f"{leading.source.short} (side not known)"
    return Conclusion(
        "undetermined",
        f"leaning towards {name} ({leading.grade})",
        None,
        None,
        "",
        _reasons([leading]),
    )


# ---------------------------------------------------------------------------------------
# What is unknown, and which test would change the answer most.
# ---------------------------------------------------------------------------------------

_ANGLE_PROBES = {"hip_internal_rotation": (10.0, 40.0), "hip_flexion": (100.0, 130.0)}
_MEASURE_PROBES = {"esr": (10.0, 60.0), "morning_stiffness": (30.0, 120.0)}


def _describe(missing: Missing) -> str:
    if missing.what == "strength":
        return f"Manual muscle test: {muscles()[missing.id].label}{_side(missing.side)}"
    if missing.what == "pain_map":
        return f"Pain map: {regions()[missing.id].label}{_side(missing.side)}"
    return f"{findings()[missing.id].label}{_side(missing.side)}"


def _probes(missing: Missing) -> list[tuple[str, Observation | MuscleTest]]:
    """Two contrasting answers to an unknown test, to see how far each moves the answer."""
    side = missing.side
    if missing.what == "strength":
        return [(f"MRC {g}", MuscleTest(muscle=missing.id, side=side, mrc=g)) for g in ("4-", "5")]
    if missing.what != "finding":
        return []
    d = findings()[missing.id]

    def obs(**kw: Any) -> Observation:
        return Observation(finding=d.id, side=side, **kw)

    if d.kind is Kind.PRESENCE:
        return [("positive", obs(result="present")), ("negative", obs(result="absent"))]
    if d.kind is Kind.CHOICE:
        return [
            (d.abnormal[0], obs(result=d.abnormal[0])),
            (d.choices[0], obs(result=d.choices[0])),
        ]
    if d.kind is Kind.ANGLE:
        if d.id in _ANGLE_PROBES:
            return [(f"{v:g}°", obs(value=v)) for v in _ANGLE_PROBES[d.id]]
        return [("reduced", obs(result="reduced")), ("normal", obs(result="normal"))]
    if d.kind is Kind.MEASURE and d.id in _MEASURE_PROBES:
        return [(f"{v:g} {d.unit}", obs(value=v)) for v in _MEASURE_PROBES[d.id]]
    if d.kind is Kind.GRADE:
        assert d.minimum is not None and d.maximum is not None
        return [(f"grade {v:g}", obs(value=v)) for v in (d.maximum - 1, d.minimum)]
    if d.kind is Kind.RELIEF:
        return [(f"{v:g}% relief", obs(value=v)) for v in (90.0, 10.0)]
    if d.kind is Kind.COUNT:
        return [(f"{v} of 6 positive", obs(value=v, of=6)) for v in (4, 0)]
    return []


def _with(case: Case, answer: Observation | MuscleTest) -> Case:
    if isinstance(answer, MuscleTest):
        kept_tests = tuple(
            t for t in case.strength if (t.muscle, t.side) != (answer.muscle, answer.side)
        )
        return case.model_copy(update={"strength": (*kept_tests, answer)})
    kept = tuple(o for o in case.findings if (o.finding, o.side) != (answer.finding, answer.side))
    return case.model_copy(update={"findings": (*kept, answer)})


def _quick(case: Case) -> tuple[str, dict[str, float]]:
    facts = Facts(case)
    sides = facts.complaint_sides()
    estimates = estimate_sources(facts, sides)
    conclusion = conclude(facts, sides, estimates, (), None)
    return conclusion.category, _category_probabilities(estimates)


def next_tests(
    case: Case, estimates: tuple[SourceEstimate, ...], limit: int = 5
) -> tuple[NextTest, ...]:
    """The unknown tests whose answer would change the assessment most, best first."""
    base_category, base = _quick(case)
    candidates: dict[Missing, None] = {}
    for e in estimates:
        for r in e.results:
            for m in r.missing:
                candidates.setdefault(m)
    tests = []
    for missing in candidates:
        outcomes = []
        for label, answer in _probes(missing):
            category, probs = _quick(_with(case, answer))
            outcomes.append((label, category, probs))
        if not outcomes:
            continue
        swing = max(abs(probs[k] - base[k]) for _, _, probs in outcomes for k in base)
        changes = any(category != base_category for _, category, _ in outcomes)
        tests.append(
            NextTest(
                _describe(missing),
                missing,
                tuple(
                    Outcome(
                        label, CATEGORY_LABELS[c], tuple((k, round(v, 4)) for k, v in probs.items())
                    )
                    for label, c, probs in outcomes
                ),
                swing,
                changes,
            )
        )
    tests.sort(key=lambda t: (not t.changes_conclusion, -t.swing))
    return tuple(t for t in tests if t.swing >= 0.05)[:limit]


def _unknowns(
    facts: Facts, sides: tuple[Side, ...], estimates: tuple[SourceEstimate, ...]
) -> tuple[str, ...]:
    notes: list[str] = []
    if facts.case.pain_map is None:
        notes.append("No pain map drawn: where it hurts is unknown.")
    for side in sides:
        for region in facts.coarse_marks(side):
            covered = ", ".join(regions()[r].label.lower() for r in regions()[region].covers)
            notes.append(f"Pain marked as '{region}'{_side(side)}: ask which part ({covered}).")
    seen: set[str] = set()
    for e in estimates:
        for r in e.results:
            if r.status == "undetermined" and r.rule.title not in seen:
                seen.add(r.rule.title)
                notes.append(f"Not yet known: {r.rule.title}.")
            if r.caveat:
                notes.append(f"{r.caveat}.")
    return tuple(dict.fromkeys(notes))


def findings_used() -> frozenset[str]:
    """Every finding some part of the assessment reads: a rule, a reference standard, a
    red flag or its screening list, the chain, or the degenerate-region markers."""
    used = {f for r in all_rules() for f in r.inputs()}
    used |= {f for s in standards().values() for f in s.findings}
    used |= set(flag_findings())
    used |= {f for link in load("chain")["link"] for f in link.get("premise_findings", ())}
    used |= set(CHAIN_READS)
    used |= {m["finding"] for m in load("evidence")["degenerate"] if "finding" in m}
    return frozenset(used)


def findings_not_weighed() -> tuple[str, ...]:
    """Findings the case format records but no part of the assessment reads yet."""
    used = findings_used()
    return tuple(f for f in findings() if f not in used)


def named_rules(estimates: tuple[SourceEstimate, ...]) -> tuple[NamedRule, ...]:
    """The named rules of ``evidence.toml`` with the results of their parts in this case."""
    out = []
    for key, entry in load("evidence").get("named_rule", {}).items():
        parts = set(entry["rules"])
        results = tuple(r for e in estimates for r in e.results if r.rule.id in parts)
        out.append(
            NamedRule(
                key,
                entry["name"],
                entry["statement"],
                entry["citation"],
                entry["strength"],
                tuple(entry["applied"]),
                results,
            )
        )
    return tuple(out)


def assess(case: Case, *, through: Stage | None = None, suggest: bool = True) -> Assessment:
    """Return the explainable hip–spine assessment of ``case``.

    ``through`` assesses the case as it stood when that stage of the visit was complete
    (history, exam, labs, imaging, block): later findings count as unknown. ``suggest``
    controls the search for the most useful next tests.
    """
    if through is not None:
        case = case.through(through)
    stage = through or case.stages_present()[-1]
    facts = Facts(case)
    sides = facts.complaint_sides()
    estimates = estimate_sources(facts, sides)
    flags = red_flags(facts)
    threshold = float(method()["likely_threshold"])
    chain = biomechanics(facts, sides, _category_probabilities(estimates)["spine"] >= threshold)
    conclusion = conclude(facts, sides, estimates, flags, chain)
    return Assessment(
        engine_version=ENGINE_VERSION,
        stage=stage,
        sides=sides,
        conclusion=conclusion,
        alternatives=_alternatives(estimates),
        sources=estimates,
        red_flags=flags,
        unscreened_red_flags=unscreened(facts),
        biomechanics=chain,
        unknown=_unknowns(facts, sides, estimates),
        next_tests=next_tests(case, estimates) if suggest else (),
        named_rules=named_rules(estimates),
    )


@dataclass(frozen=True)
class StageStep:
    """The assessment after one stage of the visit and what changed since the one before."""

    stage: Stage
    assessment: Assessment
    changes: tuple[str, ...]


def compare(before: Assessment, after: Assessment) -> tuple[str, ...]:
    """Plain statements of what changed between two assessments of a case, and why."""
    changes = []
    if before.conclusion.label != after.conclusion.label:
        changes.append(f"Conclusion: {before.conclusion.label} → {after.conclusion.label}.")
    old = {(e.source.id, e.side): e for e in before.sources}
    for e in after.sources:
        prior = old.get((e.source.id, e.side))
        if prior is None or abs(e.probability - prior.probability) < 0.05:
            continue
        was = {(r.rule.id, r.side, r.outcome) for r in prior.results if r.weight}
        new = [
            f"{r.rule.short_title} (LR {r.weight.lr:.2g})"
            for r in e.evidence()
            if r.weight and (r.rule.id, r.side, r.outcome) not in was and e.is_counted(r)
        ]
        because = f", because of {'; '.join(new[:3])}" if new else ""
        changes.append(
            f"{e.name}: {percent(prior.probability)} → {percent(e.probability)}{because}."
        )
    new_flags = {f.id for f in after.red_flags} - {f.id for f in before.red_flags}
    changes.extend(f"New red flag: {f.condition}." for f in after.red_flags if f.id in new_flags)
    return tuple(changes)


def assess_stages(case: Case) -> tuple[StageStep, ...]:
    """Assess the case after each stage of the visit that recorded something."""
    steps: list[StageStep] = []
    for stage in case.stages_present():
        current = assess(case, through=stage)
        changes = compare(steps[-1].assessment, current) if steps else ()
        steps.append(StageStep(stage, current, changes))
    return tuple(steps)


def with_stage(assessment: Assessment, stage: Stage) -> Assessment:
    """A copy of ``assessment`` relabelled with ``stage``."""
    return replace(assessment, stage=stage)


def _result_dict(estimate: SourceEstimate, r: RuleResult) -> dict[str, Any]:
    return {
        "rule": r.rule.id,
        "title": r.rule.title,
        "side": r.side.value if r.side else None,
        "status": r.status,
        "outcome": r.outcome,
        "direction": None
        if r.weight is None
        else ("for" if r.weight.lr > 1 else "against" if r.weight.lr < 1 else "neutral"),
        "likelihood_ratio": None if r.weight is None else round(r.weight.lr, 4),
        "basis": None if r.weight is None else r.weight.basis.value,
        "note": None if r.weight is None else r.weight.note,
        "superseded_by": r.superseded_by or None,
        "caveat": r.caveat or None,
        "counted": estimate.is_counted(r),
        "group": r.rule.group,
        "facts": list(r.facts),
        "missing": [
            {"kind": m.what, "id": m.id, "side": m.side.value if m.side else None}
            for m in r.missing
        ],
        "reference_standard": r.rule.reference_standard,
        "citation": r.rule.citation,
    }


def to_dict(assessment: Assessment) -> dict[str, Any]:
    """The assessment as plain JSON-ready data (the ``--json`` output and API body)."""
    a = assessment
    chain = a.biomechanics
    return {
        "engine_version": a.engine_version,
        "stage": a.stage.value,
        "sides": [s.value for s in a.sides],
        "conclusion": {
            "category": a.conclusion.category,
            "label": a.conclusion.label,
            "detail": a.conclusion.detail,
            "probability": None
            if a.conclusion.probability is None
            else round(a.conclusion.probability, 4),
            "hip_spine_type": a.conclusion.hip_spine_type,
            "hip_spine_type_reason": a.conclusion.type_reason,
            "hip_spine_type_citation": load("chain")["references"]["Offierski 1983"],
            "reasons": list(a.conclusion.reasons),
        },
        "alternatives": [
            {
                "category": x.category,
                "detail": x.detail,
                "probability": round(x.probability, 4),
                "grade": x.grade,
            }
            for x in a.alternatives
        ],
        "sources": [
            {
                "source": e.source.id,
                "label": e.source.label,
                "side": e.side.value if e.side else None,
                "prior": e.source.prior,
                "prior_basis": e.source.prior_basis,
                "probability": round(e.probability, 4),
                "grade": e.grade,
                "rules": [_result_dict(e, r) for r in e.results],
            }
            for e in a.sources
        ],
        "red_flags": [
            {
                "id": f.id,
                "condition": f.condition,
                "urgency": f.urgency.value,
                "because": list(f.because),
                "checked": list(f.checked),
                "action": f.action,
                "citation": f.citation,
            }
            for f in a.red_flags
        ],
        "unscreened_red_flags": list(a.unscreened_red_flags),
        "biomechanics": {
            "links": [
                {
                    "id": link.id,
                    "name": link.name,
                    "consequence": link.consequence,
                    "status": link.status,
                    "because": list(link.because),
                    "premises": list(link.premises),
                    "observed": list(link.observed),
                    "to_examine": list(link.to_examine),
                    "citation": link.citation,
                }
                for link in chain.links
            ],
            "weak_muscles": list(chain.weak_muscles),
            "muscles_to_target": list(chain.muscles_to_target),
            "muscles_to_test": list(chain.muscles_to_test),
            "spinopelvic": None
            if chain.spinopelvic is None
            else {k: v for k, v in vars(chain.spinopelvic).items()},
        },
        "unknown": list(a.unknown),
        "named_rules": [
            {
                "id": n.id,
                "name": n.name,
                "statement": n.statement,
                "citation": n.citation,
                "strength": n.strength,
                "applied": list(n.applied),
                "results": [
                    {
                        "rule": r.rule.id,
                        "title": r.rule.title,
                        "side": r.side.value if r.side else None,
                        "status": r.status,
                        "outcome": r.outcome,
                        "likelihood_ratio": None if r.weight is None else round(r.weight.lr, 4),
                        "facts": list(r.facts),
                    }
                    for r in n.results
                ],
            }
            for n in a.named_rules
        ],
        "next_tests": [
            {
                "test": t.test,
                "finding": t.missing.id,
                "kind": t.missing.what,
                "side": t.missing.side.value if t.missing.side else None,
                "swing": round(t.swing, 4),
                "changes_conclusion": t.changes_conclusion,
                "outcomes": [
                    {
                        "result": o.result,
                        "conclusion": o.conclusion,
                        "probabilities": dict(o.probabilities),
                    }
                    for o in t.outcomes
                ],
            }
            for t in a.next_tests
        ],
    }
