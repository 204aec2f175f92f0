"""Performance estimation (issue 10): tether's CBPE against NannyML 0.13.1 CBPE, same chunks.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/estimation.py [--payments 400000] [--repeats 3]
                                                             [--nannyml /tmp/nml/bin/python]

Two cases, each a reference (labelled, held out from training) and monthly analysis chunks:

* **scenario**: the fraud world (``tether.examples.fraud.simulate``, drift 1.0: inputs *and*
  the fraud patterns change) and a simple model (scikit-learn ``HistGradientBoostingClassifier``
  on seven per-payment features computed in pandas), trained on 1-21 January; the reference is
  22-31 January; the analysis chunks are February to August. The decision threshold is the
  highest score that still catches 85% of the reference's fraud (the example's rule).
* **covariate**: a covariate-shift-only world: four Gaussian inputs whose means move month by
  month, labels drawn from a fixed true probability of the inputs (so P(y | x) never changes),
  a logistic regression trained on month 0's first half; the reference is its second half.

Both contenders read the same Parquet files (score, decision, label, timestamp) in their own
process: tether from this virtual environment, NannyML from its own (created by
``python3.11 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml==0.13.1 statsmodels``, and
always run with ``NML_DISABLE_USAGE_LOGGING=1``). Each times its fit (calibration on the
reference) plus its estimate of precision, recall, F1 and ROC AUC for every chunk, without
imports or file reads; the process's whole wall time is reported too. The realized metrics of
each chunk come from scikit-learn on the chunk's labels (which NannyML is not given). Prints,
per case, the median seconds of ``--repeats`` interleaved runs, the mean absolute error of each
contender against realized per metric, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METRICS = ("precision", "recall", "f1", "roc_auc")
NANNYML_METRICS = {"precision": "precision", "recall": "recall", "f1": "f1", "roc_auc": "roc_auc"}
TARGET_RECALL = 0.85
ENV = {"NML_DISABLE_USAGE_LOGGING": "1", "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1"}
ENV |= {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}


# --- the data -------------------------------------------------------------------------------


def recall_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The highest threshold that flags at least TARGET_RECALL of the positives."""
    positive = np.sort(scores[labels == 1])[::-1]
    return float(positive[int(np.ceil(TARGET_RECALL * len(positive))) - 1])


def payment_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Seven per-payment inputs, each from the customer's earlier payments only."""
    by_customer = frame.groupby("customer_id", sort=False)
    previous_mean = by_customer["amount"].transform(lambda a: a.expanding().mean().shift())
    previous_time = by_customer["event_time"].shift()
    first_device = ~frame.duplicated(["customer_id", "device_id"])
    return pd.DataFrame(
        {
            "log_amount": np.log1p(frame["amount"]),
            "amount_ratio": (frame["amount"] / previous_mean).fillna(1.0),
            "abroad": (frame["country"] != "US").astype(float),
            "category": frame["category"].astype("category").cat.codes.astype(float),
            "hours_since_last": ((frame["event_time"] - previous_time).dt.total_seconds() / 3600)
            .fillna(1e4)
            .clip(upper=1e4),
            "new_device": first_device.astype(float),
            "hour": frame["event_time"].dt.hour.astype(float),
        }
    )


