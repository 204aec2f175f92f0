"""Business metrics: the expression language, its refusals, and its intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tether.errors import ConfigError, MonitoringError
from tether.monitoring import BusinessMetric, business_metrics, confusion_cells, realized

FRAUD_METRICS = {
    "missed_fraud_loss": "fn.amount",
    "false_alarm_cost": "5 * fp.count",
    "net_value": "tp.amount - 5 * fp.count",
}
Z95 = 1.959963984540054


def window(rows: int = 4_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(rows)
    label = (rng.random(rows) < score**3).astype(int)
    return pd.DataFrame({"score": score, "label": label, "amount": rng.lognormal(4, 1, rows)})


def per_row_values(frame: pd.DataFrame, threshold: float) -> dict[str, np.ndarray]:
    """Each fraud metric as a per-row value whose sum over the window is the metric."""
    flagged, positive = frame["score"] >= threshold, frame["label"] == 1
    amount = frame["amount"].to_numpy()
    return {
        "missed_fraud_loss": np.where(positive & ~flagged, amount, 0.0),
        "false_alarm_cost": np.where(~positive & flagged, 5.0, 0.0),
        "net_value": np.where(positive & flagged, amount, 0.0)
        - np.where(~positive & flagged, 5.0, 0.0),
    }


@pytest.mark.parametrize("name", sorted(FRAUD_METRICS))
def test_linear_metric_value_and_interval_are_the_sum_and_n_times_per_row_variance(
    name: str,
) -> None:
    frame = window()
    cells = realized(frame, threshold=0.7, fields=["amount"]).cells
    metric = BusinessMetric(name, FRAUD_METRICS[name])
    value = metric.evaluate(cells)
    per_row = per_row_values(frame, 0.7)[name]
    assert metric.linear and value is not None
    assert value.value == pytest.approx(per_row.sum())
    se = math.sqrt(len(per_row) * per_row.var(ddof=0))
    assert value.high - value.value == pytest.approx(Z95 * se, rel=1e-9)
    assert value.n == len(frame) and value.method == "per-row variance"


def test_ratio_metric_uses_the_delta_method_and_agrees_with_a_bootstrap() -> None:
    frame = window(rows=3_000, seed=4)
    metric = BusinessMetric("mean_missed", "fn.amount / fn.count")
    cells = realized(frame, threshold=0.7, fields=["amount"]).cells
    value = metric.evaluate(cells)
    assert value is not None and not metric.linear and value.method == "delta method"
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(400):
        sample = frame.iloc[rng.integers(0, len(frame), len(frame))]
        flagged = sample["score"].to_numpy() >= 0.7
        boot_cells = confusion_cells(
            sample["label"].to_numpy(), flagged, {"amount": sample["amount"].to_numpy()}
        )
        boots.append(boot_cells.fn.sums["amount"] / boot_cells.fn.count)
    delta_se = (value.high - value.value) / Z95
    assert delta_se == pytest.approx(float(np.std(boots)), rel=0.15)


def test_business_metrics_keep_the_config_order() -> None:
    assert [m.name for m in business_metrics(FRAUD_METRICS)] == list(FRAUD_METRICS)
    assert BusinessMetric("x", "tp.amount - 5 * fp.count").names == (
        ("fp", "count"),
        ("tp", "amount"),
    )


@pytest.mark.parametrize(
    ("expression", "token"),
    [
        ("__import__('os').system('true')", "__import__('os').system('true')"),
        ("tp.amount ** 2", "tp.amount ** 2"),
        ("amount", "amount"),
        ("tp.amount.real", "tp.amount.real"),
        ("tp.amount if 1 else 0", "tp.amount if 1 else 0"),
        ("True * fp.count", "True"),
        ("'5' * fp.count", "'5'"),
    ],
)
def test_anything_outside_the_language_is_refused_naming_the_token(
    expression: str, token: str
) -> None:
    with pytest.raises(ConfigError, match="is not allowed") as caught:
        BusinessMetric("bad", expression)
    assert repr(token) in str(caught.value)


def test_an_unknown_cell_and_a_syntax_error_are_refused() -> None:
    with pytest.raises(ConfigError, match="'xp' at column 1 is not a confusion cell"):
        BusinessMetric("bad", "xp.amount")
    with pytest.raises(ConfigError, match="is not an expression"):
        BusinessMetric("bad", "tp.amount -")


def test_a_field_the_cells_do_not_carry_is_named() -> None:
    cells = realized(window(), threshold=0.7).cells
    with pytest.raises(MonitoringError, match=r"reads fn\.amount, but the cells carry fields"):
        BusinessMetric("loss", "fn.amount").evaluate(cells)


def test_two_fields_of_one_cell_need_cross_products_and_are_refused() -> None:
    frame = window().assign(fee=1.0)
    cells = realized(frame, threshold=0.7, fields=["amount", "fee"]).cells
    with pytest.raises(MonitoringError, match="needs their cross products"):
        BusinessMetric("net", "tp.amount - tp.fee").evaluate(cells)


def test_division_by_an_empty_cell_gives_no_value() -> None:
    cells = realized(window(), threshold=2.0, fields=["amount"]).cells  # nothing flagged
    assert BusinessMetric("mean_caught", "tp.amount / tp.count").evaluate(cells) is None
