"""The hip–spine chain: which compensations are likely, and which muscles to train.

The chain (``chain.toml``) follows the clinic's case story and its sources: a weak
iliopsoas recruits the adductors and hamstrings as hip flexors; weak iliopsoas and gluteus
maximus let the pelvis tilt forward into lumbar hyperlordosis; more lumbar motion with each
step then loads the facet joints and narrows the foramina. Spinopelvic radiograph
parameters give the same story in degrees (Haffer et al., J Clin Med 2020;9(8):2569).

The chain calls a link *active* only when its consequence is observed; a link whose
premise is met but whose consequence was never examined is *likely*, and the assessment
does not type a hip–spine syndrome as secondary on a likely link alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from hipspine.clinical._data import load
from hipspine.clinical.facts import Facts, Truth, all_of, any_of
from hipspine.clinical.vocabulary import Side, findings, muscles

_HIP_TO_SPINE = ("pelvic_tilt_hyperlordosis", "flexion_contracture_lordosis")

READS = (
    "lumbar_hyperlordosis",
    "anterior_pelvic_tilt",
    "pelvic_incidence",
    "pelvic_tilt_standing",
    "sacral_slope_standing",
    "lumbar_lordosis_standing",
    "pelvic_tilt_sitting",
    "sacral_slope_sitting",
    "lumbar_lordosis_sitting",
)
"""Findings the chain and the spinopelvic reading read by name (besides link premises)."""

_POSTURE_CHECK = (
    "posture: lumbar hyperlordosis and anterior pelvic tilt, "
    "or a standing lateral radiograph (pelvic incidence and lumbar lordosis)"
)


@dataclass(frozen=True)
class Spinopelvic:
    """Sagittal balance and spinopelvic mobility from lateral radiographs, in degrees."""

    pelvic_incidence: float | None
    lumbar_lordosis: float | None
    mismatch: float | None  # PI − LL
    balance: str | None  # balanced | flatback | hyperlordotic
    incidence_check: str | None  # set when PI ≠ PT + SS beyond tolerance
    sacral_slope_change: float | None  # standing − sitting
    mobility: str | None  # stiff | normal | hypermobile (cut-offs unverified)
    citation: str
    mobility_citation: str
    mobility_verified: bool = False
    balance_basis: str | None = None  # where the balance word comes from
    pelvic_tilt_change: float | None = None  # sitting − standing (posterior tilt is positive)
    lordosis_change: float | None = None  # standing − sitting (loss of lordosis is positive)


@dataclass(frozen=True)
class ChainLink:
    """One link of the chain and whether this case shows it.

    ``premises`` are the findings that meet the link's premise (weak muscles, a contracture,
    an upstream link) and ``observed`` the findings that show its consequence; ``because``
    is both, in that order.
    """

    id: str
    consequence: str
    status: str  # active | likely | not_observed | not_active | unknown
    because: tuple[str, ...]
    to_examine: tuple[str, ...]
    muscles_to_target: tuple[str, ...]
    muscles_overworked: tuple[str, ...]
    citation: str
    name: str = ""
    premises: tuple[str, ...] = ()
    observed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Biomechanics:
    """The chain for this case and the muscles a physical-therapy plan should address."""

    links: tuple[ChainLink, ...]
    weak_muscles: tuple[str, ...]  # "iliopsoas (right) 4-"
    muscles_to_target: tuple[str, ...]
    muscles_to_test: tuple[str, ...]
    spinopelvic: Spinopelvic | None

    def hip_to_spine(self) -> tuple[ChainLink, ...]:
        """The links by which the hip drives the lumbar spine (Offierski–MacNab secondary)."""
        return tuple(link for link in self.links if link.id in _HIP_TO_SPINE)

    @property
    def hip_spine_links_known(self) -> bool:
        """True when every hip-to-spine link has been examined (none is still unknown)."""
        return all(link.status != "unknown" for link in self.hip_to_spine())

    @property
    def hip_drives_spine(self) -> bool:
        """True when a hip-to-spine link is active: its premise met and its consequence
        observed (Offierski–MacNab secondary). A link that is only likely is not enough."""
        return any(link.status == "active" for link in self.hip_to_spine())

    @property
    def hip_may_drive_spine(self) -> bool:
        """True when a hip-to-spine link is likely but its consequence was not examined."""
        return not self.hip_drives_spine and any(
            link.status == "likely" for link in self.hip_to_spine()
        )


@cache
def _chain() -> dict[str, Any]:
    return load("chain")


def _identity_check(
    name: str, pi: float | None, pt: float | None, ss: float | None, tolerance: float
) -> str | None:
    if pi is None or pt is None or ss is None:
        return None
    gap = pi - (pt + ss)
    if abs(gap) <= tolerance:
        return None
    return f"{name}: PI {pi:g}° differs from PT + SS ({pt + ss:g}°) by {abs(gap):g}°: re-measure"


def spinopelvic(facts: Facts) -> Spinopelvic | None:
    """Return the spinopelvic reading, or None when no parameter was measured.

    Balance: |PI − LL| ≤ 10° is balanced and PI − LL > 10° flatback (Haffer 2020). A
    lordosis more than 10° above the incidence is reported as hyperlordotic, the
    radiographic face of the case story's pelvic tilt; that reading is the clinic's expert
    default (the review defines only balanced and flatback) and is labelled so. Mobility
    cut-offs on the change in sacral slope from standing to sitting are unverified and
    labelled so. The standing-to-sitting changes in pelvic tilt and lordosis are reported
    as measured, without cut-offs, and PI = PT + SS is checked on each film.
    """
    settings = _chain()["spinopelvic"]
    pi = facts.value("pelvic_incidence", None)
    pt = facts.value("pelvic_tilt_standing", None)
    ss = facts.value("sacral_slope_standing", None)
    ll = facts.value("lumbar_lordosis_standing", None)
    pt_sit = facts.value("pelvic_tilt_sitting", None)
    ss_sit = facts.value("sacral_slope_sitting", None)
    ll_sit = facts.value("lumbar_lordosis_sitting", None)
    if all(v is None for v in (pi, pt, ss, ll, pt_sit, ss_sit, ll_sit)):
        return None
    limit = float(settings["balanced_mismatch_deg"])
    hyper = float(settings["hyperlordotic_above_incidence_deg"])
    mismatch = balance = basis = None
    if pi is not None and ll is not None:
        mismatch = pi - ll
        if mismatch > limit:
            balance, basis = "flatback", "Haffer 2020"
        elif -mismatch > hyper:
            balance, basis = "hyperlordotic", str(settings["hyperlordotic_basis"])
        else:
            balance, basis = "balanced", "Haffer 2020"
    tolerance = float(settings["incidence_identity_tolerance_deg"])
    checks = [
        c
        for c in (
            _identity_check("standing", pi, pt, ss, tolerance),
            _identity_check("sitting", pi, pt_sit, ss_sit, tolerance),
        )
        if c
    ]
    change = mobility = None
    if ss is not None and ss_sit is not None:
        change = ss - ss_sit
        stiff, hypermobile = (
            float(settings["stiff_below_deg"]),
            float(settings["hypermobile_above_deg"]),
        )
        mobility = (
            "stiff" if change < stiff else ("hypermobile" if change > hypermobile else "normal")
        )
    return Spinopelvic(
        pelvic_incidence=pi,
        lumbar_lordosis=ll,
        mismatch=mismatch,
        balance=balance,
        incidence_check="; ".join(checks) or None,
        sacral_slope_change=change,
        mobility=mobility,
        citation=settings["citation"],
        mobility_citation=settings["mobility_citation"],
        balance_basis=basis,
        pelvic_tilt_change=None if pt is None or pt_sit is None else pt_sit - pt,
        lordosis_change=None if ll is None or ll_sit is None else ll - ll_sit,
    )


def _weak_text(facts: Facts, muscle: str, side: Side | None) -> str:
    grade = facts.grade(muscle, side)
    where = f" ({side.value})" if side and muscles()[muscle].lateral else ""
    return f"{muscles()[muscle].label}{where} MRC {grade}"


def biomechanics(facts: Facts, sides: tuple[Side, ...], spine_likely: bool) -> Biomechanics:
    """Evaluate the chain on the complaint side(s).

    ``spine_likely`` is the assessment's verdict on the lumbar spine from the spine's own
    evidence, which is what the last link (facet and foraminal loading) predicts. That link
    is active only when a link feeding it is active: a chain is only as observed as its
    weakest link.
    """
    reading = spinopelvic(facts)
    hyperlordotic: Truth = (
        None if reading is None or reading.balance is None else reading.balance == "hyperlordotic"
    )
    hyper_deg = _chain()["spinopelvic"]["hyperlordotic_above_incidence_deg"]

    def weak(muscle: str) -> Truth:
        return any_of(facts.weak(muscle, side) for side in sides)

    observations: dict[str, Truth] = {
        "lumbar_hyperlordosis": facts.present("lumbar_hyperlordosis", None),
        "anterior_pelvic_tilt": facts.present("anterior_pelvic_tilt", None),
        "lordosis_exceeds_incidence": hyperlordotic,
    }
    observation_text = {
        "lumbar_hyperlordosis": "lumbar hyperlordosis observed",
        "anterior_pelvic_tilt": "anterior pelvic tilt observed",
        "lordosis_exceeds_incidence": (
            f"lumbar lordosis exceeds pelvic incidence by more than {hyper_deg}° on a standing "
            "radiograph (expert-default cut-off)"
        ),
    }
    names = {entry["id"]: entry["name"] for entry in _chain()["link"]}
    upstream_truth = {"active": True, "likely": True, "not_active": False, "not_observed": False}
    statuses: dict[str, str] = {}
    links = []
    for entry in _chain()["link"]:
        premise_text: list[str] = []
        observed_text: list[str] = []
        to_examine: list[str] = []
        premises: list[Truth] = []
        upstream_observed = True
        if "premise_weak" in entry:
            results = {m: weak(m) for m in entry["premise_weak"]}
            combine = all_of if entry["premise_weak_mode"] == "all" else any_of
            premises.append(combine(results.values()))
            for m, truth in results.items():
                if truth:
                    premise_text.extend(_weak_text(facts, m, s) for s in sides if facts.weak(m, s))
                elif truth is None:
                    to_examine.append(f"manual muscle test: {muscles()[m].label}")
        for fid in entry.get("premise_findings", ()):
            truth = any_of(facts.present(fid, side) for side in sides)
            premises.append(truth)
            if truth:
                premise_text.append(findings()[fid].label)
            elif truth is None:
                to_examine.append(findings()[fid].label)
        if "premise_link" in entry:
            upstream = {p: statuses[p] for p in entry["premise_link"]}
            premises.append(any_of(upstream_truth.get(st) for st in upstream.values()))
            premise_text.extend(
                f"{names[p]} {st}" for p, st in upstream.items() if st in ("active", "likely")
            )
            upstream_observed = any(st == "active" for st in upstream.values())
        premise = all_of(premises)
        observed: Truth
        if "observed_by_sources" in entry:
            observed = True if spine_likely else None  # an unlikely spine is not an absent one
            if spine_likely:
                observed_text.append("lumbar spine likely a pain source on its own evidence")
        else:
            found = {k: observations[k] for k in entry["observed_by"]}
            observed = any_of(found.values()) if found else None
            if premise:
                observed_text.extend(observation_text[k] for k, t in found.items() if t)
                if found and observed is None:
                    to_examine.append(_POSTURE_CHECK)
        if premise is False:
            status = "not_active"
        elif premise is None:
            status = "unknown"
        else:
            status = {True: "active", False: "not_observed", None: "likely"}[observed]
            if status == "active" and not upstream_observed:
                status = "likely"
                to_examine.append(_POSTURE_CHECK)
        statuses[entry["id"]] = status
        links.append(
            ChainLink(
                entry["id"], entry["consequence"], status, (*premise_text, *observed_text),
                tuple(dict.fromkeys(to_examine)), tuple(entry["muscles_to_target"]),
                tuple(entry["muscles_overworked"]), entry["citation"], entry["name"],
                tuple(premise_text), tuple(observed_text),
            )
        )  # fmt: skip

    weak_muscles = tuple(
        _weak_text(facts, m, s)
        for m in muscles()
        for s in (sides if muscles()[m].lateral else (None,))
        if facts.weak(m, s)
    )
    target = [m for m in muscles() if weak(m)]
    for link in links:
        if link.status in ("active", "likely"):
            target.extend(
                m for m in link.muscles_to_target if m not in target and weak(m) is not False
            )
    chain_muscles = {m for e in _chain()["link"] for m in e["muscles_to_target"]}
    to_test = tuple(muscles()[m].label for m in muscles() if m in chain_muscles and weak(m) is None)
    return Biomechanics(
        tuple(links), weak_muscles, tuple(muscles()[m].label for m in target), to_test, reading
    )
