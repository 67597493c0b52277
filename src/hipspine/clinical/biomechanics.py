"""The hip–spine chain: which compensations are likely, and which muscles to train.

The chain (``chain.toml``) follows the clinic's case story and its sources: a weak
iliopsoas recruits the adductors and hamstrings as hip flexors; weak iliopsoas and gluteus
maximus let the pelvis tilt forward into lumbar hyperlordosis; more lumbar motion with each
step then loads the facet joints and narrows the foramina. Spinopelvic radiograph
parameters give the same story in degrees (Haffer et al., J Clin Med 2020;9(8):2569).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from hipspine.clinical._data import load
from hipspine.clinical.facts import Facts, Truth, all_of, any_of
from hipspine.clinical.vocabulary import Side, findings, muscles

_HIP_TO_SPINE = ("pelvic_tilt_hyperlordosis", "flexion_contracture_lordosis")


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


@dataclass(frozen=True)
class ChainLink:
    """One link of the chain and whether this case shows it."""

    id: str
    consequence: str
    status: str  # active | likely | not_observed | not_active | unknown
    because: tuple[str, ...]
    to_examine: tuple[str, ...]
    muscles_to_target: tuple[str, ...]
    muscles_overworked: tuple[str, ...]
    citation: str


@dataclass(frozen=True)
class Biomechanics:
    """The chain for this case and the muscles a physical-therapy plan should address."""

    links: tuple[ChainLink, ...]
    weak_muscles: tuple[str, ...]  # "iliopsoas (right) 4-"
    muscles_to_target: tuple[str, ...]
    muscles_to_test: tuple[str, ...]
    spinopelvic: Spinopelvic | None

    @property
    def hip_spine_links_known(self) -> bool:
        """True when every hip-to-spine link has been examined (none is still unknown)."""
        return all(link.status != "unknown" for link in self.links if link.id in _HIP_TO_SPINE)

    @property
    def hip_drives_spine(self) -> bool:
        """True when a hip-to-spine link is active or likely (Offierski–MacNab secondary)."""
        return any(
            link.status in ("active", "likely") for link in self.links if link.id in _HIP_TO_SPINE
        )


@cache
def _chain() -> dict[str, Any]:
    return load("chain")


def spinopelvic(facts: Facts) -> Spinopelvic | None:
    """Return the spinopelvic reading, or None when no parameter was measured.

    Balance: |PI − LL| ≤ 10° is balanced and PI − LL > 10° flatback (Haffer 2020); a
    lordosis more than 10° above the incidence is reported as hyperlordotic, the
    radiographic face of the case story's pelvic tilt. Mobility cut-offs on the change in
    sacral slope from standing to sitting are unverified and labelled so.
    """
    settings = _chain()["spinopelvic"]
    pi = facts.value("pelvic_incidence", None)
    pt = facts.value("pelvic_tilt_standing", None)
    ss = facts.value("sacral_slope_standing", None)
    ll = facts.value("lumbar_lordosis_standing", None)
    ss_sit = facts.value("sacral_slope_sitting", None)
    if all(v is None for v in (pi, pt, ss, ll, ss_sit)):
        return None
    limit = float(settings["balanced_mismatch_deg"])
    mismatch = balance = None
    if pi is not None and ll is not None:
        mismatch = pi - ll
        balance = (
            "balanced"
            if abs(mismatch) <= limit
            else ("flatback" if mismatch > 0 else "hyperlordotic")
        )
    check = None
    if None not in (pi, pt, ss):
        assert pi is not None and pt is not None and ss is not None
        gap = pi - (pt + ss)
        if abs(gap) > float(settings["incidence_identity_tolerance_deg"]):
            check = f"PI {pi:g}° differs from PT + SS ({pt + ss:g}°) by {abs(gap):g}°: re-measure"
    change = mobility = None
    if ss is not None and ss_sit is not None:
        change = ss - ss_sit
        stiff, hyper = float(settings["stiff_below_deg"]), float(settings["hypermobile_above_deg"])
        mobility = "stiff" if change < stiff else ("hypermobile" if change > hyper else "normal")
    return Spinopelvic(
        pi, ll, mismatch, balance, check, change, mobility,
        settings["citation"], settings["mobility_citation"],
    )  # fmt: skip


def _weak_text(facts: Facts, muscle: str, side: Side | None) -> str:
    grade = facts.grade(muscle, side)
    where = f" ({side.value})" if side and muscles()[muscle].lateral else ""
    return f"{muscles()[muscle].label}{where} MRC {grade}"


def biomechanics(facts: Facts, sides: tuple[Side, ...], spine_likely: bool) -> Biomechanics:
    """Evaluate the chain on the complaint side(s).

    ``spine_likely`` is the assessment's verdict on the lumbar spine, which is what the
    last link (facet and foraminal loading) predicts.
    """
    reading = spinopelvic(facts)
    hyperlordotic: Truth = (
        None if reading is None or reading.balance is None else reading.balance == "hyperlordotic"
    )

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
        "lordosis_exceeds_incidence": "lumbar lordosis exceeds pelvic incidence by >10° on radiograph",
    }
    statuses: dict[str, str] = {}
    links = []
    for entry in _chain()["link"]:
        because: list[str] = []
        to_examine: list[str] = []
        premises: list[Truth] = []
        if "premise_weak" in entry:
            results = {m: weak(m) for m in entry["premise_weak"]}
            combine = all_of if entry["premise_weak_mode"] == "all" else any_of
            premises.append(combine(results.values()))
            for m, truth in results.items():
                if truth:
                    because.extend(_weak_text(facts, m, s) for s in sides if facts.weak(m, s))
                elif truth is None:
                    to_examine.append(f"manual muscle test: {muscles()[m].label}")
        for fid in entry.get("premise_findings", ()):
            truth = any_of(facts.present(fid, side) for side in sides)
            premises.append(truth)
            if truth:
                because.append(findings()[fid].label)
            elif truth is None:
                to_examine.append(findings()[fid].label)
        if "premise_link" in entry:
            premises.append(any_of(
                {"active": True, "likely": True, "not_active": False}.get(statuses[p]) for p in entry["premise_link"]
            ))  # fmt: skip
            because.extend(
                f"{p.replace('_', ' ')} {statuses[p]}"
                for p in entry["premise_link"]
                if statuses[p] in ("active", "likely")
            )
        premise = all_of(premises)
        observed: Truth
        if "observed_by_sources" in entry:
            observed = True if spine_likely else None  # an unlikely spine is not an absent one
            if spine_likely:
                because.append("lumbar spine likely a pain source")
        else:
            found = {k: observations[k] for k in entry["observed_by"]}
            observed = any_of(found.values()) if found else None
            if premise:
                because.extend(observation_text[k] for k, t in found.items() if t)
        if premise is False:
            status = "not_active"
        elif premise is None:
            status = "unknown"
        else:
            status = {True: "active", False: "not_observed", None: "likely"}[observed]
        statuses[entry["id"]] = status
        links.append(
            ChainLink(
                entry["id"], entry["consequence"], status, tuple(because), tuple(to_examine),
                tuple(entry["muscles_to_target"]), tuple(entry["muscles_overworked"]), entry["citation"],
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
