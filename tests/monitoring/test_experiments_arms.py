"""Arm metrics from the log's confusion frame, against the same numbers computed on the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tether.errors import MonitoringError
from tether.monitoring import (
    ExperimentLook,
    ExperimentPolicy,
    MeanMoments,
    ProportionCounts,
    arm_metrics,
    arms_by,
    decide,
)


@pytest.fixture
def rows() -> pd.DataFrame:
    """Labelled predictions of two cohorts, with a business value missing on some rows."""
    rng = np.random.default_rng(3)
    n = 4000
    label = rng.random(n) < 0.1
    cohort = np.where(rng.random(n) < 0.5, "champion", "challenger")
    flagged = np.where(label, rng.random(n) < 0.8, rng.random(n) < 0.05)
    value = np.where(flagged & label, rng.gamma(2, 50, n), np.where(flagged, -5.0, 0.0))
    value[rng.random(n) < 0.02] = np.nan
    amount = rng.gamma(1.5, 60.0, n)
    return pd.DataFrame(
        {"cohort": cohort, "label": label, "flagged": flagged, "net": value, "amount": amount}
    )


def confusion(rows: pd.DataFrame) -> pd.DataFrame:
    """The log's confusion aggregate, computed here by pandas (the log computes it in SQL)."""
    cell = np.select(
        [rows.flagged & rows.label, rows.flagged & ~rows.label, ~rows.flagged & rows.label],
        ["tp", "fp", "fn"],
        default="tn",
    )
    squared = rows.assign(cell=cell, net_sq=rows.net**2, amount_sq=rows.amount**2)
    grouped = squared.groupby(["cohort", "cell"])
    columns = {"rows": grouped.size()}
    for b in ("net", "amount"):
        columns[f"{b}:sum"] = grouped[b].sum(min_count=1)
        columns[f"{b}:sumsq"] = grouped[f"{b}_sq"].sum(min_count=1)
        columns[f"{b}:count"] = grouped[b].count()
    return pd.DataFrame(columns).reset_index()


def test_arm_metrics_are_the_rows_own(rows: pd.DataFrame) -> None:
    arms = arms_by(confusion(rows), "cohort", business=["net"])
    assert set(arms) == {"champion", "challenger"}
    for name, metrics in arms.items():
        mine = rows[rows.cohort == name]
        tp = int((mine.flagged & mine.label).sum())
        assert metrics["precision"] == ProportionCounts(tp, int(mine.flagged.sum()))
        assert metrics["recall"] == ProportionCounts(tp, int(mine.label.sum()))
        assert metrics["decision_rate"] == ProportionCounts(int(mine.flagged.sum()), len(mine))
        negatives = ~mine.label
        fp = int((mine.flagged & negatives).sum())
        assert metrics["false_positive_rate"] == ProportionCounts(fp, int(negatives.sum()))
        assert metrics["accuracy"].estimate == pytest.approx((mine.flagged == mine.label).mean())
        net = metrics["net"]
        assert isinstance(net, MeanMoments)
        values = mine.net.dropna().to_numpy()
        assert net.n == len(values)
        assert net.estimate == pytest.approx(values.mean(), rel=1e-12)
        assert net.variance == pytest.approx(values.var(ddof=1), rel=1e-9)


@pytest.mark.parametrize(
    "combination",
    [
        {"tp.amount": 1.0, "fp.count": -5.0},  # the fraud example's net value
        {"tp.amount": 0.9, "tp.count": -1.0, "fn.amount": -1.0, "fp.count": -5.0},
    ],
)
def test_a_linear_value_has_the_moments_of_its_per_row_values(
    rows: pd.DataFrame, combination: dict[str, float]
) -> None:
    arms = arms_by(confusion(rows), "cohort", values={"value": combination})
    tp, fp = rows.flagged & rows.label, rows.flagged & ~rows.label
    fn = ~rows.flagged & rows.label
    per_row = np.zeros(len(rows))
    for term, coefficient in combination.items():
        cell, field = term.split(".")
        inside = {"tp": tp, "fp": fp, "fn": fn}[cell].to_numpy()
        per_row += coefficient * inside * (1.0 if field == "count" else rows[field].to_numpy())
    for name, metrics in arms.items():
        mine = per_row[(rows.cohort == name).to_numpy()]
        value = metrics["value"]
        assert value.n == len(mine)
        assert value.estimate == pytest.approx(mine.mean(), rel=1e-12)
        assert value.variance == pytest.approx(mine.var(ddof=1), rel=1e-9)


@pytest.mark.parametrize(
    ("combination", "message"),
    [
        ({"tp.amount": 1.0, "tp.net": 1.0}, "two fields of 'tp'"),
        ({"xx.amount": 1.0}, "term 'xx.amount' is not <cell>.<field>"),
        ({"tp": 1.0}, "term 'tp' is not"),
        ({"tp.fee": 1.0}, r"lacks the column\(s\) \['fee:sum'"),
    ],
)
def test_a_value_the_cells_cannot_answer_is_refused(
    rows: pd.DataFrame, combination: dict[str, float], message: str
) -> None:
    with pytest.raises(MonitoringError, match=message):
        arm_metrics(confusion(rows), values={"value": combination})


def test_an_arm_without_a_cell_counts_it_zero_and_a_decision_reads_the_metrics() -> None:
    frame = pd.DataFrame(
        {
            "cohort": ["a", "a", "b", "b", "b"],
            "cell": ["tp", "tn", "tp", "fp", "tn"],
            "rows": [400, 1600, 450, 50, 1500],
        }
    )
    arms = arms_by(frame, "cohort")
    assert arms["a"]["precision"] == ProportionCounts(400, 400)
    assert arms["a"]["recall"] == ProportionCounts(400, 400)
    assert arms["b"]["decision_rate"] == ProportionCounts(500, 2000)
    look = ExperimentLook(7.0, arms["a"], arms["b"])
    decision = decide([look], ExperimentPolicy(metric="precision", min_samples=100))
    assert (decision.action, decision.evidence["rule"]) == ("keep_champion", "worse")
    # Two precisions of exactly 1 have no variance at all: no evidence, wait.
    same = ExperimentLook(7.0, arms["a"], arms["a"])
    assert decide([same], ExperimentPolicy(metric="precision", min_samples=100)).action == (
        "continue"
    )
    assert decision.evidence["metrics"]["decision_rate"]["difference"] == pytest.approx(0.05)  # type: ignore[index]


@pytest.mark.parametrize(
    ("frame", "group", "message"),
    [
        (pd.DataFrame({"cell": ["tp"], "rows": [1]}), "version", "no group column 'version'"),
        (pd.DataFrame({"v": [1], "cell": ["tp"]}), "v", r"lacks the column\(s\) \['rows'\]"),
        (pd.DataFrame({"v": [1], "cell": ["xx"], "rows": [1]}), "v", r"cells \['xx'\]"),
    ],
)
def test_a_frame_that_is_not_the_logs_is_refused(
    frame: pd.DataFrame, group: str, message: str
) -> None:
    with pytest.raises(MonitoringError, match=message):
        arms_by(frame, group)


def test_a_missing_business_column_is_named() -> None:
    frame = pd.DataFrame({"cell": ["tp"], "rows": [3], "net:sum": [1.0]})
    with pytest.raises(MonitoringError, match=r"\['net:sumsq', 'net:count'\]"):
        arm_metrics(frame, business=["net"])
