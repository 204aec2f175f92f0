"""A raw payment at the server: the fraud example scored from what a payment processor knows.

The request carries the customer, device, merchant, category, country, amount and time, and
nothing derived; every model input (the customer's history, the hour, the category code, "is
it abroad") is computed by the feature definitions the model was trained on. The oracle is
the training set that ``build_training_set`` computes offline for the same payments: the
vector logged with each prediction must equal it, feature by feature, and the skew audit over
the logged vectors must find nothing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from tether.features import measure_skew
from tether.project import Project
from tether.server import create_project_app
from tether.serving import PredictionReader

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's httpx deprecation notice, on import only
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow
PAYMENTS = 12
REQUEST = ["amount", "merchant_id", "category", "country"]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, make_fraud_project: Any
) -> Iterator[tuple[Project, TestClient, pd.DataFrame]]:
    """A trained, deployed and materialized fraud project, its app, and late payments."""
    folder = make_fraud_project(tmp_path_factory.mktemp("raw-payment") / "fraud")
    project = Project.open(folder)
    project.train()
    project.aliases.deploy("1", "champion", actor="test", reason="first")
    project.online_store.materialize(incremental=False)
    events = pd.read_parquet(folder / "data" / "events.parquet")
    # Late payments: customers with a history, and a foreign or unseen category among them.
    payments = events.sort_values("event_time").tail(PAYMENTS).reset_index(drop=True)
    payments.loc[0, "category"] = "pet_supplies"  # outside the vocabulary: code -1
    payments.loc[1, "country"] = "NG"
    with TestClient(create_project_app(Project.open(folder))) as client:
        yield project, client, payments
    project.close()


def _instance(payment: dict[str, Any]) -> dict[str, Any]:
    return {
        "entity": {"customer_id": payment["customer_id"], "device_id": payment["device_id"]},
        "features": {column: payment[column] for column in REQUEST},
        "event_time": payment["event_time"].isoformat(),
    }


def test_a_raw_payment_is_scored_with_the_vector_offline_computes(
    served: tuple[Project, TestClient, pd.DataFrame],
) -> None:
    project, client, payments = served
    instances = [_instance(p) for p in payments.to_dict("records")]
    answer = client.post("/v1/predict", json={"instances": instances})
    assert answer.status_code == 200, answer.text
    ids = [p["instance_id"] for p in answer.json()["predictions"]]
    client.app.state.tether.predictions.flush()  # type: ignore[attr-defined]

    store = project.feature_store
    spine = payments[["event_id", "customer_id", "device_id", "event_time", *REQUEST]]
    offline = store.build_training_set(spine, timestamp="event_time")
    logged = project.predictions.query(
        pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp.now(tz="UTC")
    )
    vectors = list(logged.set_index("instance_id").loc[ids, "features"])
    assert set(vectors[0]) == set(store.feature_names)  # every model input, none sent derived
    for position, vector in enumerate(vectors):
        for name in store.feature_names:
            expected = offline[name].iloc[position]
            if pd.isna(expected):
                assert vector[name] is None, (position, name)
            else:
                assert math.isclose(vector[name], float(expected), rel_tol=1e-12), (position, name)
    assert offline["category_code"].iloc[0] == -1.0
    assert offline["is_foreign"].iloc[1] == 1.0
    assert offline["tx_count_7d"].gt(0).sum() >= PAYMENTS // 2  # histories, not empty vectors
    assert offline["hours_since_last_tx"].notna().sum() >= PAYMENTS // 2

    audit = pd.DataFrame(vectors).assign(**{c: spine[c].to_numpy() for c in spine.columns})
    report = measure_skew(store, audit, timestamp="event_time")
    assert {f.feature for f in report.features} == set(store.feature_names)
    assert report.worst_rate == 0.0

    # The audit from the log alone: entity keys, time and the raw request were logged.
    with PredictionReader(project.store_url) as reader:
        from_log = reader.served_vectors(["customer_id", "device_id"])
    assert len(from_log.frame) == PAYMENTS and from_log.skipped == {}
    assert {"category", "country"} <= set(from_log.frame.columns)
    report = measure_skew(store, from_log.frame, timestamp=from_log.timestamp)
    assert {f.feature for f in report.features} == set(store.feature_names)
    assert report.rows == PAYMENTS and report.worst_rate == 0.0


def test_a_payment_without_a_request_column_is_422_naming_it(
    served: tuple[Project, TestClient, pd.DataFrame],
) -> None:
    _, client, payments = served
    first, second = (_instance(p) for p in payments.head(2).to_dict("records"))
    del second["features"]["country"]
    answer = client.post("/v1/predict", json={"instances": [first, second]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "instances[1].features.country"
    assert "country" in answer.json()["message"]


def test_a_derived_feature_sent_by_the_client_that_disagrees_is_refused(
    served: tuple[Project, TestClient, pd.DataFrame],
) -> None:
    _, client, payments = served
    [instance] = (_instance(p) for p in payments.head(1).to_dict("records"))
    instance["features"]["hour_of_day"] = -5.0  # a client's own value: skew by construction
    answer = client.post("/v1/predict", json={"instances": [instance]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "instances[0].features.hour_of_day"
