"""Features of the fraud example, as feature definitions: ``tether train`` and serving share them.

``[features] definitions = "features:FEATURE_VIEWS"`` in tether.toml points here. A payment
at time ``t`` is scored from earlier payments only: each window is the half-open
``[t - w, t)`` on ``event_time``, and a payment counts only once it was ingested
(``ingested_time`` before ``t``), so the ~3% of payments that arrive hours late are not
seen before they arrived, offline as online. The payment being scored, and any payment at
the very same instant, never feed its own features.

==========================  =========================================================
``tx_count_1h/1d/7d``       count of the customer's payments in the last hour/day/week
``amount_sum_1d``           sum of their amounts in the last day
``amount_mean_30d``         mean of their amounts in the last 30 days
``amount_max_30d``          max of their amounts in the last 30 days
``amount_to_mean_30d``      ``amount / amount_mean_30d``, ``amount`` from the request
``device_tx_count_30d``     count of payments from this device in the last 30 days
==========================  =========================================================

Null policy: a count or sum over no payments is 0; a mean or max over no payments, and a
ratio to it, is null (NaN in the training set; HistGradientBoosting learns where NaN goes).

The features of the payment itself (its amount, hour, category and country) come with the
request and are computed in ``train.py`` (:func:`train.request_features`). There is no
"hours since the customer's last payment": ``last`` aggregates value columns, not event
times, and the expression language has no time arithmetic.

Speed (DuckDB on one thread, as in a training run, on a shared 2-core machine): 400,000
payments in about 20 s, 30,000 in under 1 s.
"""

from __future__ import annotations

from tether.features import Aggregation, Entity, EventSource, FeatureView, Transformation

EVENTS = "data/events.parquet"
"""The payments, relative to the project folder (a dataset of tether.toml, so snapshotted)."""

customer = Entity("customer", keys=["customer_id"])
device = Entity("device", keys=["device_id"])


def _payments(entity_key: str) -> EventSource:
    """The payments, keyed by ``entity_key``."""
    return EventSource.parquet(
        EVENTS,
        entity_key=entity_key,
        event_id="event_id",
        event_time="event_time",
        created_time="ingested_time",
    )


FEATURE_VIEWS = [
    FeatureView(
        "customer_payments",
        entity=customer,
        source=_payments("customer_id"),
        ttl="30d",
        features=[
            Aggregation("tx_count_1h", "count", window="1h"),
            Aggregation("tx_count_1d", "count", window="1d"),
            Aggregation("tx_count_7d", "count", window="7d"),
            Aggregation("amount_sum_1d", "sum", column="amount", window="1d", empty=0.0),
            Aggregation("amount_mean_30d", "mean", column="amount", window="30d"),
            Aggregation("amount_max_30d", "max", column="amount", window="30d"),
            Transformation("amount_to_mean_30d", "amount / amount_mean_30d", request=["amount"]),
        ],
    ),
    FeatureView(
        "device_payments",
        entity=device,
        source=_payments("device_id"),
        ttl="30d",
        features=[Aggregation("device_tx_count_30d", "count", window="30d")],
    ),
]
