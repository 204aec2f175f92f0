"""Shadow models: scored on a copy of live traffic, off the request path.

After the router has decided a response, it hands one :class:`ShadowJob` per shadow model to
:meth:`ShadowWorker.submit`, which only puts it in a bounded queue (``put_nowait``: about a
microsecond; see ``test_shadow.py`` for the measurement). A full queue drops the job and
counts it, so a slow shadow can never make requests wait or grow memory without bound. Worker
threads take jobs, run the shadow model on the exact feature vectors the champion or
challenger received, and log each prediction with role ``shadow``; jobs waiting for the same
shadow model are scored in one model call (:data:`MAX_JOBS_PER_CALL`). A shadow that raises is
logged and counted and never propagates: shadows never change a response, never add latency
beyond the enqueue, never fail a request (ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tether._names import SHADOW
from tether._storage import JSONValue
from tether.serving._deployment import ServedModel
from tether.serving._features import FeatureValue, Vector, request_data
from tether.serving._labels import LabelSpace
from tether.serving._observer import NullObserver, ServingObserver
from tether.serving._prediction import Prediction
from tether.serving._scoring import Scores, decide, score

DEFAULT_SHADOW_THREADS = 1
"""Worker threads; one keeps shadows from competing with requests for the CPU."""
MAX_JOBS_PER_CALL = 64
"""Queued jobs of one shadow model scored in one model call (a call costs about the same for
one row as for dozens, so a backlog is worked off in a few calls)."""

_LOGGER = logging.getLogger(__name__)


class PredictionRecorder(Protocol):
    """Where predictions go: :class:`~tether.serving.PredictionLog`, or a fake in tests."""

    def record(self, prediction: Prediction) -> bool:
        """Enqueue ``prediction`` for writing; False if it was dropped."""
        ...


@dataclass(frozen=True)
class ShadowRow:
    """One instance of a request, as the serving model saw it."""

    instance_id: str
    unit_id: str | None
    cohort: str
    event_time: datetime
    vector: Vector
    inputs: Mapping[str, JSONValue] | None = None
    """The instance's fields as the client sent them (they identify a retry in the log)."""
    statuses: Mapping[str, str] | None = None
    """The status of each feature of ``vector`` (None: not known)."""
    entity: Mapping[str, str] | None = None
    """The instance's entity keys, if it had any."""
    raw: Mapping[str, FeatureValue] | None = None
    """The instance's ``features`` as the client sent them."""


@dataclass(frozen=True)
class ShadowJob:
    """One shadow model to run on the instances of one request."""

    model_name: str
    model: ServedModel
    request_id: str
    time: datetime
    rows: Sequence[ShadowRow]
    experiment_id: int | None = None
    """The deploy event id of the deployment that served the request (see Prediction)."""


