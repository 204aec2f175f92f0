"""Retention of the prediction log while a server runs: delete old rows now and then.

:class:`RetentionWorker` calls :meth:`PredictionLog.delete_older_than` once when started and
then every ``interval`` seconds, on one daemon thread, until stopped. A server that runs for
months therefore keeps only ``[serving] retention_days`` of predictions, not everything since
its last restart. A failure (the database is down) is logged and retried at the next interval:
retention is housekeeping and must never stop serving. Several workers of one server (or
several replicas) may run it at once: a delete is one transaction, and deleting rows that
another worker already deleted deletes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from tether.errors import TetherError
from tether.serving._prediction import RetentionResult
from tether.serving._predlog import PredictionLog

__all__ = ["DEFAULT_RETENTION_INTERVAL_S", "RetentionWorker"]

DEFAULT_RETENTION_INTERVAL_S = 3600.0
"""How often a running server deletes predictions older than the retention period."""

_log = logging.getLogger(__name__)


class RetentionWorker:
    """Deletes predictions older than ``age`` at start and every ``interval_s`` seconds.

    >>> worker = RetentionWorker(log, timedelta(days=90))  # doctest: +SKIP
    >>> worker.start()  # doctest: +SKIP
    >>> worker.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        predictions: PredictionLog,
        age: timedelta,
        *,
        interval_s: float = DEFAULT_RETENTION_INTERVAL_S,
        on_result: Callable[[RetentionResult], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s is {interval_s!r}: expected a positive number")
        self.predictions = predictions
        self.age = age
        self.interval_s = interval_s
        self._on_result = on_result
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; its first deletion runs at once."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tether-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a deletion in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> RetentionResult | None:
        """Delete once; None (logged) if the prediction log failed."""
        try:
            result = self.predictions.delete_older_than(self.age)
        except TetherError as exc:
            _log.warning("retention: deleting predictions older than %s failed: %s", self.age, exc)
            return None
        if result.predictions or result.feedback:
            _log.info(
                "retention: deleted %d predictions and %d feedback rows older than %s",
                result.predictions,
                result.feedback,
                self.age,
            )
        if self._on_result is not None:
            self._on_result(result)
        return result

    def _run(self) -> None:
        while True:
            self.run_once()
            if self._stop.wait(self.interval_s):
                return