def scenario_case(payments: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, analysis) of the fraud scenario scored by a January model."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from tether.examples.fraud import ScenarioConfig, simulate

    events, labels = simulate(ScenarioConfig(n_transactions=payments, n_customers=payments // 100))
    frame = events.merge(labels, on="event_id")
    inputs = payment_features(frame)
    day = frame["event_time"].dt.tz_convert(None)
    train = (day < "2026-01-22").to_numpy()
    reference = ((day >= "2026-01-22") & (day < "2026-02-01")).to_numpy()
    model = HistGradientBoostingClassifier(max_iter=150, random_state=0)
    model.fit(inputs[train], frame.loc[train, "is_fraud"])
    scored = pd.DataFrame(
        {"timestamp": day, "score": model.predict_proba(inputs)[:, 1], "label": frame["is_fraud"]}
    )
    return scored.loc[reference], scored.loc[day >= "2026-02-01"]


def covariate_case(rows_per_month: int, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, analysis) of a world where only the inputs' distribution moves."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    months = 8
    shift = np.array([0.12, -0.08, 0.10, 0.05])  # per month, per input
    x = rng.normal(size=(months * rows_per_month, 4)) + np.repeat(
        np.arange(months)[:, None] * shift, rows_per_month, axis=0
    )
    logit = -4.0 + 1.2 * x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2] + 0.3 * x[:, 0] * x[:, 3]
    label = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(int)
    month = np.repeat(np.arange(months), rows_per_month)
    start = pd.Timestamp("2026-01-01")
    offsets = rng.uniform(0, 27, len(x))  # days into each month: every chunk stays in its month
    timestamp = pd.to_datetime(
        [start + pd.DateOffset(months=int(m)) for m in month]
    ) + pd.to_timedelta(offsets, unit="D")
    half = (month == 0) & (np.arange(len(x)) < rows_per_month // 2)
    model = LogisticRegression(max_iter=1_000).fit(x[half], label[half])
    scored = pd.DataFrame(
        {"timestamp": timestamp, "score": model.predict_proba(x)[:, 1], "label": label}
    )
    return scored.loc[(month == 0) & ~half], scored.loc[month > 0]


def write_case(directory: Path, reference: pd.DataFrame, analysis: pd.DataFrame) -> float:
    """Write the case's two Parquet files with the decision at the reference's threshold."""
    threshold = recall_threshold(reference["score"].to_numpy(), reference["label"].to_numpy())
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in (("reference", reference), ("analysis", analysis)):
        out = frame.assign(decision=(frame["score"] >= threshold).astype(int))
        out = out.assign(month=out["timestamp"].dt.strftime("%Y-%m")).reset_index(drop=True)
        out.to_parquet(directory / f"{name}.parquet", index=False)
    (directory / "threshold.json").write_text(json.dumps({"threshold": threshold}))
    return threshold


def realized_by_chunk(directory: Path) -> dict[str, dict[str, float]]:
    """scikit-learn's metrics of each analysis chunk on its labels."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    analysis = pd.read_parquet(directory / "analysis.parquet")
    out = {}
    for month, chunk in analysis.groupby("month"):
        y, d, s = chunk["label"], chunk["decision"], chunk["score"]
        out[str(month)] = {
            "precision": float(precision_score(y, d)),
            "recall": float(recall_score(y, d)),
            "f1": float(f1_score(y, d)),
            "roc_auc": float(roc_auc_score(y, s)),
        }
    return out


# --- the contenders, each run as ``estimation.py --worker NAME DIR`` in its own process ------


def tether_worker(directory: Path) -> dict[str, Any]:
    from tether.monitoring import Calibration, estimate

    reference = pd.read_parquet(directory / "reference.parquet")
    analysis = pd.read_parquet(directory / "analysis.parquet")
    threshold = json.loads((directory / "threshold.json").read_text())["threshold"]
    started = time.perf_counter()
    calibration = Calibration.fit(reference["score"].to_numpy(), reference["label"].to_numpy())
    chunks: dict[str, dict[str, float]] = {}
    for month, chunk in analysis.groupby("month"):
        result = estimate(chunk["score"].to_numpy(), calibration, threshold)
        chunks[str(month)] = {m: _value(result.metric(m)) for m in METRICS}
    return {"seconds": time.perf_counter() - started, "chunks": chunks}


def _value(metric: Any) -> float:
    return float("nan") if metric is None else float(metric.value)


def nannyml_worker(directory: Path) -> dict[str, Any]:
    import nannyml as nml

    reference = pd.read_parquet(directory / "reference.parquet")
    analysis = pd.read_parquet(directory / "analysis.parquet").drop(columns=["label"])
    started = time.perf_counter()
    estimator = nml.CBPE(
        metrics=list(NANNYML_METRICS.values()),
        y_pred_proba="score",
        y_pred="decision",
        y_true="label",
        problem_type="classification_binary",
        timestamp_column_name="timestamp",
        chunk_period="M",
    )
    estimator.fit(reference)
    table = estimator.estimate(analysis).filter(period="analysis").to_df()
    seconds = time.perf_counter() - started
    chunks: dict[str, dict[str, float]] = {}
    for _, row in table.iterrows():
        month = pd.Timestamp(row[("chunk", "start_date")]).strftime("%Y-%m")
        chunks[month] = {m: float(row[(n, "value")]) for m, n in NANNYML_METRICS.items()}
    return {"seconds": seconds, "chunks": chunks}


def run_worker(python: str, name: str, directory: Path) -> dict[str, Any]:
    """Run one contender in a fresh process; its result plus the process's wall time."""
    env = os.environ | ENV
    if name == "tether":
        source = Path(__file__).resolve().parents[1] / "src"
        env["PYTHONPATH"] = f"{source}{os.pathsep}{env.get('PYTHONPATH', '')}"
    started = time.perf_counter()
    done = subprocess.run(
        [python, __file__, "--worker", name, str(directory)],
        capture_output=True, text=True, env=env, check=False, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{name} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


# --- the report -----------------------------------------------------------------------------


def concept_drift_gaps(directory: Path) -> list[str]:
    """The chunks where tether's realized precision falls below its estimate's interval."""
    from tether.monitoring import Calibration, concept_drift_gap, estimate, realized

    reference = pd.read_parquet(directory / "reference.parquet")
    analysis = pd.read_parquet(directory / "analysis.parquet")
    threshold = json.loads((directory / "threshold.json").read_text())["threshold"]
    calibration = Calibration.fit(reference["score"].to_numpy(), reference["label"].to_numpy())
    fired = []
    for month, chunk in analysis.groupby("month"):
        est = estimate(chunk["score"].to_numpy(), calibration, threshold).precision
        real = realized(chunk, threshold=threshold, decision="decision").precision
        if est is not None and real is not None and concept_drift_gap(est, real).fired:
            fired.append(str(month))
    return fired


def mean_absolute_errors(
    chunks: dict[str, dict[str, float]], realized: dict[str, dict[str, float]]
) -> dict[str, float]:
    missing = sorted(set(realized) - set(chunks))
    if missing:
        raise RuntimeError(f"estimate lacks chunk(s) {missing}")
    errors = {
        m: statistics.fmean(abs(chunks[c][m] - realized[c][m]) for c in realized) for m in METRICS
    }
    errors["all"] = statistics.fmean(errors[m] for m in METRICS)
    return errors


def run_case(name: str, directory: Path, nannyml: str, repeats: int) -> None:
    realized = realized_by_chunk(directory)
    runs: dict[str, list[dict[str, Any]]] = {"tether": [], "nannyml": []}
    for _ in range(repeats):  # interleaved, so that the machine's load hits both alike
        runs["tether"].append(run_worker(sys.executable, "tether", directory))
        runs["nannyml"].append(run_worker(nannyml, "nannyml", directory))
    rows = len(pd.read_parquet(directory / "analysis.parquet", columns=["score"]))
    print(f"\n## {name}: {len(realized)} chunks, {rows:,} analysis rows")
    print(
        "| contender | fit+estimate s (median) | process s | MAE precision | recall | f1 |", end=""
    )
    print(" roc_auc | all |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    summary = {}
    for contender, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        process = statistics.median(r["process_seconds"] for r in results)
        errors = mean_absolute_errors(results[0]["chunks"], realized)
        summary[contender] = (seconds, errors)
        cells = " | ".join(f"{errors[m]:.4f}" for m in (*METRICS, "all"))
        print(f"| {contender} | {seconds:.3f} | {process:.1f} | {cells} |")
    (t_s, t_e), (n_s, n_e) = summary["tether"], summary["nannyml"]
    print(
        f"speed: NannyML / tether = {n_s / t_s:.1f}x; "
        f"MAE tether / NannyML = {t_e['all'] / n_e['all']:.2f}"
    )
    difference = max(
        abs(runs["tether"][0]["chunks"][c][m] - runs["nannyml"][0]["chunks"][c][m])
        for c in realized
        for m in METRICS
    )
    print(f"largest |tether - NannyML| over chunks and metrics: {difference:.2e}")
    gaps = concept_drift_gaps(directory)
    print(f"concept-drift gap (tether, precision) fired in: {gaps or 'no chunk'}")
    for chunk in realized:
        est_t, est_n = runs["tether"][0]["chunks"][chunk], runs["nannyml"][0]["chunks"][chunk]
        print(
            f"  {chunk}: realized precision {realized[chunk]['precision']:.3f}, "
            f"tether {est_t['precision']:.3f}, NannyML {est_n['precision']:.3f}; roc_auc "
            f"{realized[chunk]['roc_auc']:.3f} / {est_t['roc_auc']:.3f} / {est_n['roc_auc']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=400_000)
    parser.add_argument("--covariate-rows", type=int, default=50_000, help="rows per month")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nannyml", default="/tmp/nml/bin/python")
    parser.add_argument("--worker", nargs=2, metavar=("NAME", "DIR"))
    args = parser.parse_args()
    if args.worker:
        worker = {"tether": tether_worker, "nannyml": nannyml_worker}[args.worker[0]]
        print(json.dumps(worker(Path(args.worker[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="tether-estimation-") as tmp:
        cases = {
            f"scenario ({args.payments:,} payments)": lambda: scenario_case(args.payments),
            f"covariate shift only ({args.covariate_rows:,} rows a month)": lambda: covariate_case(
                args.covariate_rows
            ),
        }
        for index, (name, build) in enumerate(cases.items()):
            directory = Path(tmp) / str(index)
            threshold = write_case(directory, *build())
            print(f"\n{name}: threshold {threshold:.4f}")
            run_case(name, directory, args.nannyml, args.repeats)


if __name__ == "__main__":
    main()
