"""Plain-language summaries of a recovery trajectory: one for the clinician, one for the patient.

Written in the spirit of the "Outcome" paragraph of John's story (Guggino, *Hip and low back
pain*): which region improved first and when, which later, strength gains by muscle,
function, goal progress, medication use. Each sentence is built from numbers in the
trajectory and is returned with those numbers as its *evidence*, so every claim can be
checked against the data. Nothing is said about a measure
that was not recorded, and only verified thresholds are called clinically important (rules
and sources in :mod:`hipspine.clinical.trajectory` and ``data/responders.toml``).

Example::

    >>> for text, evidence in clinician_summary(t):  # doctest: +SKIP
    ...     print(text)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from hipspine.clinical import instruments
from hipspine.clinical.goals import AttainmentLevel
from hipspine.clinical.trajectory import (
    ChangePoint,
    DynamometryPoint,
    FirstImprovement,
    MeasureTrajectory,
    MuscleTrajectory,
    SideToSide,
    Trajectory,
)
from hipspine.clinical.vocabulary import SITE_NOT_RECORDED

Evidence = Mapping[str, str | float | int | bool | None]


class Sentence(NamedTuple):
    """One sentence of a summary and the numbers (and labels) from the data that back it."""

    text: str
    evidence: Evidence


def number(value: float, decimals: int = 1) -> str:
    """Format a number for a summary: at most ``decimals`` decimals, no trailing zeros.

    Negative numbers use the minus sign (−), as in clinical text.
    """
    text = f"{abs(value):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "0":
        return "0"
    return f"−{text}" if value < 0 else text


def signed(value: float, decimals: int = 1) -> str:
    """Format a change with its sign: +2, −3, 0."""
    text = number(value, decimals)
    return text if value <= 0 else f"+{text}"


def long_date(day: dt.date) -> str:
    """A date in words for patients, e.g. 19 January 2026."""
    return f"{day.day} {day:%B %Y}"


_PLAIN_REGION = {
    "lumbar": "low back",
    "sacroiliac": "lower back near the pelvis",
    "buttock": "buttock",
    "lateral_hip": "outer hip",
    "groin": "hip (groin)",
    "hip": "hip",
    "thigh_anterior": "front of the thigh",
    "thigh_lateral": "side of the thigh",
    "thigh_medial": "inner thigh",
    "thigh_posterior": "back of the thigh",
    "thigh": "thigh",
    "knee": "knee",
    "lower_leg": "lower leg",
    "leg": "leg",
    "foot": "foot",
    SITE_NOT_RECORDED: "overall",
}
_PLAIN_MUSCLE = {
    "iliopsoas": "hip flexor (iliopsoas)",
    "gluteus_maximus": "main buttock muscle (gluteus maximus)",
    "gluteus_medius_minimus": "side hip muscles (gluteus medius and minimus)",
    "hip_adductors": "inner thigh muscles",
    "hamstrings": "hamstrings",
    "rectus_femoris": "front thigh muscle (rectus femoris)",
    "tensor_fasciae_latae": "outer hip muscle (tensor fasciae latae)",
    "lumbar_paraspinals": "low back muscles (lumbar paraspinals)",
    "multifidus": "deep low back muscles (multifidus)",
    "abdominals": "stomach muscles (abdominals)",
}


def _plain_region(first: FirstImprovement | MeasureTrajectory) -> str:
    region = first.region or ""
    words = _PLAIN_REGION.get(region, region.replace("_", " "))
    side = first.side
    return f"{side} {words}" if side in ("left", "right") else words


def _weeks(first: FirstImprovement) -> float:
    assert first.weeks_since_treatment is not None
    return first.weeks_since_treatment


def _pain_by_key(t: Trajectory) -> dict[str, MeasureTrajectory]:
    return {m.key: m for m in t.pain}


def _procedure_sentence(t: Trajectory) -> Sentence | None:
    if not t.procedures:
        return None
    on_day = [p for p in t.procedures if p.date == t.treatment_date]
    parts = []
    for p in on_day:
        guided = f", {p.guidance}-guided" if p.guidance else ""
        parts.append(f"{p.type} into the {p.target}{guided}")
    evidence: dict[str, str | float | int | bool | None] = {
        "treatment_date": t.treatment_date.isoformat(),
        "procedures_on_day": len(on_day),
    }
    for i, p in enumerate(on_day):
        evidence[f"procedure.{i}"] = f"{p.type} | {p.target} | {p.guidance or ''}"
    return Sentence(
        f"Index procedure on {t.treatment_date.isoformat()}: {'; '.join(parts)}.", evidence
    )


def _first_evidence(
    first: FirstImprovement, m: MeasureTrajectory
) -> dict[str, str | float | int | bool | None]:
    point = next(p for p in m.points if p.date == first.date)
    return {
        "measure": first.key,
        "label": first.label,
        "date": None if first.date is None else first.date.isoformat(),
        "weeks_since_treatment": first.weeks_since_treatment,
        "baseline": first.baseline,
        "value": first.value,
        "improvement": point.improvement,
        "percent_improvement": point.percent_improvement,
        "sustained": first.sustained,
        "sustained_reason": first.sustained_reason,
        "scale_max": 10,
    }


def _sustained_words(first: FirstImprovement) -> str:
    if first.sustained is True:
        return "sustained at every later visit"
    if first.sustained is False:
        return f"not sustained ({first.sustained_reason})"
    return f"whether it was sustained is unknown ({first.sustained_reason})"


def _order_sentences(t: Trajectory) -> list[Sentence]:
    pain = _pain_by_key(t)
    reached = [f for f in t.first_improvements if f.date is not None]
    sentences: list[Sentence] = []
    if not reached:
        return sentences
    first_date = reached[0].date
    lead = reached[0]
    for f in reached:
        m = pain[f.key]
        evidence = _first_evidence(f, m)
        point = next(p for p in m.points if p.date == f.date)
        assert point.improvement is not None and point.percent_improvement is not None
        change = (
            f"NPRS {number(m.baseline or 0)} → {number(f.value or 0)}/10, "
            f"{number(point.improvement)} points ({number(point.percent_improvement)}%) better"
        )
        when = f"{number(_weeks(f))} weeks after the procedure ({f.date})"
        if f.date == first_date:
            opening = "improved first" if f is lead else "improved at the same visit"
            text = (
                f"{f.label} pain {opening}: clinically important by {when}, {change}; "
                f"{_sustained_words(f)}."
            )
        else:
            gap = _weeks(f) - _weeks(lead)
            evidence["weeks_after_first"] = gap
            evidence["first_label"] = lead.label
            text = (
                f"{f.label} pain improved later: clinically important by {when}, "
                f"{number(gap)} weeks after {lead.label.lower()} pain, {change}; "
                f"{_sustained_words(f)}."
            )
        if f.unknown_before:
            evidence["unknown_before"] = ", ".join(d.isoformat() for d in f.unknown_before)
            text += " An earlier visit did not rate this region, so it may have improved sooner."
        sentences.append(Sentence(text, evidence))
    return sentences


def _not_improved_sentences(t: Trajectory) -> list[Sentence]:
    pain = _pain_by_key(t)
    sentences = []
    for f in t.first_improvements:
        if f.date is not None:
            continue
        m = pain[f.key]
        latest = m.latest_known()
        if m.baseline is None or latest is None or latest.value is None:
            sentences.append(
                Sentence(
                    f"{f.label} pain: change unknown (not rated at baseline or after it).",
                    {"measure": f.key, "label": f.label, "baseline": m.baseline},
                )
            )
            continue
        sentences.append(
            Sentence(
                f"{f.label} pain has not reached a clinically important improvement: NPRS "
                f"{number(m.baseline)} → {number(latest.value)}/10 on {latest.date} ({latest.status}).",
                {
                    "measure": f.key,
                    "label": f.label,
                    "baseline": m.baseline,
                    "value": latest.value,
                    "date": latest.date.isoformat(),
                    "status": latest.status,
                    "scale_max": 10,
                },
            )
        )
    return sentences


def _threshold_words(
    m: MeasureTrajectory,
) -> tuple[str, dict[str, str | float | int | bool | None]]:
    evidence: dict[str, str | float | int | bool | None] = {}
    parts = []
    for i, t in enumerate(m.mcids):
        unit = " points" if t.unit == "points" else "% of baseline"
        flag = "" if t.verified else ", unverified"
        parts.append(f"{t.kind.upper()} {number(t.value)}{unit}{flag}")
        evidence[f"threshold.{i}.value"] = t.value
        evidence[f"threshold.{i}.source"] = t.source
    return " and ".join(parts), evidence


def _questionnaire_sentences(t: Trajectory) -> list[Sentence]:
    sentences = []
    for m in t.questionnaires:
        latest = m.latest_known()
        if m.baseline is None or latest is None or latest.value is None:
            continue
        assert latest.change is not None
        evidence: dict[str, str | float | int | bool | None] = {
            "measure": m.key,
            "label": m.label,
            "baseline": m.baseline,
            "value": latest.value,
            "change": latest.change,
            "date": latest.date.isoformat(),
            "status": latest.status,
            "mdc_status": latest.mdc_status,
        }
        text = (
            f"{m.label} {number(m.baseline, 2)} → {number(latest.value, 2)} on {latest.date} "
            f"({signed(latest.change, 2)} points, {m.direction.value.replace('_', ' ')})"
        )
        if m.mcids:
            words, extra = _threshold_words(m)
            evidence.update(extra)
            text += f": {latest.status} (preferred {words})"
            notes = [t.note for t in m.mcids if t.note]
            if notes:
                text += f"; note: {notes[0].rstrip('.')}"
                evidence["threshold_note"] = notes[0]
        else:
            text += ": no MCID is available, so the change is not graded as clinically important"
        mdc = latest.mdc or m.mdc
        if mdc is not None and latest.mdc_status != "unknown":
            evidence["mdc"] = mdc.value
            evidence["mdc_source"] = mdc.source
            kind = "single-activity MDC" if mdc.scope == "single_item" else "MDC"
            flag = "" if mdc.verified else " (MDC unverified, so it does not decide)"
            text += f"; {kind} {number(mdc.value)}: {latest.mdc_status}{flag}"
        sentences.append(Sentence(text + ".", evidence))
    return sentences


def _omeract_sentence(t: Trajectory) -> Sentence | None:
    known = [o for o in t.omeract_oarsi]
    if not known:
        return None
    latest = known[-1]
    first_yes = next((o for o in known if o.responder), None)
    answer = {True: "responder", False: "not a responder", None: "unknown"}[latest.responder]
    evidence: dict[str, str | float | int | bool | None] = {
        "date": latest.date.isoformat(),
        "responder": latest.responder,
        "criterion": latest.criterion,
        "label": latest.label,
        "scale": "0–100",
    }
    for d in latest.domains:
        if d.baseline is not None and d.value is not None:
            evidence[f"{d.domain}.measure"] = d.measure
            evidence[f"{d.domain}.baseline"] = d.baseline
            evidence[f"{d.domain}.value"] = d.value
    domains = ", ".join(
        f"{d.domain} ({d.measure}) {number(d.baseline)} → {number(d.value)}"
        for d in latest.domains
        if d.baseline is not None and d.value is not None
    )
    text = (
        f"OMERACT-OARSI on {latest.date}: {answer} ({latest.criterion}; 0–100, higher worse: "
        f"{domains}) — {latest.label}."
    )
    if first_yes is not None and first_yes.date != latest.date:
        evidence["first_responder_date"] = first_yes.date.isoformat()
        text = text[:-1] + f"; first met on {first_yes.date}."
    return Sentence(text, evidence)


def _groc_sentence(t: Trajectory) -> Sentence | None:
    if not t.global_ratings:
        return None
    definition = instruments.get("groc")
    cutoffs = instruments.change_thresholds("groc").of_kind("responder_cutoff")
    first_day, first, first_band = t.global_ratings[0]
    last_day, last, last_band = t.global_ratings[-1]
    evidence: dict[str, str | float | int | bool | None] = {
        "first": first,
        "first_date": first_day.isoformat(),
        "first_band": first_band,
        "latest": last,
        "latest_date": last_day.isoformat(),
        "latest_band": last_band,
        "ratings": len(t.global_ratings),
        "scale_min": definition.score_min,
        "scale_max": definition.score_max,
    }
    for i, c in enumerate(cutoffs):
        evidence[f"cutoff.{i}.value"] = c.value
        evidence[f"cutoff.{i}.verified"] = c.verified
        evidence[f"cutoff.{i}.source"] = c.source
    scale = f"{number(definition.score_min, 0)} … {signed(definition.score_max, 0)}"
    if len(t.global_ratings) == 1:
        said = f"{signed(last, 0)} ({last_band}) on {last_day}"
    else:
        said = (
            f"{signed(first, 0)} ({first_band}) on {first_day} → {signed(last, 0)} "
            f"({last_band}) on {last_day}"
        )
    text = f"Global rating of change (GROC, {scale}): {said}"
    if cutoffs and not all(c.verified for c in cutoffs):
        named = " or ".join(f"≥ {signed(c.value, 0)}" for c in cutoffs)
        text += (
            f"; the conventional 'improved' cut-offs ({named}) are unverified, so no "
            "responder status is given"
        )
    return Sentence(text + ".", evidence)


def _warning_sentences(t: Trajectory) -> list[Sentence]:
    return [Sentence(f"Caution: {w}", {"warning": w}) for w in t.warnings]


def _side_words(p: DynamometryPoint) -> str:
    parts = []
    if p.torque_nm_per_kg is not None:
        parts.append(f"{number(p.torque_nm_per_kg, 2)} N·m/kg")
    if p.percent_body_weight is not None:
        parts.append(f"{number(p.percent_body_weight)}% body weight")
    return ", ".join(parts)


def _asymmetry_words(pair: SideToSide) -> str:
    a = pair.asymmetry
    weaker = f"{a.weaker_side} weaker, " if a.weaker_side else ""
    if a.beyond_measurement_error:
        verdict = (
            f"at least the {number(a.mdc_percent)}% LSI measurement error: a possible "
            "deficit, not a confirmed one"
        )
    else:
        verdict = (
            f"below the {number(a.mdc_percent)}% LSI measurement error: within measurement "
            "error, not a deficit"
        )
    return (
        f"{weaker}LSI {number(a.limb_symmetry_index)}% (asymmetry "
        f"{number(a.asymmetry_percent)}%, {verdict})"
    )


def _side_to_side_sentences(t: Trajectory) -> list[Sentence]:
    groups: dict[tuple[str, str, str], list[SideToSide]] = {}
    for pair in t.side_to_side:
        groups.setdefault((pair.muscle, pair.action, pair.position), []).append(pair)
    sentences = []
    for (muscle, action, position), pairs in groups.items():
        first, last = pairs[0], pairs[-1]
        side = first.asymmetry.weaker_side or "right"
        start: DynamometryPoint = getattr(first, side)
        end: DynamometryPoint = getattr(last, side)
        evidence: dict[str, str | float | int | bool | None] = {
            "muscle": muscle,
            "action": action,
            "position": position,
            "quantity": first.asymmetry.quantity,
            "first_date": first.date.isoformat(),
            "first.left": first.asymmetry.left,
            "first.right": first.asymmetry.right,
            "first.lsi": first.asymmetry.limb_symmetry_index,
            "first.asymmetry_percent": first.asymmetry.asymmetry_percent,
            "first.status": first.asymmetry.status,
            "mdc_percent": first.asymmetry.mdc_percent,
            "mdc_source": first.asymmetry.notes[0],
            "latest_date": last.date.isoformat(),
            "latest.left": last.asymmetry.left,
            "latest.right": last.asymmetry.right,
            "latest.lsi": last.asymmetry.limb_symmetry_index,
            "latest.asymmetry_percent": last.asymmetry.asymmetry_percent,
            "latest.status": last.asymmetry.status,
            "normalised_side": side,
            "first.nm_per_kg": start.torque_nm_per_kg,
            "first.percent_bw": start.percent_body_weight,
            "latest.nm_per_kg": end.torque_nm_per_kg,
            "latest.percent_bw": end.percent_body_weight,
            "body_mass_kg": start.body_mass_kg,
            "body_mass_source": start.body_mass_source,
            "norm": start.norm.status,
            "norm_reason": start.norm.reason,
        }
        unit = "N·m" if first.asymmetry.quantity == "torque" else "N"
        text = (
            f"Dynamometry side to side, {first.label.lower()} {action.replace('_', ' ')} "
            f"({position.replace('_', ' ')}, {first.asymmetry.quantity}): on {first.date} "
            f"left {number(first.asymmetry.left)} vs right {number(first.asymmetry.right)} "
            f"{unit}, {_asymmetry_words(first)}"
        )
        if last is not first:
            text += (
                f"; on {last.date} left {number(last.asymmetry.left)} vs right "
                f"{number(last.asymmetry.right)} {unit}, {_asymmetry_words(last)}"
            )
        before, after = _side_words(start), _side_words(end)
        if before or after:
            change = before if last is first else f"{before} → {after}"
            source = (
                " (body mass from the patient record)"
                if start.body_mass_source == "patient record"
                else ""
            )
            text += f"; {side} side normalised {change}{source}"
        if start.norm.status == "compared":
            evidence["norm_percent"] = start.norm.percent_of_reference
            text += (
                f"; {number(start.norm.percent_of_reference or 0)}% of the mean of "
                f"{start.norm.population}"
            )
        else:
            text += f"; {start.norm.reason.split(';')[0]}"
        sentences.append(Sentence(text + ".", evidence))
    return sentences


def _grade_phrase(s: MuscleTrajectory) -> str:
    side = f" {s.side}" if s.side else ""
    return f"{s.label.lower()}{side} {s.baseline} → {s.latest} ({signed(s.steps or 0, 0)})"


def _strength_sentences(t: Trajectory) -> list[Sentence]:
    sentences = []
    gained = [s for s in t.strength if s.steps is not None and s.steps > 0]
    lost = [s for s in t.strength if s.steps is not None and s.steps < 0]
    for group, verb in ((gained, "gains"), (lost, "losses")):
        if not group:
            continue
        evidence: dict[str, str | float | int | bool | None] = {}
        for s in group:
            key = f"{s.muscle}.{s.side or 'midline'}"
            evidence[f"{key}.label"] = s.label
            evidence[f"{key}.baseline"] = s.baseline
            evidence[f"{key}.latest"] = s.latest
            evidence[f"{key}.steps"] = s.steps
            evidence[f"{key}.date"] = None if s.latest_date is None else s.latest_date.isoformat()
        dates = sorted({s.latest_date for s in group if s.latest_date is not None})
        when = f"by {dates[-1]}" if len(dates) == 1 else "by the latest grading of each"
        sentences.append(
            Sentence(
                f"Manual muscle testing (MRC) {verb} from baseline {when}: "
                + ", ".join(_grade_phrase(s) for s in group)
                + " steps; grades are ordinal and no MDC exists for them.",
                evidence,
            )
        )
    for c in t.dynamometry:
        evidence = {
            "muscle": c.muscle,
            "side": c.side,
            "action": c.action,
            "position": c.position,
            "before": c.before,
            "after": c.after,
            "change": c.change,
            "unit": c.unit,
            "mdc": c.mdc,
            "status": c.status,
            "source": c.source,
        }
        mdc = f"MDC {number(c.mdc)} {c.unit}: {c.status}" if c.mdc is not None else c.status
        sentences.append(
            Sentence(
                f"Dynamometry, {' '.join(filter(None, (c.muscle.replace('_', ' '), c.side)))} "
                f"{c.action.replace('_', ' ')} ({c.position.replace('_', ' ')}): "
                f"{number(c.before)} → {number(c.after)} {c.unit} ({signed(c.change)}; {mdc}).",
                evidence,
            )
        )
    return sentences


def _function_sentences(t: Trajectory) -> list[Sentence]:
    sentences = []
    for f in t.function:
        if f.baseline is None or f.latest is None or f.change is None:
            continue
        by_date = {d: note for d, _, note in f.values}
        base_note = by_date.get(t.baseline_date, "")
        latest_note = by_date.get(f.latest_date, "") if f.latest_date else ""
        decimals = 2 if f.unit == "m/s" else 1
        evidence: dict[str, str | float | int | bool | None] = {
            "test": f.label,
            "baseline": f.baseline,
            "latest": f.latest,
            "change": f.change,
            "date": None if f.latest_date is None else f.latest_date.isoformat(),
            "baseline_norm": base_note,
            "latest_norm": latest_note,
            "note": f.note,
        }
        if "%" in base_note and "%" in latest_note:
            norms = f"; {base_note} → {latest_note}"
        else:
            norms = f"; norm: {latest_note or base_note}" if base_note or latest_note else ""
        sentences.append(
            Sentence(
                f"{f.label} {number(f.baseline, decimals)} → {number(f.latest, decimals)} {f.unit} "
                f"on {f.latest_date} ({signed(f.change, decimals)} {f.unit}{norms}); "
                "no hip-OA MCID exists, so the change is not graded.",
                evidence,
            )
        )
    return sentences


def _goal_sentences(t: Trajectory) -> list[Sentence]:
    sentences = []
    for g in t.goals:
        rated = [(d, level) for d, level in g.gas if level is not None]
        evidence: dict[str, str | float | int | bool | None] = {
            "goal": g.description,
            "target_date": g.target_date.isoformat(),
            "status": g.progress.status,
        }
        if rated:
            first_day, first_level = rated[0]
            last_day, last_level = rated[-1]
            evidence.update(
                {
                    "gas_first": first_level,
                    "gas_first_date": first_day.isoformat(),
                    "gas_latest": last_level,
                    "gas_latest_date": last_day.isoformat(),
                }
            )
            text = (
                f"Goal '{g.description}' (target {g.target_date}): GAS {signed(first_level, 0)} "
                f"→ {signed(last_level, 0)} ({AttainmentLevel(last_level).meaning}) on "
                f"{last_day}; status {g.progress.status}"
            )
        else:
            text = f"Goal '{g.description}' (target {g.target_date}): GAS not rated yet"
        change = g.psfs_change
        latest = None if change is None else change.latest_known()
        if change is not None and change.baseline is not None and latest is not None:
            assert latest.value is not None and latest.change is not None
            evidence["psfs_first"] = change.baseline
            evidence["psfs_latest"] = latest.value
            evidence["psfs_change"] = latest.change
            evidence["psfs_latest_date"] = latest.date.isoformat()
            evidence["scale_max"] = 10
            text += (
                f"; linked PSFS activity {number(change.baseline)} → {number(latest.value)}/10 "
                f"({signed(latest.change)}"
            )
            if latest.mdc is not None:
                evidence["psfs_mdc"] = latest.mdc.value
                evidence["psfs_mdc_source"] = latest.mdc.source
                text += f"; single-activity MDC {number(latest.mdc.value)}: {latest.mdc_status}"
            text += ")"
        sentences.append(Sentence(text + ".", evidence))
    return sentences


def _medication_sentences(t: Trajectory) -> list[Sentence]:
    sentences = []
    for m in t.medications:
        if m.baseline is None or m.latest is None or m.change is None:
            continue
        evidence: dict[str, str | float | int | bool | None] = {
            "medication": m.name,
            "drug_class": m.drug_class,
            "baseline": m.baseline,
            "latest": m.latest,
            "change": m.change,
            "date": None if m.latest_date is None else m.latest_date.isoformat(),
        }
        sentences.append(
            Sentence(
                f"{m.name.capitalize()} ({m.drug_class.upper() if m.drug_class == 'nsaid' else m.drug_class}): "
                f"{number(m.baseline)} → {number(m.latest)} days per week on {m.latest_date} "
                f"({signed(m.change)} days per week).",
                evidence,
            )
        )
    return sentences


def _schedule_sentence(t: Trajectory) -> Sentence | None:
    points = t.schedule.time_points
    completed = [p for p in points if p.status == "completed"]
    overdue = [p for p in points if p.status == "overdue"]
    due = [p for p in points if p.status == "due"]
    upcoming = [p for p in points if p.status == "upcoming"]
    evidence: dict[str, str | float | int | bool | None] = {
        "completed": len(completed),
        "overdue": len(overdue),
        "due": len(due),
        "today": t.today.isoformat(),
    }
    parts = [f"{len(completed)} time point(s) completed"]
    if overdue:
        evidence["overdue_labels"] = ", ".join(p.time_point.label for p in overdue)
        parts.append(f"overdue: {evidence['overdue_labels']}")
    if due:
        evidence["due_labels"] = ", ".join(p.time_point.label for p in due)
        parts.append(f"due now: {evidence['due_labels']}")
    if upcoming:
        nxt = upcoming[0].time_point
        evidence["next_label"] = nxt.label
        evidence["next_target"] = nxt.target.isoformat()
        evidence["next_opens"] = nxt.opens.isoformat()
        parts.append(f"next: {nxt.label} (target {nxt.target}, window opens {nxt.opens})")
    return Sentence(f"Follow-up on {t.today}: " + "; ".join(parts) + ".", evidence)


def clinician_summary(t: Trajectory) -> tuple[Sentence, ...]:
    """Return the clinician's summary: each sentence with the numbers that back it.

    Order: procedure; pain regions in the order they first reached a clinically important
    improvement (NPRS MCID 2 points and 30%, Ostelo et al., Spine 2008, and at least the
    MDC of 2 points, Childs et al., Spine 2005) with weeks since the procedure; regions that
    did not; questionnaires against their MCID/MDC; global rating of change; OMERACT-OARSI
    (definition text unverified); strength (MRC, dynamometry change, side-to-side asymmetry
    against the LSI measurement error, normalised values); function tests; goals; medication;
    follow-up; cautions (e.g. mixed NPRS recall periods).
    """
    parts: list[Sentence | None] = [_procedure_sentence(t)]
    parts += _order_sentences(t)
    parts += _not_improved_sentences(t)
    parts += _questionnaire_sentences(t)
    parts.append(_groc_sentence(t))
    parts.append(_omeract_sentence(t))
    parts += _strength_sentences(t)
    parts += _side_to_side_sentences(t)
    parts += _function_sentences(t)
    parts += _goal_sentences(t)
    parts += _medication_sentences(t)
    parts.append(_schedule_sentence(t))
    parts += _warning_sentences(t)
    return tuple(s for s in parts if s is not None)


# --- the patient's summary -------------------------------------------------------------------


def _patient_pain(t: Trajectory) -> list[Sentence]:
    pain = _pain_by_key(t)
    reached = [f for f in t.first_improvements if f.date is not None]
    sentences = []
    for i, f in enumerate(reached):
        evidence: dict[str, str | float | int | bool | None] = {
            "measure": f.key,
            "date": None if f.date is None else f.date.isoformat(),
            "weeks_since_treatment": f.weeks_since_treatment,
            "baseline": f.baseline,
            "value": f.value,
            "scale_max": 10,
        }
        where = _plain_region(f)
        weeks = number(_weeks(f), 0)
        if i == 0:
            text = (
                f"Your {where} pain eased first: about {weeks} weeks after your procedure it "
                f"had gone from {number(f.baseline or 0)} to {number(f.value or 0)} out of 10."
            )
        elif f.date == reached[0].date:
            text = (
                f"Your {where} pain eased at the same time, from {number(f.baseline or 0)} "
                f"to {number(f.value or 0)} out of 10."
            )
        else:
            text = (
                f"Your {where} pain started to ease later, about {weeks} weeks after the "
                f"procedure: from {number(f.baseline or 0)} to {number(f.value or 0)} out of 10."
            )
        sentences.append(Sentence(text, evidence))
    for f in t.first_improvements:
        m = pain[f.key]
        latest = m.latest_known()
        if f.date is None and m.baseline is not None and latest and latest.value is not None:
            sentences.append(
                Sentence(
                    f"Your {_plain_region(f)} pain has not clearly eased yet: "
                    f"{number(m.baseline)} out of 10 at the start, {number(latest.value)} now.",
                    {
                        "measure": f.key,
                        "baseline": m.baseline,
                        "value": latest.value,
                        "scale_max": 10,
                    },
                )
            )
    latest_parts = []
    evidence = {"scale_max": 10}
    for m in t.pain:
        latest = m.latest_known()
        if latest is None or latest.value is None:
            continue
        latest_parts.append(f"{_plain_region(m)} {number(latest.value)}")
        evidence[f"{m.key}.value"] = latest.value
        evidence[f"{m.key}.date"] = latest.date.isoformat()
    if latest_parts:
        sentences.append(
            Sentence(
                "At your latest visit your pain (out of 10) was: " + ", ".join(latest_parts) + ".",
                evidence,
            )
        )
    return sentences


_PATIENT_VERDICT = {
    "clinically important improvement": "a clear improvement",
    "improvement meeting an unverified threshold": (
        "better, but the yardstick for how big a change matters on this score is not confirmed yet"
    ),
    "improved, meets the MCID but within measurement error": (
        "better, but still within the range that can come from measurement error alone"
    ),
    "improved, below the MCID": "a little better, not yet a clear change",
    "no change": "no change",
    "worse, below the MCID": "a little worse, not a clear change",
    "worse, meets the MCID but within measurement error": (
        "worse, but still within the range that can come from measurement error alone"
    ),
    "worsening meeting an unverified threshold": (
        "worse; the yardstick for how big a change matters on this score is not confirmed"
    ),
    "clinically important worsening": "clearly worse than at the start",
}


def _patient_verdict(m: MeasureTrajectory, latest: ChangePoint) -> str:
    """Plain words for a change; "clear" only on a verified threshold, beyond the MDC."""
    if not m.mcids:
        return "there is no agreed yardstick for how big a change matters"
    return _PATIENT_VERDICT.get(latest.status, "not yet a clear change")


def _patient_questionnaires(t: Trajectory) -> list[Sentence]:
    sentences = []
    plain = {
        "odi": "Your back-related disability score (ODI, lower is better)",
        "odi_modified": "Your back-related disability score (modified ODI, lower is better)",
        "hoos:pain": "Your hip pain score (HOOS, higher is better)",
        "hoos:adl": "Your hip daily-activities score (HOOS, higher is better)",
        "lefs": "Your leg function score (LEFS, higher is better)",
    }
    for m in t.questionnaires:
        if m.key not in plain:
            continue
        latest = m.latest_known()
        if m.baseline is None or latest is None or latest.value is None:
            continue
        # The scale is the instrument's own (LEFS 0–80; ODI and HOOS 0–100).
        top = instruments.get(m.instrument_id).score_max
        sentences.append(
            Sentence(
                f"{plain[m.key]} went from {number(m.baseline, 0)} to {number(latest.value, 0)} "
                f"out of {number(top, 0)}: {_patient_verdict(m, latest)}.",
                {
                    "measure": m.key,
                    "baseline": m.baseline,
                    "value": latest.value,
                    "status": latest.status,
                    "scale_max": top,
                    "thresholds_verified": all(th.verified for th in m.mcids),
                },
            )
        )
    return sentences


def _patient_groc(t: Trajectory) -> list[Sentence]:
    if not t.global_ratings:
        return []
    definition = instruments.get("groc")
    day, value, band = t.global_ratings[-1]
    return [
        Sentence(
            f"You rated your overall change since treatment as {signed(value, 0)} ({band}), on a "
            f"scale from {number(definition.score_min, 0)} (much worse) to "
            f"{signed(definition.score_max, 0)} (much better) where 0 means no change.",
            {
                "value": value,
                "date": day.isoformat(),
                "band": band,
                "scale_min": definition.score_min,
                "scale_max": definition.score_max,
                "no_change": 0,
            },
        )
    ]


def _muscle_names(tests: Sequence[MuscleTrajectory]) -> tuple[list[str], dict[str, int | None]]:
    by_muscle: dict[str, list[MuscleTrajectory]] = {}
    for s in tests:
        by_muscle.setdefault(s.muscle, []).append(s)
    names: list[str] = []
    steps: dict[str, int | None] = {}
    for muscle, group in by_muscle.items():
        name = _PLAIN_MUSCLE.get(muscle, group[0].label.lower())
        if len(group) > 1:
            names.append(f"{name} on both sides")
        elif group[0].side:
            names.append(f"{name} on the {group[0].side}")
        else:
            names.append(name)
        for s in group:
            steps[f"{muscle}.{s.side or 'midline'}.steps"] = s.steps
    return names, steps


def _patient_strength(t: Trajectory) -> list[Sentence]:
    """Muscle grades in plain words, with the clinician's caveat: MRC grades are ordinal and
    no MDC exists for them, so a single ± step is never presented as a real gain."""
    sentences = []
    clear = [s for s in t.strength if s.steps is not None and s.steps >= 2]
    small = [s for s in t.strength if s.steps == 1]
    if clear:
        names, evidence = _muscle_names(clear)
        sentences.append(
            Sentence(
                "Your hand-tested muscle grades went up for: "
                + "; ".join(names)
                + ". These grades are a rough scale, and there is no agreed measure of how "
                "big a change in them is real.",
                {**evidence, "ordinal": True, "mdc": None},
            )
        )
    if small:
        names, evidence = _muscle_names(small)
        sentences.append(
            Sentence(
                "For your "
                + "; ".join(names)
                + ", the hand-tested grade went up by one small step only, which can be within "
                "the normal variation between two tests.",
                {**evidence, "ordinal": True, "mdc": None},
            )
        )
    for pair in _changed_asymmetry(t):
        first, last = pair
        name = _PLAIN_MUSCLE.get(first.muscle, first.label.lower())
        evidence2: dict[str, str | float | int | bool | None] = {
            "muscle": first.muscle,
            "first_date": first.date.isoformat(),
            "first.status": first.asymmetry.status,
            "first.asymmetry_percent": first.asymmetry.asymmetry_percent,
            "latest_date": last.date.isoformat(),
            "latest.status": last.asymmetry.status,
            "latest.asymmetry_percent": last.asymmetry.asymmetry_percent,
            "mdc_percent": last.asymmetry.mdc_percent,
        }
        sentences.append(
            Sentence(
                f"Measured with a strength meter, your {first.asymmetry.weaker_side} {name} "
                "was weaker than the other side at the start, by more than measuring error "
                f"alone can explain; by {long_date(last.date)} the difference between your "
                "sides was small enough to be measuring error.",
                evidence2,
            )
        )
    return sentences


def _changed_asymmetry(t: Trajectory) -> list[tuple[SideToSide, SideToSide]]:
    """Left/right pairs that went from a possible deficit to within measurement error."""
    groups: dict[tuple[str, str, str], list[SideToSide]] = {}
    for pair in t.side_to_side:
        groups.setdefault((pair.muscle, pair.action, pair.position), []).append(pair)
    found = []
    for pairs in groups.values():
        first, last = pairs[0], pairs[-1]
        if (
            last is not first
            and first.asymmetry.beyond_measurement_error
            and not last.asymmetry.beyond_measurement_error
            and first.asymmetry.weaker_side is not None
        ):
            found.append((first, last))
    return found


def _patient_function(t: Trajectory) -> list[Sentence]:
    sentences = []
    for f in t.function:
        if f.test != "six_minute_walk_m" or f.baseline is None or f.latest is None:
            continue
        assert f.change is not None
        more = "further" if f.change > 0 else "less far"
        sentences.append(
            Sentence(
                f"In the six-minute walk test you walked {number(abs(f.change), 0)} metres {more}: "
                f"{number(f.baseline, 0)} m at the start, {number(f.latest, 0)} m at your latest visit.",
                {"baseline": f.baseline, "latest": f.latest, "change": f.change},
            )
        )
    return sentences


def _patient_goals(t: Trajectory) -> list[Sentence]:
    sentences = []
    for g in t.goals:
        rated = [(d, level) for d, level in g.gas if level is not None]
        if not rated:
            continue
        first, last = rated[0][1], rated[-1][1]
        evidence: dict[str, str | float | int | bool | None] = {
            "goal": g.description,
            "target_date": g.target_date.isoformat(),
            "gas_first": first,
            "gas_latest": last,
        }
        text = (
            f'Your goal, "{g.description}" by {long_date(g.target_date)}: you are now at '
            f"'{AttainmentLevel(last).meaning}'"
        )
        if last != first:
            text += f", {'up' if last > first else 'down'} from '{AttainmentLevel(first).meaning}' at the start"
        psfs = [v for _, v in g.psfs if v is not None]
        if len(psfs) >= 2:
            before, now = psfs[0], psfs[-1]
            evidence["psfs_first"] = before
            evidence["psfs_latest"] = now
            evidence["scale_max"] = 10
            if now > before:
                trend = f"up from {number(before)}"
            elif now < before:
                trend = f"down from {number(before)}"
            else:
                trend = "the same as at the start"
            text += f"; you rate this activity {number(now)} out of 10, {trend}"
        sentences.append(Sentence(text + ".", evidence))
    return sentences


def _patient_medication(t: Trajectory) -> list[Sentence]:
    sentences = []
    for m in t.medications:
        if m.baseline is None or m.latest is None:
            continue
        if m.latest < m.baseline:
            trend = f"down from {number(m.baseline)}"
        elif m.latest > m.baseline:
            trend = f"up from {number(m.baseline)}"
        else:
            trend = "the same as at the start"
        sentences.append(
            Sentence(
                f"You now take {m.name} about {number(m.latest)} "
                f"{'day' if m.latest == 1 else 'days'} a week, {trend}.",
                {"medication": m.name, "baseline": m.baseline, "latest": m.latest},
            )
        )
    return sentences


def _patient_next_visit(t: Trajectory) -> list[Sentence]:
    points = t.schedule.time_points
    due = [p for p in points if p.status in ("due", "overdue")]
    upcoming = [p for p in points if p.status == "upcoming"]
    if due:
        p = due[0].time_point
        return [
            Sentence(
                f"Your {p.label.lower()} check-up is due now; please book it.",
                {"label": p.label, "status": due[0].status, "target": p.target.isoformat()},
            )
        ]
    if upcoming:
        p = upcoming[0].time_point
        return [
            Sentence(
                f"Your next check-up is at {p.label}, around {long_date(p.target)}.",
                {"label": p.label, "target": p.target.isoformat()},
            )
        ]
    return []


def patient_summary(t: Trajectory) -> tuple[Sentence, ...]:
    """Return the patient's summary in simple words, each sentence with its numbers.

    Says which pain eased first and about how many weeks after the procedure, which later,
    where things stand now, the overall rating of change, the stronger muscles, the walk
    test, the goal, medication use and the next check-up. "Eased" and "clear improvement"
    are said only of a verified clinically important improvement beyond measurement error;
    a muscle grade up by one step carries the same caveat as the clinician's text.
    """
    parts: list[Sentence] = []
    parts += _patient_pain(t)
    parts += _patient_questionnaires(t)
    parts += _patient_groc(t)
    parts += _patient_strength(t)
    parts += _patient_function(t)
    parts += _patient_goals(t)
    parts += _patient_medication(t)
    parts += _patient_next_visit(t)
    return tuple(parts)


def as_text(sentences: Sequence[Sentence]) -> str:
    """Join a summary's sentences into one paragraph."""
    return " ".join(s.text for s in sentences)
