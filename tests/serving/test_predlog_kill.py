"""The documented loss bound of the prediction log after a hard kill (SIGKILL), on SQLite and
PostgreSQL: everything written before the last flush point survives; what was queued since is
lost, and that is at most a batch in flight plus the queue."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

import pytest

from tether.serving._prediction import Prediction
from tether.serving._predlog import PredictionLog

T0 = datetime(2025, 3, 1, tzinfo=UTC)
MAX_BATCH = 100
NEVER = 3600.0  # a flush interval that never elapses during a test


def _prediction(number: int) -> Prediction:
    return Prediction(
        request_id=f"req-{number}",
        instance_id=f"tx-{number}",
        time=T0 + timedelta(milliseconds=number),
        model="fraud",
        version="1",
        role="champion",
        features={"amount": float(number)},
        output=0.5,
        latency_ms=1.0,
    )


def _record_until_killed(url: str, explicit_flush: bool, parent: Connection) -> None:
    """In the child: record, reach a flush point, record fewer than ``max_batch`` more (they
    stay queued: the flush interval never elapses), report, wait to be killed."""
    log = PredictionLog(url, max_batch=MAX_BATCH, flush_interval=NEVER)
    for number in range(250):
        log.record(_prediction(number))
    if explicit_flush:
        log.flush()
    else:  # more than max_batch queued wakes the writer, which writes them all by itself
        while log.written < 250:
            time.sleep(0.005)
    flushed = log.written
    for number in range(250, 260):
        log.record(_prediction(number))
    parent.send((flushed, 260))
    time.sleep(NEVER)


@pytest.mark.parametrize("explicit_flush", [True, False], ids=["flush", "full-batches"])
def test_a_hard_kill_loses_only_what_was_queued_since_the_last_flush_point(
    database_url: str, explicit_flush: bool
) -> None:
    PredictionLog(database_url).close()  # create the tables before racing
    fork = multiprocessing.get_context("fork")  # no re-import of tether (and MLflow) in the child
    receiver, sender = fork.Pipe(duplex=False)
    child = fork.Process(target=_record_until_killed, args=(database_url, explicit_flush, sender))
    child.start()
    assert receiver.poll(timeout=120), "the child never reached its flush point"
    flushed, recorded = receiver.recv()
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)

    with PredictionLog(database_url) as log:
        stored = len(log.query(T0, T0 + timedelta(days=1)))

    assert child.exitcode == -signal.SIGKILL
    assert stored == flushed  # durable up to the flush point, nothing of a later batch
    assert stored >= recorded - (MAX_BATCH + 10)  # the bound: a batch in flight + the queue
    assert flushed == 250
