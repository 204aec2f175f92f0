"""What the fraud world allows: version 1 against retrains on matured labels, month by month.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/world_table.py [--transactions 400000] [--seed 7]

On the scenario ``tether init --transactions N`` generates (``scenario_for``), the feature
store of the bundled example (``features.py``, tether's DuckDB engine, one thread) computes
every payment's point-in-time features ONCE (cached under ``/tmp/tether-world-table``, keyed
by the scenario and the simulator's source, so editing a knob rebuilds it); then every model
is ``train.py``'s HistGradientBoosting (one thread, seed 42, ``tether.toml``'s params), and
each month from April is scored at the model's own threshold: precision, recall, ROC AUC and
average precision over all the month's payments.

- ``v1``: trained on January (as ``tether train``: fit on its first four fifths, threshold
  catching 85% of the held-out last fifth's fraud), at that fixed threshold in every month.
- ``matured`` at the start of month M: trained on the payments of ``[M - 120d, M - 60d)``
  (their 60-day outcome windows have all closed by M: a label not arrived by M counts as
  honest), fit on all but the last fortnight. ``b``: the threshold for 85% precision on that
  fortnight; ``c``: the threshold catching 85% of that fortnight's fraud.
- ``naive`` at the start of month M: the last 30 days with the labels known at M (recent
  labels are nearly all fraud: chargebacks arrive in 3-45 days, honest outcomes at 30-60),
  threshold catching 85% of its last fortnight's known fraud: its flagged count and precision.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import math
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from threadpoolctl import threadpool_limits

import tether.examples.fraud
from tether.examples.fraud import ScenarioConfig, write_scenario
from tether.features import DuckDBEngine, FeatureStore

PROJECT = Path(tether.examples.fraud.__file__).parent / "project"
CACHE = Path("/tmp/tether-world-table")
LABEL = "is_fraud"
OUTCOME_WINDOW = pd.Timedelta(days=60)
MATURED_DAYS = 60
FORTNIGHT = pd.Timedelta(days=14)
NAIVE_DAYS = 30
TARGET = 0.85
MONTHS = (4, 5, 6, 7, 8)


@dataclass(frozen=True)
class Scores:
    """One model in one month at its own threshold."""

    precision: float
    recall: float
    roc_auc: float
    average_precision: float
    flagged: int

    def cells(self) -> str:
        return (
            f"{self.precision:.2f} / {self.recall:.2f} / "
            f"{self.roc_auc:.2f} / {self.average_precision:.2f}"
        )


def scenario_for(transactions: int, seed: int) -> ScenarioConfig:
    """The scenario ``tether init --transactions`` generates (100 payments a customer)."""
    return ScenarioConfig(
        n_transactions=transactions, n_customers=max(100, transactions // 100), seed=seed
    )


def _project_modules() -> tuple[object, object]:
    """The bundled project's ``features`` and ``train`` modules, imported as tether does."""
    sys.path.insert(0, str(PROJECT))
    try:
        for name in ("features", "train"):
            sys.modules.pop(name, None)
        return importlib.import_module("features"), importlib.import_module("train")
    finally:
        sys.path.remove(str(PROJECT))


