"""Shadows never change a response, never add latency beyond the enqueue, never fail a request."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from routing_cases import (
    ROW,
    Exploding,
    FakeSource,
    Gated,
    Recorder,
    deployment,
    instance,
    served,
)

from tether.serving._deployment import ServedModel
from tether.serving._router import Router
from tether.serving._scoring import score
from tether.serving._shadow import ShadowJob, ShadowRow, ShadowWorker

UNITS = [f"c{i}" for i in range(8)]


@pytest.fixture
def start_router() -> Iterator[Callable[..., Router]]:
    routers: list[Router] = []

    def start(shadows: list[ServedModel], recorder: Recorder, **options: object) -> Router:
        current = deployment(served("1"), served("2"), share=0.5, shadows=shadows)
        router = Router(FakeSource(current), recorder, **options)  # type: ignore[arg-type]
        router.start()
        routers.append(router)
        return router

    yield start
    for router in routers:
        router.close()


def answers(router: Router) -> list[tuple[str, object, str, str]]:
    result = router.predict([instance(instance_id=u, unit_id=u) for u in UNITS])
    return [(a.instance_id, a.output, a.version, a.cohort) for a in result.results]


def median_latency(router: Router, requests: int = 30) -> float:
    durations = []
    for _ in range(requests):
        started = time.perf_counter()
        router.predict([instance(unit_id="c1")])
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def test_a_shadow_logs_its_predictions_on_the_same_features(
    start_router: Callable[..., Router],
) -> None:
    recorder = Recorder()
    router = start_router([served("3")], recorder)
    router.predict([instance(instance_id="tx-1", unit_id="c1")], request_id="req-1")
    assert router.shadows.drain(timeout=10.0)
    [shadow] = recorder.by_role("shadow")
    [served_prediction] = [p for p in recorder.predictions if p.role != "shadow"]
    assert (shadow.version, shadow.request_id, shadow.instance_id) == ("3", "req-1", "tx-1")
    assert shadow.features == served_prediction.features == ROW
    assert shadow.cohort == served_prediction.cohort and shadow.unit_id == "c1"
    assert shadow.output != served_prediction.output


def test_a_shadow_that_raises_changes_no_response(start_router: Callable[..., Router]) -> None:
    baseline = answers(start_router([], Recorder()))
    recorder = Recorder()
    router = start_router([served("3", Exploding())], recorder)
    assert [a[1:] for a in answers(router)] == [a[1:] for a in baseline]
    assert router.shadows.drain(timeout=10.0)
    assert router.shadows.failed == 1
    assert recorder.by_role("shadow") == []


def test_a_shadow_that_sleeps_5_s_adds_no_latency(start_router: Callable[..., Router]) -> None:
    plain = start_router([], Recorder())
    sleepy = Gated(served("3").model, wait=5.0)
    shadowed = start_router([served("3", sleepy)], Recorder(), shadow_queue_size=4)
    try:
        started = time.perf_counter()
        assert [a[1:] for a in answers(shadowed)] == [a[1:] for a in answers(plain)]
        assert time.perf_counter() - started < 2.5, "the request waited for the shadow"
        baseline, with_shadow = median_latency(plain), median_latency(shadowed)
        # Generous: the machine is shared; waiting for the shadow would cost 5 s per request.
        assert with_shadow < 3 * baseline + 0.05
        assert sleepy.calls <= 1  # the worker is (at most) inside the first job
        assert shadowed.shadows.dropped > 0  # the queue filled up and dropped the rest
    finally:
        sleepy.gate.set()


def test_a_full_queue_drops_and_counts() -> None:
    worker = ShadowWorker(Recorder(), capacity=2)  # not started: nothing is taken
    job = ShadowJob("fraud", served("3"), "req", datetime.now(UTC), [])
    assert [worker.submit(job) for _ in range(4)] == [True, True, False, False]
    assert (worker.depth, worker.dropped) == (2, 2)
    worker.close()


def test_enqueue_costs_microseconds(capsys: pytest.CaptureFixture[str]) -> None:
    worker = ShadowWorker(Recorder(), capacity=100_000)  # not started: measures put_nowait
    row = ShadowRow("tx", "c1", "champion", datetime.now(UTC), dict(ROW))
    job = ShadowJob("fraud", served("3"), "req", datetime.now(UTC), [row])
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        worker.submit(job)
    per_enqueue_us = (time.perf_counter() - started) / n * 1e6
    with capsys.disabled():
        print(f"\nshadow enqueue: {per_enqueue_us:.2f} us per job")
    assert per_enqueue_us < 200  # generous; typically 1-3 us
    worker.close()


def test_close_does_not_wait_for_a_hung_shadow() -> None:
    sleepy = Gated(served("3").model, wait=5.0)
    worker = ShadowWorker(Recorder(), capacity=4)
    worker.start()
    row = ShadowRow("tx", "c1", "champion", datetime.now(UTC), dict(ROW))
    worker.submit(ShadowJob("fraud", served("3", sleepy), "req", datetime.now(UTC), [row]))
    started = time.perf_counter()
    worker.close(timeout=0.1)
    assert time.perf_counter() - started < 2.5
    sleepy.gate.set()


def queued_jobs(worker: ShadowWorker, shadow: ServedModel, count: int) -> list[ShadowRow]:
    """Queue ``count`` one-row jobs for ``shadow`` (each row a little different)."""
    now = datetime.now(UTC)
    rows = [
        ShadowRow(f"tx-{i}", "c1", "champion", now, {**ROW, "a": 0.1 * i}) for i in range(count)
    ]
    for i, row in enumerate(rows):
        assert worker.submit(ShadowJob("fraud", shadow, f"req-{i}", now, [row]))
    return rows


def test_jobs_waiting_for_one_shadow_are_scored_in_one_call_each_logged_as_alone() -> None:
    counting = Gated(served("3").model, wait=0.0)
    shadow = served("3", counting)
    recorder = Recorder()
    worker = ShadowWorker(recorder, capacity=100)
    rows = queued_jobs(worker, shadow, 10)  # they wait: the thread is not started yet
    worker.start()
    assert worker.drain(timeout=10.0)
    worker.close()
    assert counting.calls == 1
    assert worker.completed == 10
    logged = {p.instance_id: (p.request_id, p.output) for p in recorder.by_role("shadow")}
    alone = {row.instance_id: score(served("3"), [row.vector]).outputs[0] for row in rows}
    # A logistic regression is a BLAS dot product: equal to the last bit or so in a batch.
    expected = {
        f"tx-{i}": (f"req-{i}", pytest.approx(alone[f"tx-{i}"], rel=1e-12)) for i in range(10)
    }
    assert logged == expected


def test_a_failing_batch_of_shadow_jobs_is_retried_job_by_job() -> None:
    recorder = Recorder()
    worker = ShadowWorker(recorder, capacity=100)
    queued_jobs(worker, served("3", Exploding()), 3)
    worker.start()
    assert worker.drain(timeout=10.0)
    worker.close()
    assert (worker.failed, worker.completed) == (3, 0)  # each job's failure counted and logged
    assert recorder.by_role("shadow") == []
