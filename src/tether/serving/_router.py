"""The prediction router: champion, sticky challenger, shadows, and hot reload (no HTTP).

:meth:`Router.predict` scores a batch of instances on the current :class:`Deployment`:

1. validates the instances and assembles their feature vectors (``_features.py``), looking
   entity features up online, into one row per instance (``_request_rows.py``);
2. assigns each instance a cohort, sticky on its unit id (``_assignment.py``);
3. scores the challenger's cohort on a worker thread while the calling thread scores the
   champion's; a challenger that raises, or has not answered ``challenger_timeout_s`` after
   it started, is replaced by the champion for that request (a *fallback*, counted, and
   flagged on the result);
4. records every prediction to the prediction log (enqueue only), with the features the
   model took, their statuses, the entity keys and the request data, counts the statuses
   (:meth:`ServingObserver.features_served`), and hands a copy of the request to each shadow
   (``_shadow.py``), after the response is decided.

The deployment is one immutable object swapped as one reference: a request reads it once, so
it is served entirely by the old deployment or entirely by the new one. :meth:`Router.refresh`
asks the :class:`DeploymentSource` for its latest event id and, when it changed, loads the new
deployment (every model loaded and verified by the source) *before* swapping; a load that fails
leaves the old deployment serving (logged, counted). :meth:`Router.start` loads the first
deployment and polls every ``reload_interval_s`` seconds; an admin call refreshes at once.

>>> router = Router(source, prediction_log, features=online_lookup)  # doctest: +SKIP
>>> router.start()  # doctest: +SKIP
>>> result = router.predict([InstanceRequest(features={"amount": 12.5, ...}, unit_id="c1")])
... # doctest: +SKIP
>>> result.results[0].output, result.results[0].decision, result.results[0].cohort
... # doctest: +SKIP
(0.031, 0, 'champion')
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Literal

from tether._names import CHALLENGER, CHAMPION
from tether.errors import (
    BatchTooLargeError,
    InvalidInstanceError,
    NotReadyError,
    PredictionLogFullError,
    ServingError,
    TetherError,
)
from tether.serving._assignment import assign_cohort
from tether.serving._deployment import (
    Deployment,
    DeploymentSource,
    ServedModel,
    describe_deployment,
)
from tether.serving._features import (
    FeatureLookup,
    FeatureSpec,
    InstanceRequest,
    assemble,
    request_data,
)
from tether.serving._labels import LabelSpace
from tether.serving._observer import ModelRole, NullObserver, ServingObserver
from tether.serving._prediction import Prediction
from tether.serving._request_rows import (
    Answer,
    RequestRow,
    instance_ids,
    instance_result,
    request_row,
    with_utc_time,
)
from tether.serving._routing_results import InstanceResult, PredictResult, ReloadResult, RouterStats
from tether.serving._scoring import CoalescingScorer, Scores
from tether.serving._shadow import PredictionRecorder, ShadowJob, ShadowRow, ShadowWorker

DEFAULT_CHALLENGER_TIMEOUT_S = 0.2
DEFAULT_MAX_INSTANCES = 1000
DEFAULT_SHADOW_QUEUE_SIZE = 1000
DEFAULT_RELOAD_INTERVAL_S = 5.0
CHALLENGER_THREADS = 4
"""Threads that run challengers; a hung challenger holds one until it returns."""

_LOGGER = logging.getLogger(__name__)


class Router:
    """Routes predictions to the champion, the challenger and shadows of a deployment.

    Thread-safe: :meth:`predict` is called from many request threads at once.
    """

    def __init__(
        self,
        source: DeploymentSource,
        recorder: PredictionRecorder,
        *,
        features: FeatureLookup | None = None,
        observer: ServingObserver | None = None,
        challenger_timeout_s: float = DEFAULT_CHALLENGER_TIMEOUT_S,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        shadow_queue_size: int = DEFAULT_SHADOW_QUEUE_SIZE,
        reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._source = source
        self._recorder = recorder
        self._lookup = features
        self._observer: ServingObserver = observer or NullObserver()
        self._timeout = challenger_timeout_s
        self._max_instances = max_instances
        self._interval = reload_interval_s
        self._clock = clock or _utc_now
        # The deployment, its feature spec and its models' label spaces (by version), swapped
        # together as one reference.
        self._serving: tuple[Deployment, FeatureSpec, dict[str, LabelSpace]] | None = None
        self._reload_lock = threading.Lock()
        self._last_reload_failure = ""  # logged once until the failure changes or a load works
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self._challengers = ThreadPoolExecutor(CHALLENGER_THREADS, "tether-challenger")
        self._scorer = CoalescingScorer()  # concurrent requests share model calls
        self.shadows = ShadowWorker(recorder, capacity=shadow_queue_size, observer=observer)
        """The shadow queue and its worker threads."""
        self.stats = RouterStats()
        """Fallbacks, reloads and dropped predictions so far."""

    @property
    def deployment(self) -> Deployment | None:
        """The deployment being served, or None before the first successful load."""
        serving = self._serving
        return serving[0] if serving is not None else None

    def start(self) -> ReloadResult:
        """Load the first deployment, then start the shadow worker and the reload poller.

        A failed first load is returned, not raised: the router keeps polling, and
        :meth:`predict` raises :class:`NotReadyError` until a load succeeds.

        Raises:
            ServingError: the router was closed (threads cannot restart; make a new router).
        """
        if self._stopping.is_set():
            raise ServingError("This router was closed and cannot start again; create another.")
        result = self.refresh()
        self.shadows.start()
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="tether-reload", daemon=True)
            self._poller.start()
        return result

    def close(self, timeout: float = 1.0) -> None:
        """Stop polling, stop the shadow worker (dropping queued shadow jobs), free threads."""
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout)
        self.shadows.close(timeout)
        self._challengers.shutdown(wait=False, cancel_futures=True)

    def refresh(self, *, force: bool = False) -> ReloadResult:
        """Load and swap in the source's deployment if its event id changed (or ``force``).

        Never raises: a failure is logged, counted, reported, and the old deployment stays.
        """
        with self._reload_lock:
            current = self.deployment
            served = current.event_id if current is not None else 0
            try:
                latest = self._source.latest_event_id()
                if current is not None and latest == current.event_id and not force:
                    return ReloadResult("unchanged", served)
                deployment = self._source.load()
                spec = _checked_spec(deployment)
            # Loading unpickles models and runs the source's code: anything may go wrong, and
            # whatever does must leave the old deployment serving (a process boundary).
            except Exception as exc:  # noqa: BLE001 - logged by _log_reload_failure
                self._log_reload_failure(exc, current is not None, served)
                return self._reload_failed(exc, served)
            labels = {model.version: LabelSpace.of(model.model) for model in deployment.models()}
            self._serving = (deployment, spec, labels)
            self._last_reload_failure = ""
            with self._stats_lock:
                self.stats.reloads += 1
        if current is None:  # the first: the server's start-up line names it
            _LOGGER.debug("serving %s", describe_deployment(deployment))
        else:
            _LOGGER.info("now serving %s (was event %s)", describe_deployment(deployment),
                         current.event_id)  # fmt: skip
        self._observer.reloaded(True, deployment.event_id)
        return ReloadResult("reloaded", deployment.event_id)

    def predict(
        self, instances: Sequence[InstanceRequest], *, request_id: str | None = None
    ) -> PredictResult:
        """Score ``instances`` (see the module docstring).

        Raises:
            NotReadyError: no deployment is loaded.
            BatchTooLargeError: more than ``max_instances`` instances.
            InvalidInstanceError: an instance is invalid (the message names the field).
            StoreUnavailableError, FeatureError: from the online feature lookup.
        """
        serving = self._serving  # read once: this request sees one deployment throughout
        if serving is None:
            raise NotReadyError(
                "No deployment is loaded yet: the registry has no champion for this server's "
                "model, or loading it failed (see the server log and GET /readyz)."
            )
        deployment, spec, labels = serving
        request_id = request_id or uuid.uuid4().hex
        now = self._clock()
        rows = self._prepare(instances, deployment, spec, now)
        answers = self._answer(deployment, rows)
        results = [instance_result(row, answer) for row, answer in zip(rows, answers, strict=True)]
        self._record(deployment, labels, request_id, now, rows, answers, results)
        self._count_statuses(deployment.model_name, rows)
        self._shadow(deployment, request_id, now, rows)
        return PredictResult(request_id, deployment.model_name, deployment.event_id, results)

    def _prepare(
        self,
        instances: Sequence[InstanceRequest],
        deployment: Deployment,
        spec: FeatureSpec,
        now: datetime,
    ) -> list[RequestRow]:
        if not instances:
            raise InvalidInstanceError(
                "instances is empty; expected at least one instance to score.",
                field="instances",
                expected="1 or more instances",
            )
        if len(instances) > self._max_instances:
            raise BatchTooLargeError(
                f"The request has {len(instances)} instances; this server scores at most "
                f"{self._max_instances} per request (serving.max_instances). Split the batch."
            )
        timed = [with_utc_time(i, instance, now) for i, instance in enumerate(instances)]
        ids = instance_ids(timed)
        assembled = assemble(timed, spec, self._lookup, now)
        share = deployment.challenger_share if deployment.challenger is not None else 0.0
        return [
            request_row(instance_id, instance, found, sent, now, deployment.experiment_id, share)
            for instance_id, instance, found, sent in zip(
                ids, timed, assembled, instances, strict=True
            )
        ]

    def _answer(self, deployment: Deployment, rows: Sequence[RequestRow]) -> list[Answer]:
        answers: list[Answer | None] = [None] * len(rows)
        challenger = deployment.challenger
        chosen = [i for i, row in enumerate(rows) if row.cohort == CHALLENGER]
        future: Future[Scores] | None = None
        started = time.monotonic()
        if challenger is not None and chosen:
            vectors = [rows[i].vector for i in chosen]
            future = self._challengers.submit(self._scorer.score, challenger, vectors)
        others = [i for i, row in enumerate(rows) if row.cohort == CHAMPION]
        if others:
            self._fill(answers, others, rows, deployment.champion, CHAMPION, fallback=False)
        if challenger is not None and future is not None:
            scores = self._await_challenger(future, challenger, started, len(chosen))
            if scores is None:
                self._fill(answers, chosen, rows, deployment.champion, CHAMPION, fallback=True)
            else:
                self._place(answers, chosen, challenger, CHALLENGER, scores, fallback=False)
        if any(answer is None for answer in answers):
            raise ServingError(f"Request of {len(rows)} instances left some unanswered.")
        return [answer for answer in answers if answer is not None]

    def _fill(
        self,
        answers: list[Answer | None],
        positions: Sequence[int],
        rows: Sequence[RequestRow],
        model: ServedModel,
        role: ModelRole,
        *,
        fallback: bool,
    ) -> None:
        try:
            scores = self._scorer.score(model, [rows[i].vector for i in positions])
        except Exception:
            self._observer.model_failed(model.version, role)
            raise
        self._place(answers, positions, model, role, scores, fallback=fallback)

    def _place(
        self,
        answers: list[Answer | None],
        positions: Sequence[int],
        model: ServedModel,
        role: ModelRole,
        scores: Scores,
        *,
        fallback: bool,
    ) -> None:
        self._observer.model_called(model.version, role, scores.seconds, len(positions))
        for position, output in zip(positions, scores.outputs, strict=True):
            answers[position] = Answer(model, role, output, scores.seconds, fallback)

    def _await_challenger(
        self, future: Future[Scores], challenger: ServedModel, started: float, instances: int
    ) -> Scores | None:
        remaining = max(0.0, self._timeout - (time.monotonic() - started))
        try:
            return future.result(timeout=remaining)
        except FutureTimeout:
            future.cancel()
            reason: Literal["error", "timeout"] = "timeout"
            _LOGGER.warning(
                "challenger %s took longer than %.0f ms; the champion answered %d instances",
                challenger.version, self._timeout * 1000, instances,
            )  # fmt: skip
        # The challenger is arbitrary model code on trial: whatever it raises must only send
        # its cohort to the champion for this request (isolation is the point of the cohort).
        except Exception:
            reason = "error"
            _LOGGER.exception(
                "challenger %s failed; the champion answered %d instances",
                challenger.version, instances,
            )  # fmt: skip
        with self._stats_lock:
            self.stats.fallbacks += instances
        self._observer.model_failed(challenger.version, CHALLENGER)
        self._observer.fallback(challenger.version, reason, instances)
        return None

    def _record(
        self,
        deployment: Deployment,
        labels: dict[str, LabelSpace],
        request_id: str,
        now: datetime,
        rows: Sequence[RequestRow],
        answers: Sequence[Answer],
        results: Sequence[InstanceResult],
    ) -> None:
        refused = 0
        for row, answer, result in zip(rows, answers, results, strict=True):
            model = answer.model
            prediction = Prediction(
                request_id=request_id,
                instance_id=row.instance_id,
                time=now,
                model=deployment.model_name,
                version=model.version,
                role=answer.role,
                features=result.features,
                output=answer.output,
                latency_ms=answer.seconds * 1000.0,
                unit_id=row.unit_id,
                cohort=row.cohort,
                event_time=row.event_time,
                inputs=row.inputs,
                labels=labels.get(model.version),
                entity=row.entity,
                statuses=result.statuses,
                request_data=request_data(row.raw, result.features),
                # The deploy event that assigned the cohort: the experiment it belongs to.
                experiment_id=deployment.event_id,
                decision=result.decision,
            )
            if not self._recorder.record(prediction):
                refused += 1
                with self._stats_lock:
                    self.stats.predictions_dropped += 1
                self._observer.prediction_dropped()
        if refused:
            raise PredictionLogFullError(
                f"The prediction log is full ({refused} of {len(rows)} predictions of this "
                "request could not be logged); nothing is answered that the log does not "
                "hold. Retry in a moment: a retry of the same request is logged once."
            )

    def _count_statuses(self, model_name: str, rows: Sequence[RequestRow]) -> None:
        """Report how many instances had each (feature, status): once per instance, not
        per model call, whatever models scored it (the vector is the request's)."""
        counts: Counter[tuple[str, str]] = Counter()
        for row in rows:
            counts.update(row.statuses.items())
        self._observer.features_served(model_name, counts)

    def _shadow(
        self, deployment: Deployment, request_id: str, now: datetime, rows: Sequence[RequestRow]
    ) -> None:
        if not deployment.shadows:
            return
        copies = [
            ShadowRow(
                row.instance_id, row.unit_id, row.cohort, row.event_time, row.vector, row.inputs,
                statuses=row.statuses, entity=row.entity, raw=row.raw,
            )
            for row in rows
        ]  # fmt: skip
        for shadow in deployment.shadows:
            self.shadows.submit(
                ShadowJob(deployment.model_name, shadow, request_id, now, copies,
                          experiment_id=deployment.event_id)
            )  # fmt: skip

    def _log_reload_failure(self, exc: Exception, serving: bool, served: int) -> None:
        """Log a failed load once per distinct failure, with a traceback only for a bug.

        The poller retries every ``reload_interval_s`` (a store may come back), so the same
        refusal (no champion yet, say) would otherwise fill the log with one traceback every
        few seconds; a tether error's message already says what is wrong.
        """
        what = f"still serving event {served}" if serving else "nothing is served yet"
        message = f"{type(exc).__name__}: {exc}"
        repeated = message == self._last_reload_failure
        self._last_reload_failure = message
        if repeated:
            _LOGGER.debug("loading the deployment failed again (%s): %s", what, message)
        elif isinstance(exc, TetherError):
            _LOGGER.error("loading the deployment failed (%s): %s", what, exc)
        else:
            _LOGGER.exception("loading the deployment failed (%s)", what)

    def _reload_failed(self, exc: Exception, served: int) -> ReloadResult:
        with self._stats_lock:
            self.stats.reload_failures += 1
        self._observer.reloaded(False, served)
        return ReloadResult("failed", served, f"{type(exc).__name__}: {exc}")

    def _poll(self) -> None:
        while not self._stopping.wait(self._interval):
            self.refresh()


def _checked_spec(deployment: Deployment) -> FeatureSpec:
    """The feature spec of ``deployment``, after checking it can be served at all."""
    for model in deployment.models():
        if not model.features:
            raise ServingError(
                f"{model.name} version {model.version} lists no features; expected the "
                "columns it was trained on."
            )
        if not hasattr(model.model, "predict"):
            raise ServingError(
                f"{model.name} version {model.version} is a {type(model.model).__name__}, "
                "which has no predict method; expected a fitted estimator."
            )
    if deployment.challenger is not None:
        assign_cohort(deployment.experiment_id, None, deployment.challenger_share)
    return FeatureSpec.of(deployment)


def _utc_now() -> datetime:
    return datetime.now(UTC)
