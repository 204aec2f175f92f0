"""Drift report: tether against Evidently 0.7.23 ``DataDriftPreset`` on the same Parquet files.

Usage::

    .venv/bin/python benchmarks/drift.py [--rows 1000000] [--evidently-python PYTHON]

Writes (once, seeded) a reference and a current Parquet file of ``--rows`` rows each, with
20 numeric and 5 categorical features, drift injected into exactly 4 of them (see
:data:`INJECTED`); then runs each contender in its own process on those files: tether's
drift report (``tether.monitoring.compare_frames``, what ``tether drift`` runs) and
Evidently's preset (``_drift_evidently_worker.py``, in a venv with ``pandas<3``: created
under ``benchmarks/.work`` if ``--evidently-python`` is not given). Peak memory is each
process's own ``ru_maxrss`` (from ``os.wait4``), so neither pays for the other's frames.
Evidently runs once (minutes), tether ``--repeats`` times (the run of median seconds is
reported, every run's seconds and peak listed). Prints seconds (the whole process, and the
phases each reports), peak MiB, the features each flagged, and the ratios; and checks that
each flagged exactly the injected four.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCHMARKS = Path(__file__).resolve().parent
WORK = BENCHMARKS / ".work" / "drift"
SEED = 20_26
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
INJECTED = ("num_00", "num_07", "num_13", "cat_2")
"""The drifted features: a mean shift of half a standard deviation (num_00), a spread 1.5
times wider (num_07), a log-normal whose log mean moved by 0.5 (num_13), and a category's
share moved from 30% to 10% (cat_2). Every other column is drawn from the same distribution
in both files, so with a million rows any flag on them is a false alarm."""
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas==2.3.3")


def frame(rows: int, rng: np.random.Generator, drifted: bool) -> pd.DataFrame:
    """One file's rows; ``drifted`` applies :data:`INJECTED`."""
    columns: dict[str, Any] = {}
    for index, name in enumerate(NUMERIC):
        shape = index % 4  # normal, log-normal, Poisson counts, uniform: four shapes
        if shape == 0:
            shift = 0.5 if drifted and name == "num_00" else 0.0
            columns[name] = rng.normal(10.0 + shift * 2.0, 2.0, rows)
        elif shape == 1:
            log_shift = 0.5 if drifted and name == "num_13" else 0.0
            columns[name] = rng.lognormal(3.0 + log_shift, 0.7, rows)
        elif shape == 2:
            columns[name] = rng.poisson(5.0, rows).astype(np.float64)
        else:
            wide = 1.5 if drifted and name == "num_07" else 1.0  # num_07 is uniform
            columns[name] = rng.uniform(-wide, wide, rows)
    for name in CATEGORICAL:
        words = np.array([f"{name}_v{v}" for v in range(8)])
        shares = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
        if drifted and name == "cat_2":
            shares = np.array([0.1, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.25])
        columns[name] = pd.Series(words[rng.choice(8, rows, p=shares)], dtype="str")
    return pd.DataFrame(columns)


def write_files(rows: int) -> tuple[Path, Path]:
    """The two Parquet files, written once per row count (seeded: same bytes every time)."""
    WORK.mkdir(parents=True, exist_ok=True)
    reference, current = WORK / f"reference-{rows}.parquet", WORK / f"current-{rows}.parquet"
    if not (reference.exists() and current.exists()):
        rng = np.random.default_rng(SEED)
        frame(rows, rng, drifted=False).to_parquet(reference, index=False)
        frame(rows, rng, drifted=True).to_parquet(current, index=False)
    return reference, current


def evidently_python(given: str | None) -> Path:
    """The Evidently venv's python: ``given``, or one created under ``benchmarks/.work``."""
    if given:
        return Path(given)
    venv = BENCHMARKS / ".work" / "evidently-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS]
        subprocess.run(pip, check=True, env={**os.environ, "DO_NOT_TRACK": "1"})
    return python


def run(argv: list[str], out: Path) -> dict[str, Any]:
    """Run one contender; its JSON result with the process's wall seconds and peak MiB."""
    env = {**os.environ, "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    started = time.perf_counter()
    process = subprocess.Popen([*argv, str(out)], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{argv} failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["process_s"] = wall
    result["peak_mib"] = usage.ru_maxrss / 1024  # the child's own peak (Linux: KiB)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--evidently-python", default=None)
    parser.add_argument("--repeats", type=int, default=3, help="tether runs (the median's kept)")
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    reference, current = write_files(args.rows)
    print(f"files: {reference} and {current} ({args.rows:,} rows x 25 features each)")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    worker = BENCHMARKS / "_drift_tether_worker.py"
    argv = [sys.executable, str(worker), str(reference), str(current)]
    runs = sorted((run(argv, WORK / "tether.json") for _ in range(args.repeats)),
                  key=lambda result: result["process_s"])  # fmt: skip
    results = {"tether": runs[len(runs) // 2]}
    results["tether"]["process_s_runs"] = [round(r["process_s"], 2) for r in runs]
    results["tether"]["peak_mib_runs"] = [round(r["peak_mib"]) for r in runs]
    if not args.skip_evidently:
        python = evidently_python(args.evidently_python)
        worker = BENCHMARKS / "_drift_evidently_worker.py"
        results["evidently"] = run([str(python), str(worker), str(reference), str(current)],
                                   WORK / "evidently.json")  # fmt: skip
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    report(results)


def report(results: dict[str, dict[str, Any]]) -> None:
    """Print the table, the ratios, and whether each flagged exactly the injected features."""
    print("| contender | process s | read s | drift s | peak MiB | flagged |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, result in results.items():
        flagged = ", ".join(result["flagged"])
        print(f"| {name} | {result['process_s']:.2f} | {result['read_s']:.2f} | "
              f"{result['compute_s']:.2f} | {result['peak_mib']:,.0f} | {flagged} |")  # fmt: skip
    for name, result in results.items():
        exact = sorted(result["flagged"]) == sorted(INJECTED)
        print(f"{name}: flagged exactly the injected {list(INJECTED)}: {exact}")
    if "evidently" in results:
        ours, theirs = results["tether"], results["evidently"]
        print(
            f"speed-up, whole process: {theirs['process_s'] / ours['process_s']:.1f}x; "
            f"drift computation alone: {theirs['compute_s'] / ours['compute_s']:.1f}x"
        )
        print(f"peak memory: tether {ours['peak_mib'] / theirs['peak_mib']:.2f} of Evidently's")
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
