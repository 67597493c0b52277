"""Run every benchmark and print the figures: ``python -m benchmarks [name ...]``."""

from __future__ import annotations

import sys

from benchmarks import bench_assessment, bench_fhir_import, bench_registry

BENCHMARKS = {
    "assessment": bench_assessment.main,
    "fhir_import": bench_fhir_import.main,
    "registry": bench_registry.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            print(
                f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr
            )
            return 2
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
