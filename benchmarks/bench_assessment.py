"""Assessment latency: the full explainable assessment against a bare baseline.

The clinician's screen re-assesses the case on every saved finding, so the full answer —
source estimates, red flags, the hip–spine chain and the search for the most useful next
test (which re-runs the estimate twice per unknown test) — must stay interactive. The
baseline in the same run is the bare estimate (posterior per source only), the least any
explainable engine must do; the ratio is the price of the explanation.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from hipspine.clinical.assessment import assess, estimate_sources
from hipspine.clinical.case import Case, parse_case
from hipspine.clinical.facts import Facts
from hipspine.clinical.vocabulary import Kind, findings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "john.json"


def synthetic_cases(n: int, seed: int = 7) -> list[Case]:
    """John's case with a random half of his findings removed: every stage of a visit."""
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        data = dict(base)
        data["findings"] = [f for f in base["findings"] if rng.random() < 0.5]
        cases.append(parse_case(data))
    return cases


def _time(fn: Callable[[Case], object], cases: list[Case]) -> list[float]:
    out = []
    for case in cases:
        start = time.perf_counter()
        fn(case)
        out.append(time.perf_counter() - start)
    return out


def _bare(case: Case) -> object:
    facts = Facts(case)
    return estimate_sources(facts, facts.complaint_sides())


def main(n: int = 300) -> None:
    cases = synthetic_cases(n)
    assess(cases[0])  # load and cache the data files outside the timing
    full = _time(assess, cases)
    bare = _time(_bare, cases)
    kinds = {k.value: sum(1 for f in findings().values() if f.kind is k) for k in Kind}
    print(f"assessment benchmark — {n} cases derived from John's first visit; vocabulary {kinds}")
    print(f"{'':26}{'median ms':>12}{'p95 ms':>10}{'cases/s':>10}")
    for name, times in (("hipspine assess (full)", full), ("baseline: bare estimate", bare)):
        p95 = statistics.quantiles(times, n=20)[18]
        print(
            f"{name:26}{statistics.median(times) * 1e3:12.2f}{p95 * 1e3:10.2f}{len(times) / sum(times):10.0f}"
        )
    print(f"ratio full / bare (median): {statistics.median(full) / statistics.median(bare):.1f}×")
