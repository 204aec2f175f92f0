"""Every prediction answered 200 is in the prediction log, or counted on /metrics: retries of
the same instance are one row, the same instance id with other inputs is a new revision, and
the table's rows agree with the counters under concurrent requests (SQLite log, real app)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from server_cases import ROW, MemoryRegistry, running_app

THREADS = 8
REQUESTS = 12  # per thread, of two instances each


def _body(thread: int, request: int) -> dict[str, object]:
    """Request ``request`` of ``thread``: every third one repeats the one before it exactly
    (a client's retry); every fourth other one sends the previous request's instance ids with
    other features (a new revision of those instances); the rest are new instances."""
    if request % 3 == 2:
        return _body(thread, request - 1)
    if request % 4 == 3:
        previous = _body(thread, request - 1)["instances"]
        return {"instances": [
            {**instance, "features": {**ROW, "a": 100.0 + request + n}}
            for n, instance in enumerate(previous)  # type: ignore[arg-type]
        ]}  # fmt: skip
    return {
        "instances": [
            {"instance_id": f"tx-{thread}-{request}-{n}", "unit_id": f"c{n}",
             "features": {**ROW, "a": 0.25 * request + n}}
            for n in range(2)
        ]
    }  # fmt: skip


def _expected() -> tuple[int, int, int]:
    """(sent, distinct, superseded) instances over all requests, by brute force."""
    sent: list[tuple[str, str]] = []
    for thread in range(THREADS):
        for request in range(REQUESTS):
            for instance in _body(thread, request)["instances"]:  # type: ignore[attr-defined]
                sent.append((instance["instance_id"], repr(instance["features"])))
    distinct = set(sent)
    return len(sent), len(distinct), len(distinct) - len({i for i, _ in distinct})


def _sums(metrics_text: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


def test_rows_in_the_log_agree_with_the_metrics_under_concurrent_requests(
    tmp_path: Path,
) -> None:
    registry = MemoryRegistry()
    registry.aliases["shadow-2"] = "2"  # a shadow scores (and logs) every instance too
    failures: list[str] = []
    with running_app(tmp_path, registry=registry) as client:

        def send(thread: int) -> None:
            for request in range(REQUESTS):
                response = client.post("/v1/predict", json=_body(thread, request))
                if response.status_code != 200:
                    failures.append(f"{thread}/{request}: {response.status_code}")

        threads = [threading.Thread(target=send, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        state = client.app.state.tether  # type: ignore[attr-defined]
        assert state.router.shadows.drain(30.0)
        state.predictions.flush()
        counted = _sums(client.get("/metrics").text)
        now = datetime.now(UTC)
        frame = state.predictions.query(now - timedelta(hours=1), now + timedelta(hours=1))

    assert failures == []
    served = counted["tether_model_predictions_total"]
    not_written = sum(
        counted[f"tether_prediction_log_{name}_total"]
        for name in ("retries", "dropped", "rejected")
    )
    assert len(frame) == served - not_written == counted["tether_prediction_log_rows_total"]
    # Exactly the retries were skipped, and each revision is a row of its own whose earlier
    # one is superseded (every instance is scored by two models: the champion and a shadow).
    sent, distinct, superseded = _expected()
    assert served == 2 * sent and sent > distinct
    assert counted["tether_prediction_log_retries_total"] == 2 * (sent - distinct)
    assert counted["tether_prediction_log_dropped_total"] == 0
    assert counted["tether_prediction_log_rejected_total"] == 0
    assert int(frame["superseded"].sum()) == 2 * superseded > 0
    latest = frame[~frame["superseded"]]
    assert not latest.duplicated(["instance_id", "model", "version"]).any()
