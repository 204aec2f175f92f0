"""A bounded in-memory queue and one writer thread: callers enqueue, the thread writes in batches.

The caller's cost is one ``deque.append`` (atomic in CPython, no lock) and a length check: no
I/O, no wait, and no wake-up of the writer per item, which would hand it the GIL once per
request. When ``capacity`` items are queued, the item is dropped and counted instead, because
the request path must not slow down when the database does (the count is exported, and a
warning is logged when an overload starts and, with the number dropped, when it ends).
Threads racing at the limit may overshoot it by one item each.

The thread wakes every ``flush_interval`` seconds, as soon as ``max_batch`` items are queued,
or when someone calls :meth:`BatchWriter.flush`; it then takes everything queued and hands it to
``write`` in batches of at most ``max_batch`` (one transaction each). A failing write is logged
and retried with backoff, the items kept, so a database restart loses nothing while the queue
has room.

What a hard kill (SIGKILL, OOM, power cut of the process) loses: the items not yet written,
which are at most the queue and the batch in flight, so at most ``capacity + max_batch``; in
steady state, when the thread keeps up, the items recorded in the last ``flush_interval``
seconds plus the time of one write. Everything recorded before a :meth:`flush` that returned
True is durable.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

_LOGGER = logging.getLogger(__name__)
_MAX_BACKOFF = 5.0


class _Barrier:
    """Queued by :meth:`BatchWriter.flush`: set once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop(_Barrier):
    """Queued by :meth:`BatchWriter.close`: write what is queued, then end the thread."""


class BatchWriter(Generic[T]):
    """Writes items in batches on a thread of its own; see the module docstring for the bounds.

    ``write`` must write a whole batch in one transaction, or raise and write none of it.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], None],
        *,
        max_batch: int,
        flush_interval: float,
        capacity: int,
        name: str,
    ) -> None:
        if max_batch < 1 or capacity < 1 or flush_interval <= 0:
            raise ValueError(
                f"{name}: expected max_batch >= 1, capacity >= 1 and flush_interval > 0; got "
                f"{max_batch}, {capacity} and {flush_interval}"
            )
        self._write = write
        self._max_batch = max_batch
        self._capacity = capacity
        self.flush_interval = flush_interval
        """Seconds between the writer's rounds when fewer than ``max_batch`` items are queued."""
        self.name = name
        self._items: deque[T | _Barrier] = deque()
        self._wake = threading.Event()
        self._give_up = threading.Event()
        self._drop_lock = threading.Lock()
        self._overloaded = False
        self._in_flight = 0
        self.written = 0
        """Items written so far."""
        self.dropped = 0
        """Items refused because the queue was full."""
        self.last_error: BaseException | None = None
        """The last write failure, None once a write succeeds again."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Items queued or being written, not yet committed (approximately: it is moving)."""
        return len(self._items) + self._in_flight

    def put(self, item: T) -> bool:
        """Queue ``item`` without waiting; False (and counted in :attr:`dropped`) when full."""
        items = self._items
        if len(items) >= self._capacity:
            self._drop()
            return False
        items.append(item)
        if len(items) >= self._max_batch and not self._wake.is_set():
            self._wake.set()
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued before the call is written; False on timeout."""
        return self._wait_for(_Barrier(), timeout)

    def close(self, timeout: float) -> int:
        """Write what is queued, stop the thread, and return how many items were not written.

        After ``timeout`` seconds (a database that stays down) the thread gives up: what it
        still holds is counted, not written.
        """
        if self._thread.is_alive() and not self._wait_for(_Stop(), timeout):
            self._give_up.set()
            self._wake.set()
            self._thread.join(self.flush_interval + _MAX_BACKOFF)
        return self._in_flight + sum(not isinstance(item, _Barrier) for item in self._items)

    def _drop(self) -> None:
        with self._drop_lock:  # callers' threads race here; the common path takes no lock
            self.dropped += 1
        if not self._overloaded:
            self._overloaded = True
            _LOGGER.warning("%s: queue full, dropping items until it drains", self.name)

    def _wait_for(self, barrier: _Barrier, timeout: float) -> bool:
        self._items.append(barrier)  # a barrier is no data: it ignores the capacity
        self._wake.set()
        return barrier.done.wait(timeout)

    def _run(self) -> None:
        while not self._give_up.is_set():
            self._wake.wait(self.flush_interval)
            # Cleared before draining: an item queued from here on sets it again, so no wake-up
            # is lost; one queued before is drained now.
            self._wake.clear()
            if self._drain():
                return

    def _drain(self) -> bool:
        """Write everything queued, releasing the barriers on the way; True at a stop."""
        batch: list[T] = []
        while not self._give_up.is_set():
            try:
                item = self._items.popleft()
            except IndexError:
                break
            if isinstance(item, _Barrier):
                self._write_batch(batch)
                batch = []
                if not self._give_up.is_set():
                    item.done.set()
                if isinstance(item, _Stop):
                    return True
                continue
            batch.append(item)
            if len(batch) >= self._max_batch:
                self._write_batch(batch)
                batch = []
        self._write_batch(batch)
        return False

    def _write_batch(self, batch: list[T]) -> None:
        """Write ``batch``, retrying with backoff until it succeeds or :meth:`close` gives up."""
        backoff = self.flush_interval
        self._in_flight = len(batch)
        while self._in_flight and not self._give_up.is_set():
            try:
                self._write(batch)
            except Exception as exc:  # the writer thread is a process boundary: log, retry
                self.last_error = exc
                _LOGGER.exception("%s: writing %d items failed; retrying", self.name, len(batch))
                self._give_up.wait(min(backoff, _MAX_BACKOFF))
                backoff *= 2
                continue
            self.written += len(batch)
            self.last_error = None
            if self._overloaded:
                self._overloaded = False
                _LOGGER.warning(
                    "%s: writing again; %d items dropped since it started", self.name, self.dropped
                )
            self._in_flight = 0
