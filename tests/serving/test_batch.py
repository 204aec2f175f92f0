"""The batch writer: bounded enqueue, batches of at most max_batch, flush, retries, shutdown."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest

from tether.serving._batch import BatchWriter

NEVER = 3600.0  # a flush interval that never elapses during a test


class Sink:
    """A write function that records its batches, and can be made to fail or to block."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.failures = failures
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, batch: Sequence[int]) -> None:
        self.entered.set()
        self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("database restarting")
        self.batches.append(list(batch))

    @property
    def items(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


def _writer(sink: Sink, **options: float) -> BatchWriter[int]:
    settings = {"max_batch": 10, "flush_interval": NEVER, "capacity": 1000, **options}
    return BatchWriter(
        sink,
        max_batch=int(settings["max_batch"]),
        flush_interval=settings["flush_interval"],
        capacity=int(settings["capacity"]),
        name="test-writer",
    )


def test_batches_hold_at_most_max_batch_items_in_order() -> None:
    sink = Sink()
    writer = _writer(sink, max_batch=10)
    for item in range(25):
        assert writer.put(item)

    assert writer.flush(timeout=10)
    assert sink.items == list(range(25))
    assert all(len(batch) <= 10 for batch in sink.batches)
    assert sink.batches[:2] == [list(range(10)), list(range(10, 20))]  # full batches unprompted
    assert writer.written == 25
    assert writer.close(timeout=10) == 0


def test_close_writes_everything_queued() -> None:
    sink = Sink()
    writer = _writer(sink)
    for item in range(7):
        writer.put(item)

    assert writer.close(timeout=10) == 0
    assert sink.items == list(range(7))


def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    sink = Sink()
    sink.gate.clear()  # the database hangs
    writer = _writer(sink, max_batch=1, capacity=2)
    writer.put(0)
    assert sink.entered.wait(timeout=10)  # the writer holds item 0 and waits in write()

    assert [writer.put(item) for item in (1, 2, 3)] == [True, True, False]
    assert writer.dropped == 1

    sink.gate.set()
    assert writer.flush(timeout=10)
    assert sink.items == [0, 1, 2]
    writer.close(timeout=10)


def test_a_failing_write_is_retried_and_loses_nothing() -> None:
    sink = Sink(failures=2)
    writer = _writer(sink, flush_interval=0.01)
    for item in range(5):
        writer.put(item)

    assert writer.flush(timeout=10)
    assert sink.items == list(range(5))
    assert writer.last_error is None
    writer.close(timeout=10)


def test_close_gives_up_on_a_database_that_stays_down_and_counts_the_loss() -> None:
    sink = Sink(failures=1_000_000)
    writer = _writer(sink, flush_interval=0.01)
    for item in range(5):
        writer.put(item)

    assert writer.close(timeout=0.2) == 5
    assert isinstance(writer.last_error, OSError)


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="expected max_batch >= 1"):
        BatchWriter(Sink(), max_batch=0, flush_interval=1.0, capacity=1, name="bad")


def test_an_overload_is_logged_when_it_starts_and_with_its_count_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    sink.gate.clear()
    writer = _writer(sink, max_batch=1, capacity=1)
    writer.put(0)
    assert sink.entered.wait(timeout=10)
    with caplog.at_level(logging.WARNING, logger="tether.serving._batch"):
        assert [writer.put(item) for item in (1, 2, 3)] == [True, False, False]
        sink.gate.set()
        assert writer.flush(timeout=10)
    writer.close(timeout=10)

    messages = [record.getMessage() for record in caplog.records]
    assert any("queue full, dropping" in message for message in messages)
    assert any("2 items dropped since it started" in message for message in messages)