def _cache_key(scenario: ScenarioConfig) -> str:
    """The scenario and the simulator's source: a changed knob is a different world."""
    digest = hashlib.sha256(repr(scenario).encode())
    for path in sorted(Path(tether.examples.fraud.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    for path in sorted(PROJECT.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def feature_frame(scenario: ScenarioConfig, directory: Path = CACHE) -> pd.DataFrame:
    """Every payment with its features as of its own time, its label and ``label_time``."""
    key = _cache_key(scenario)
    cached = directory / f"{key}.parquet"
    if cached.exists():
        return pd.read_parquet(cached)
    features, train = _project_modules()
    root = directory / key
    files = write_scenario(root / "data", scenario)
    events, labels = pd.read_parquet(files.events), pd.read_parquet(files.labels)
    spine = train.training_spine(events, labels)  # type: ignore[attr-defined]
    views = [
        _rooted(view, root)
        for view in features.FEATURE_VIEWS  # type: ignore[attr-defined]
    ]
    store = FeatureStore(views, engine=DuckDBEngine(threads=1))
    frame = store.build_training_set(spine, timestamp="event_time")
    frame = frame.merge(labels[["event_id", "label_time"]], on="event_id", validate="1:1")
    frame.to_parquet(cached)
    return frame


def _rooted(view: object, root: Path) -> object:
    import dataclasses

    from tether.features import FeatureView

    if not isinstance(view, FeatureView):
        return view  # a request view reads no source
    source = dataclasses.replace(view.source, location=str(root / view.source.location))
    return dataclasses.replace(view, source=source)


def feature_columns() -> list[str]:
    _, train = _project_modules()
    return list(train.FEATURE_COLUMNS)  # type: ignore[attr-defined]


def fit(
    frame: pd.DataFrame, columns: list[str], labels: pd.Series
) -> HistGradientBoostingClassifier:
    """``train.py``'s model with ``tether.toml``'s params and seed, on one thread."""
    config = tomllib.loads((PROJECT / "tether.toml").read_text(encoding="utf-8"))["train"]
    params = config["params"]
    model = HistGradientBoostingClassifier(
        max_iter=int(params["max_iter"]),
        learning_rate=float(params["learning_rate"]),
        max_leaf_nodes=int(params["max_leaf_nodes"]),
        early_stopping=False,
        random_state=int(config["seed"]),
    )
    with threadpool_limits(limits=1):
        model.fit(frame[columns], labels.astype(int))
    return model


def score(
    model: HistGradientBoostingClassifier, frame: pd.DataFrame, columns: list[str]
) -> np.ndarray:
    with threadpool_limits(limits=1):
        return np.asarray(model.predict_proba(frame[columns])[:, 1])


def recall_threshold(scores: np.ndarray, is_fraud: np.ndarray, target: float = TARGET) -> float:
    """The highest threshold that flags at least ``target`` of the fraud in ``scores``."""
    fraud = np.sort(scores[is_fraud == 1])[::-1]
    return float(fraud[math.ceil(target * len(fraud)) - 1])


def precision_threshold(scores: np.ndarray, is_fraud: np.ndarray, target: float = TARGET) -> float:
    """The lowest threshold whose flagged payments are at least ``target`` fraud.

    Scores sorted high to low: the longest prefix with precision >= target; if none
    reaches it, the highest score (the threshold that flags least).
    """
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(is_fraud[order])
    precision = hits / np.arange(1, len(order) + 1)
    ok = np.nonzero(precision >= target)[0]
    return float(scores[order][ok[-1]] if len(ok) else scores[order][0])


def month_scores(scores: np.ndarray, is_fraud: np.ndarray, threshold: float) -> Scores:
    flagged = scores >= threshold
    caught = int((flagged & (is_fraud == 1)).sum())
    return Scores(
        precision=caught / max(int(flagged.sum()), 1),
        recall=caught / max(int(is_fraud.sum()), 1),
        roc_auc=float(roc_auc_score(is_fraud, scores)),
        average_precision=float(average_precision_score(is_fraud, scores)),
        flagged=int(flagged.sum()),
    )


def _between(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["event_time"] >= start) & (frame["event_time"] < end)]


def _known_at(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Labels as known at ``cutoff``: arrived, or honest once the outcome window closed."""
    arrived = frame["label_time"] <= cutoff
    closed = frame["event_time"] + OUTCOME_WINDOW <= cutoff
    known = frame[arrived | closed].copy()
    known[LABEL] = np.where(known["label_time"] <= cutoff, known[LABEL], 0)
    return known


def version_one(
    frame: pd.DataFrame, columns: list[str], year: int = 2026
) -> tuple[HistGradientBoostingClassifier, float]:
    """Version 1 as ``tether train`` makes it, and its threshold (85% of held-out fraud)."""
    jan = pd.Timestamp(year=year, month=1, day=1, tz="UTC")
    feb = jan + pd.DateOffset(months=1)
    eval_start = jan + (feb - jan) * 0.8
    fitted = _between(frame, jan, eval_start)
    v1 = fit(fitted, columns, fitted[LABEL])
    held = _between(frame, eval_start, feb)
    return v1, recall_threshold(score(v1, held, columns), held[LABEL].to_numpy())


def v1_precision(frame: pd.DataFrame, year: int = 2026) -> dict[int, float]:
    """Version 1's precision by month, February to August: the curve test's claim."""
    columns = feature_columns()
    v1, threshold = version_one(frame, columns, year)
    flagged = score(v1, frame, columns) >= threshold
    served = frame[
        flagged & (frame["event_time"] >= pd.Timestamp(year=year, month=1, day=1, tz="UTC"))
    ]
    return {
        int(m): float(p)
        for m, p in served.groupby(served["event_time"].dt.month)[LABEL].mean().items()
    }


def table(
    frame: pd.DataFrame, year: int = 2026, months: tuple[int, ...] = MONTHS
) -> dict[str, dict[int, Scores]]:
    """``{"v1" | "b" | "c" | "naive": {month: Scores}}`` on ``frame`` (see the docstring)."""
    columns = feature_columns()
    v1, v1_threshold = version_one(frame, columns, year)
    out: dict[str, dict[int, Scores]] = {"v1": {}, "b": {}, "c": {}, "naive": {}}
    for month in months:
        start = pd.Timestamp(year=year, month=month, day=1, tz="UTC")
        served = _between(frame, start, start + pd.DateOffset(months=1))
        truth = served[LABEL].to_numpy()
        out["v1"][month] = month_scores(score(v1, served, columns), truth, v1_threshold)

        window = _known_at(
            _between(
                frame,
                start - pd.Timedelta(days=2 * MATURED_DAYS),
                start - pd.Timedelta(days=MATURED_DAYS),
            ),
            start,
        )
        last = window["event_time"] >= start - pd.Timedelta(days=MATURED_DAYS) - FORTNIGHT
        model = fit(window[~last], columns, window.loc[~last, LABEL])
        fortnight = score(model, window[last], columns)
        fortnight_truth = window.loc[last, LABEL].to_numpy()
        served_scores = score(model, served, columns)
        out["b"][month] = month_scores(
            served_scores, truth, precision_threshold(fortnight, fortnight_truth)
        )
        out["c"][month] = month_scores(
            served_scores, truth, recall_threshold(fortnight, fortnight_truth)
        )

        recent = _between(frame, start - pd.Timedelta(days=NAIVE_DAYS), start)
        recent = recent[recent["label_time"] <= start]  # only the labels known at the start
        last = recent["event_time"] >= start - FORTNIGHT
        naive = fit(recent[~last], columns, recent.loc[~last, LABEL])
        threshold = recall_threshold(
            score(naive, recent[last], columns), recent.loc[last, LABEL].to_numpy()
        )
        out["naive"][month] = month_scores(score(naive, served, columns), truth, threshold)
    return out


def render(result: dict[str, dict[int, Scores]]) -> str:
    names = {4: "Apr", 5: "May", 6: "Jun", 7: "Jul", 8: "Aug"}
    lines = [
        "| month | v1 | matured, 85% precision | matured, 85% recall | naive flagged / precision |",
        "| --- | --- | --- | --- | --- |",
    ]
    for month in result["v1"]:
        naive = result["naive"][month]
        lines.append(
            f"| {names.get(month, month)} | {result['v1'][month].cells()} | "
            f"{result['b'][month].cells()} | {result['c'][month].cells()} | "
            f"{naive.flagged} / {naive.precision:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    frame = feature_frame(scenario_for(args.transactions, args.seed))
    curve = v1_precision(frame)
    print("v1 precision by month:", " ".join(f"{m}:{p:.3f}" for m, p in curve.items()))
    print(render(table(frame)))


if __name__ == "__main__":
    main()
