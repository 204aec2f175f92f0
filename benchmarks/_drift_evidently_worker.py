"""Evidently's side of ``benchmarks/drift.py``, run by the Evidently venv's python (not tether's).

Usage (by ``drift.py``, not by hand)::

    /tmp/evid/bin/python benchmarks/_drift_evidently_worker.py REFERENCE CURRENT OUT.json

Reads the two Parquet files with pandas, runs Evidently 0.7.23's ``DataDriftPreset`` (its
defaults: above 1,000 rows, the normed Wasserstein distance for numeric columns and the
Jensen-Shannon distance for categorical ones, each against 0.1) and writes the seconds of
each phase, the flagged columns and its own peak memory as JSON. Imports nothing of
tether: Evidently needs pandas below 3, tether is on pandas 3.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

# Evidently reports usage unless told not to (this process imports nothing of tether's).
os.environ.update({"DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"})


def flagged(metrics: list[dict[str, object]]) -> list[str]:
    """The columns whose ValueDrift crossed its threshold (a distance above, a p-value below)."""
    names = []
    for metric in metrics:
        config = metric["config"]
        assert isinstance(config, dict)
        if config.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])  # type: ignore[arg-type]
        distance = (
            "distance" in str(config["method"]).lower() or "psi" in str(config["method"]).lower()
        )
        if (value >= threshold) if distance else (value < threshold):
            names.append(str(config["column"]))
    return sorted(names)


def main(reference_path: str, current_path: str, out: str) -> None:
    started = time.perf_counter()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    read = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    numeric = [c for c in reference.columns if pd.api.types.is_numeric_dtype(reference[c])]
    categorical = [c for c in reference.columns if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    metrics = snapshot.dict()["metrics"]
    done = time.perf_counter()
    count = next(m["value"]["count"] for m in metrics if "DriftedColumnsCount" in m["metric_name"])
    result = {
        "contender": "evidently 0.7.23 DataDriftPreset",
        "import_s": imported - started,
        "read_s": read - imported,
        "compute_s": done - read,
        "total_s": done - started,
        "flagged": flagged(metrics),
        "flagged_count_reported": count,
        "maxrss_before_call_mib": rss_before,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    with open(out, "w") as file:
        json.dump(result, file, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:4])
