"""Registry report at scale: hipspine's engine against a straightforward pandas report.

Generates the synthetic registry straight to Arrow (the same generator as ``hipspine synth``),
then, in one run, computes the complete registry report with hipspine
(:func:`hipspine.analytics.report.registry_report`: NumPy passes over the sorted Arrow
columns plus DuckDB aggregations) and with the pandas reference
(:mod:`benchmarks.registry_baseline`, lifelines for Kaplan–Meier), checks that both
give the same numbers, and prints both times, the ratio and peak memory; then times one
patient's position on the reference bands. Targets (issue 7, 1,000,000 patients on 2 cores):
report ≤ 5 s, patient bands < 100 ms, ratio ≥ 10×.

``python -m benchmarks.bench_registry [patients]`` or ``HIPSPINE_BENCH_PATIENTS``. hipspine's
report also carries the interval-censored Turnbull estimate, which the reference lacks (see
:data:`benchmarks.registry_baseline.TURNBULL_FIELDS`): compared without it, timed with it.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import time

import numpy as np


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _load() -> str:
    """The 1-minute load average (other jobs on the machine skew every figure)."""
    try:
        return f"load {os.getloadavg()[0]:.2f}"
    except OSError:
        return "load unknown"


def main(patients: int | None = None, seed: int = 1) -> None:
    from benchmarks import registry_baseline as pandas_reference
    from hipspine.analytics import synth
    from hipspine.analytics.report import registry_report

    n = patients or int(os.environ.get("HIPSPINE_BENCH_PATIENTS", "1000000"))
    start = time.perf_counter()
    registry = synth.registry(n, seed)
    generated = time.perf_counter() - start
    rows = registry.measurements.num_rows
    print(
        f"registry: {n:,} patients, {rows:,} measurements ({rows / max(n, 1):.1f} a patient), "
        f"generated to Arrow in {generated:.1f} s"
    )
    print(f"  peak RSS after generation: {_peak_gib():.2f} GiB")

    runs = []
    for _ in range(3):  # the first run pays for page faults; machines are noisy
        start = time.perf_counter()
        ours = registry_report(registry)
        runs.append(time.perf_counter() - start)
    ours_time = statistics.median(runs)
    ours_peak = _peak_gib()
    print(
        f"hipspine report:  {ours_time:7.2f} s median of 3 (first {runs[0]:.2f} s, "
        f"best {min(runs):.2f} s; peak RSS so far {ours_peak:.2f} GiB; {_load()})"
    )

    start = time.perf_counter()
    theirs = pandas_reference.report(registry)
    pandas_time = time.perf_counter() - start
    print(
        f"pandas reference: {pandas_time:7.2f} s   (peak RSS so far {_peak_gib():.2f} GiB; "
        f"{_load()})"
    )

    diffs = pandas_reference.differences(pandas_reference.comparable(ours.data, theirs), theirs)
    print(
        f"same numbers: {'yes' if not diffs else 'NO'}"
        + ("" if not diffs else f" ({len(diffs)} differences)")
    )
    for line in diffs[:10]:
        print("  ", line)
    print(f"ratio pandas / hipspine: {pandas_time / ours_time:.1f}x (target >= 10x)")
    verdict = "ok" if ours_time <= 5 else "OVER TARGET"  # the median, not the best run
    print(f"report target <= 5 s: {verdict}")

    del theirs
    gc.collect()  # the pandas reference's garbage is not the patient page's to collect
    rng = np.random.default_rng(seed)
    times = []
    for pid in rng.integers(0, n, 200):
        start = time.perf_counter()
        ours.position(int(pid))
        times.append(time.perf_counter() - start)
    print(
        f"one patient's reference bands: median {statistics.median(times) * 1e3:.2f} ms, "
        f"max {max(times) * 1e3:.2f} ms (target < 100 ms; {_load()})"
    )
    if diffs:
        raise SystemExit("hipspine and pandas reports differ")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else None)