class ShadowWorker:
    """A bounded queue of shadow jobs and the threads that run them.

    >>> worker = ShadowWorker(prediction_log, capacity=1000)  # doctest: +SKIP
    >>> worker.start()  # doctest: +SKIP
    >>> worker.submit(job)  # returns at once; False if the queue was full  # doctest: +SKIP
    >>> worker.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        recorder: PredictionRecorder,
        *,
        capacity: int,
        threads: int = DEFAULT_SHADOW_THREADS,
        observer: ServingObserver | None = None,
    ) -> None:
        self._recorder = recorder
        self._observer: ServingObserver = observer or NullObserver()
        self._queue: queue.Queue[ShadowJob | None] = queue.Queue(maxsize=capacity)
        self._threads = [
            threading.Thread(target=self._run, name=f"tether-shadow-{i}", daemon=True)
            for i in range(threads)
        ]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.dropped = 0
        """Jobs refused because the queue was full."""
        self.failed = 0
        """Jobs whose model raised (logged)."""
        self.completed = 0
        """Jobs scored and logged."""

    @property
    def depth(self) -> int:
        """Jobs waiting in the queue (approximately)."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the worker threads (once)."""
        for thread in self._threads:
            if not thread.is_alive():
                thread.start()

    def submit(self, job: ShadowJob) -> bool:
        """Queue ``job`` and return at once; False (counted) if the queue was full."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            self._observer.shadow_dropped(job.model.version)
            return False
        self._observer.shadow_queued(self._queue.qsize())
        return True

    def drain(self, timeout: float) -> bool:
        """Wait until every queued job is done; False if ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not done.wait(remaining):
                    return False
        return True

    def close(self, timeout: float = 1.0) -> None:
        """Stop the threads after their current job; queued jobs are discarded.

        Threads still busy after ``timeout`` seconds (a shadow that hangs) are left to
        finish on their own: they are daemons and log nothing more.
        """
        self._stopping.set()
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break  # the threads see _stopping after their current job
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stopping.is_set():
            jobs = [self._queue.get()]
            while len(jobs) < MAX_JOBS_PER_CALL and jobs[-1] is not None:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                live = [job for job in jobs if job is not None]
                if live and not self._stopping.is_set():
                    self._observer.shadow_queued(self._queue.qsize())
                    self._run_jobs(live)
            finally:
                for _ in jobs:
                    self._queue.task_done()

    def _run_jobs(self, jobs: Sequence[ShadowJob]) -> None:
        """Score the jobs of each shadow model in one call (each alone if that call fails)."""
        by_model: dict[int, list[ShadowJob]] = {}
        for job in jobs:
            by_model.setdefault(id(job.model), []).append(job)
        for group in by_model.values():
            if len(group) == 1:
                self._run_job(group[0])
                continue
            try:
                scores = score(group[0].model, [row.vector for job in group for row in job.rows])
            # Any model error: each job alone below, which logs and counts its own failure.
            except Exception:  # noqa: BLE001
                for job in group:
                    self._run_job(job)
                continue
            start = 0
            for job in group:
                end = start + len(job.rows)
                self._finish(job, Scores(scores.outputs[start:end], scores.seconds))
                start = end

    def _run_job(self, job: ShadowJob) -> None:
        version = job.model.version
        try:
            scores = score(job.model, [row.vector for row in job.rows])
        # A shadow is arbitrary model code on a background thread: whatever it raises is
        # logged and counted here, and must never reach a request (a process boundary).
        except Exception:
            with self._lock:
                self.failed += 1
            self._observer.model_failed(version, SHADOW)
            _LOGGER.exception(
                "shadow %s version %s failed on request %s (%d instances); the responses "
                "were not affected",
                job.model_name,
                version,
                job.request_id,
                len(job.rows),
            )
            return
        self._finish(job, scores)

    def _finish(self, job: ShadowJob, scores: Scores) -> None:
        self._observer.model_called(job.model.version, SHADOW, scores.seconds, len(job.rows))
        self._log(job, scores.outputs, scores.seconds * 1000.0)
        with self._lock:
            self.completed += 1

    def _log(self, job: ShadowJob, outputs: Sequence[JSONValue], latency_ms: float) -> None:
        labels = LabelSpace.of(job.model.model)
        names = job.model.features
        for row, output in zip(job.rows, outputs, strict=True):
            features = {name: row.vector.get(name) for name in names}
            known = row.statuses
            prediction = Prediction(
                request_id=job.request_id,
                instance_id=row.instance_id,
                time=job.time,
                model=job.model_name,
                version=job.model.version,
                role=SHADOW,
                features=features,
                output=output,
                latency_ms=latency_ms,
                unit_id=row.unit_id,
                cohort=row.cohort,
                event_time=row.event_time,
                inputs=row.inputs,
                labels=labels,
                entity=row.entity,
                statuses=None if known is None else {n: known[n] for n in names if n in known},
                request_data=None if row.raw is None else request_data(row.raw, features),
                experiment_id=job.experiment_id,
                decision=decide(job.model, output),  # at the shadow's own threshold
            )
            if not self._recorder.record(prediction):
                self._observer.prediction_dropped()
