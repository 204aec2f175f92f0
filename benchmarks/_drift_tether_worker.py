"""tether's side of ``benchmarks/drift.py``: what ``tether drift REFERENCE CURRENT`` runs.

Usage (by ``drift.py``, not by hand)::

    .venv/bin/python benchmarks/_drift_tether_worker.py REFERENCE CURRENT OUT.json

Reads the two Parquet files (:func:`tether.monitoring.read_frame`), runs
:func:`tether.monitoring.compare_frames` on them (the profiles in DuckDB, the tests on the
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
    from tether.monitoring import compare_frames, read_frame

    imported = time.perf_counter()
    reference = read_frame(reference_path, role="reference")
    current = read_frame(current_path, role="current")
    read = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = compare_frames(reference, current)
    done = time.perf_counter()
    (chunk,) = report.chunks
    result = {
        "contender": "tether compare_frames (tether drift)",
        "import_s": imported - started,
        "read_s": read - imported,
        "compute_s": done - read,
        "total_s": done - started,
        "flagged": sorted(chunk.drift.drifted),
        "dataset_drift": chunk.drift.dataset_drift,
        "domain_auc": None if chunk.drift.multivariate is None else chunk.drift.multivariate.auc,
        "quality": [f"{f.check}:{f.feature}" for f in chunk.quality],
        "maxrss_before_call_mib": rss_before,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    with open(out, "w") as file:
        json.dump(result, file, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:4])
