"""tether's side of ``benchmarks/drift.py``: what ``tether drift REFERENCE CURRENT`` runs.

Usage (by ``drift.py``, not by hand)::

    .venv/bin/python benchmarks/_drift_tether_worker.py REFERENCE CURRENT OUT.json

Runs :func:`tether.monitoring.compare_files` on the two Parquet files (the reference read and
profiled before the current file is read) (the profiles in DuckDB, the tests on the
profiles' samples, the domain classifier, the data-quality checks: the whole report of
``tether drift``), and writes the seconds of each phase, the flagged features and its own
peak memory as JSON.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main(reference_path: str, current_path: str, out: str) -> None:
    started = time.perf_counter()
    from tether.monitoring import compare_files

    imported = time.perf_counter()
    phases: dict[str, float] = {}

    def progress(step: str, done: int | None = None, total: int | None = None) -> None:
        phases[step] = time.perf_counter()

    report = compare_files(reference_path, current_path, progress=progress)
    done = time.perf_counter()
    # Reading is timed apart (what Evidently's worker reports as read_s): the two reads.
    read = phases["profiling the reference"] - phases["reading the reference"]
    read += (
        next(t for s, t in phases.items() if s.startswith("chunk"))
        - phases["reading the current file"]
    )
    (chunk,) = report.chunks
    result = {
        "contender": "tether compare_files (tether drift)",
        "import_s": imported - started,
        "read_s": read,
        "compute_s": done - imported - read,
        "total_s": done - started,
        "flagged": sorted(chunk.drift.drifted),
        "dataset_drift": chunk.drift.dataset_drift,
        "domain_auc": None if chunk.drift.multivariate is None else chunk.drift.multivariate.auc,
        "quality": [f"{f.check}:{f.feature}" for f in chunk.quality],
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    with open(out, "w") as file:
        json.dump(result, file, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:4])
