"""In-process measurements of the serving benchmark: where tether's request time goes.

Run as a script, pinned by the parent to the server core (so scikit-learn's OpenMP pool has
one thread, as in the servers)::

    python _serving_inprocess.py --project BASE --bodies bodies-tether.jsonl --calls 2000 \
        --out inprocess.json

Every number is a median over interleaved blocks, in wall time and in CPU time. CPU time is
the one to trust on this shared machine: another tenant's load stretches wall time, not CPU.

* **model call**: ``predict_proba`` of version 1 on one row, given a pandas DataFrame (what
  tether's scoring does, because the estimator was fitted on one) and given a NumPy array;
  and on 32 rows at once (what scoring a batch of queued shadow jobs in one call would cost).
* **router**: :meth:`tether.serving.Router.predict` of one instance, with the real models and a
  real SQLite prediction log, for three deployments (champion; champion + shadow; champion +
  shadow + 10% challenger). Its CPU per request is the whole process's (``process_time``)
  over a block, after the shadow queue is drained and the log flushed, so the off-path work
  (the log's writer thread, the shadow thread, the challenger's thread) is counted too.
* **app**: the same through the whole ASGI app of :func:`tether.server.create_app` (FastAPI,
  pydantic, middlewares, the thread-pool hop), called directly without a socket; for the
  champion also with 8 and 32 requests in flight (the sync endpoint's threads contend for
  the GIL on one core).
* **enqueue**: the shadow's cost on the request path. ``Router.predict`` with and without a
  shadow, on models that answer at once (so that milliseconds of scoring do not drown
  microseconds), the shadow thread not started (jobs are only queued); the difference of the
  medians is what the shadow adds to the request handler: copying the rows, building the
  job, ``ShadowWorker.submit``. ``submit`` itself is also timed alone.
* **profile**: cProfile of ``Router.predict`` (champion only), the cumulative time of the
  functions that make up a request.
* **prediction log write** (``--log-write-only`` runs it alone, in a few seconds, with no
  project): what recording one 20-feature prediction costs the request on SQLite and on
  PostgreSQL, for the two ways of handling an instance id sent again with other inputs.
  *Batched*: ``PredictionLog.record`` (enqueue; the writer thread inserts batches off the
  path, keyed by the request digest); its whole cost, the writer's CPU included, is also
  given as process CPU per prediction over ``record`` + ``flush``. *Synchronous check*: one
  write transaction per prediction on the request path (``INSERT ... ON CONFLICT DO
  NOTHING`` and, when it inserted nothing, reading the stored digest to tell a retry from a
  conflict: the check a 409 needs to hold across workers and replicas), alone and from
  :data:`LOG_THREADS` threads at once.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import tether
from tether._storage import Database, open_database
from tether.errors import ServingError
from tether.registry import EventLog
from tether.server import create_app
from tether.serving import (
    Deployment,
    InstanceRequest,
    NullObserver,
    Prediction,
    PredictionLog,
    Router,
    ServedModel,
    load_version,
)
from tether.serving import _predlog_sql as predlog_sql
from tether.serving._prediction import prediction_row

BLOCK = 50
"""Calls per block; blocks of the contenders of one measurement alternate."""
ENQUEUE_CALLS = 20_000
APP_CONCURRENCY = (1, 8, 32)
"""Requests in flight in the ASGI app measurement of the champion (thread-pool contention)."""
BATCH_ROWS = 32
ROUNDS = 3
"""The router and app measurements run in this many interleaved parts; medians are kept."""
EXPERIMENT = "serving-benchmark"
LOG_THREADS = 8
"""Request threads writing at once in the synchronous-check measurement."""
LOG_FEATURES = 20


@dataclass(frozen=True)
class MemorySource:
    """A :class:`~tether.serving.DeploymentSource` that always serves one deployment."""

    deployment: Deployment

    def latest_event_id(self) -> int:
        """The deployment's event id."""
        return self.deployment.event_id

    def load(self) -> Deployment:
        """The deployment."""
        return self.deployment


@dataclass
class ModelSeconds(NullObserver):
    """A :class:`~tether.serving.ServingObserver` that sums model-call seconds by role (and,
    as :class:`~tether.serving.NullObserver`, ignores every other event)."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def model_called(self, version: str, role: str, seconds: float, instances: int) -> None:
        """Add a call."""
        self.seconds[role] = self.seconds.get(role, 0.0) + seconds
        self.calls[role] = self.calls.get(role, 0) + 1


class InstantClassifier:
    """A binary classifier that answers at once (for timing what surrounds a model call)."""

    classes_ = np.array([0, 1])

    def predict_proba(self, inputs: np.ndarray) -> np.ndarray:
        """0.1 for every row."""
        return np.tile([0.9, 0.1], (len(inputs), 1))

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Class 0 for every row."""
        return np.zeros(len(inputs), dtype=np.int64)


class NullRecorder:
    """A prediction recorder that keeps nothing."""

    def record(self, prediction: object) -> bool:
        """Accept and forget."""
        return True


def timed_blocks(
    contenders: dict[str, Callable[[int], object]], calls: int
) -> dict[str, dict[str, float]]:
    """Median wall and thread-CPU microseconds per call, contenders' blocks alternating.

    Each contender is called with the call's index (to pick a request row).
    """
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for block in range(max(1, calls // BLOCK)):
        for name, call in contenders.items():
            for i in range(block * BLOCK, (block + 1) * BLOCK):
                started, cpu_started = time.perf_counter(), time.thread_time()
                call(i)
                cpu[name].append(time.thread_time() - cpu_started)
                wall[name].append(time.perf_counter() - started)
    return {
        name: {
            "wall_us": statistics.median(wall[name]) * 1e6,
            "cpu_us": statistics.median(cpu[name]) * 1e6,
            "wall_p99_us": float(np.percentile(wall[name], 99)) * 1e6,
        }
        for name in contenders
    }


def model_call(model: ServedModel, rows: np.ndarray, calls: int) -> dict[str, dict[str, float]]:
    """``predict_proba`` on one row: DataFrame against NumPy (and building the DataFrame)."""
    estimator, names = model.model, list(model.features)
    frames = [pd.DataFrame(rows[i : i + 1], columns=names, copy=False) for i in range(len(rows))]
    arrays = [rows[i : i + 1] for i in range(len(rows))]
    batch = rows[:BATCH_ROWS]
    batch_frame = pd.DataFrame(batch, columns=names, copy=False)
    same = all(
        estimator.predict_proba(frames[i])[0, 1] == estimator.predict_proba(arrays[i])[0, 1]
        for i in range(min(200, len(rows)))
    )
    result = timed_blocks(
        {
            "predict_proba(DataFrame)": lambda i: estimator.predict_proba(frames[i % len(rows)]),
            "predict_proba(ndarray)": lambda i: estimator.predict_proba(arrays[i % len(rows)]),
            "pd.DataFrame(row)": lambda i: pd.DataFrame(
                arrays[i % len(rows)], columns=names, copy=False
            ),
            f"predict_proba(DataFrame), {BATCH_ROWS} rows": lambda i: estimator.predict_proba(
                batch_frame
            ),
            f"predict_proba(ndarray), {BATCH_ROWS} rows": lambda i: estimator.predict_proba(batch),
        },
        calls,
    )
    result["same_outputs"] = {"first_200_rows_identical": float(same)}
    return result


def openmp_threads() -> int:
    """The threads scikit-learn's OpenMP pool would use here (1 when pinned to one core)."""
    from threadpoolctl import threadpool_info

    pools = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]
    return int(max(pools, default=0))


def instances(bodies: list[dict[str, Any]]) -> list[InstanceRequest]:
    """The request bodies as router instances."""
    return [
        InstanceRequest(
            features=b["instances"][0]["features"], unit_id=b["instances"][0]["unit_id"]
        )
        for b in bodies
    ]


def deployments(models: dict[str, ServedModel]) -> dict[str, Deployment]:
    """The three deployments the HTTP benchmark serves, in memory."""
    champion, challenger, shadow = models["1"], models["2"], models["3"]
    return {
        "champion": Deployment("fraud-detector", champion, event_id=1),
        "champion + shadow": Deployment("fraud-detector", champion, shadows=(shadow,), event_id=1),
        "champion + shadow + 10% challenger": Deployment(
            "fraud-detector", champion, challenger, 0.1, EXPERIMENT, (shadow,), event_id=1
        ),
    }


@contextmanager
def started_router(deployment: Deployment, folder: Path) -> Iterator[tuple[Router, ModelSeconds]]:
    """A started router over ``deployment`` logging to a fresh SQLite file in ``folder``."""
    log = PredictionLog(f"sqlite:///{folder / f'predictions-{time.monotonic_ns()}.db'}")
    observer = ModelSeconds()
    router = Router(MemorySource(deployment), log, observer=observer)
    router.start()
    try:
        yield router, observer
    finally:
        router.close()
        log.close()


def router_costs(
    deployment: Deployment, requests: list[InstanceRequest], calls: int, folder: Path
) -> dict[str, float]:
    """Request-path wall time and whole-process CPU per request of ``Router.predict``."""
    with started_router(deployment, folder) as (router, observer):
        for i in range(min(100, calls)):  # warm up
            router.predict([requests[i % len(requests)]])
        router.shadows.drain(60.0)
        observer.seconds.clear()
        observer.calls.clear()
        walls = []
        cpu = time.process_time()
        for i in range(calls):
            started = time.perf_counter()
            router.predict([requests[i % len(requests)]])
            walls.append(time.perf_counter() - started)
        router.shadows.drain(60.0)
        cpu = time.process_time() - cpu
        dropped = router.shadows.dropped
    per_role = {f"model_ms_{role}": s * 1e3 / calls for role, s in observer.seconds.items()}
    return {
        "wall_p50_ms": statistics.median(walls) * 1e3,
        "wall_p99_ms": float(np.percentile(walls, 99)) * 1e3,
        "cpu_ms_per_request": cpu * 1e3 / calls,
        "shadow_dropped": float(dropped),
        **per_role,
    }


async def _asgi_post(app: Any, path: str, body: bytes) -> int:
    """POST ``body`` to ``app`` through ASGI alone; the response status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(10)  # nobody waits for a disconnect of a plain response
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    async with asyncio.timeout(30):
        await app(scope, receive, send)
    return status


async def _app_run(
    app: Any, bodies: list[bytes], calls: int, concurrency: int
) -> tuple[list[float], float]:
    """Requests from ``concurrency`` callers at once; latencies and process CPU seconds."""
    walls: list[float] = []
    issued = 0

    async def caller() -> None:
        nonlocal issued
        while issued < calls:
            body = bodies[issued % len(bodies)]
            issued += 1
            started = time.perf_counter()
            status = await _asgi_post(app, "/v1/predict", body)
            walls.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"the app answered {status} in-process")

    async with app.router.lifespan_context(app):
        for i in range(min(100, calls)):
            await _asgi_post(app, "/v1/predict", bodies[i % len(bodies)])
        router = app.state.tether.router
        router.shadows.drain(60.0)
        cpu = time.process_time()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        router.shadows.drain(60.0)
        return walls, time.process_time() - cpu


def app_costs(
    deployment: Deployment, settings: tether.Settings, bodies: list[bytes], calls: int,
    folder: Path, concurrency: int = 1,
) -> dict[str, float]:  # fmt: skip
    """Like :func:`router_costs`, through the whole ASGI app (no socket, no HTTP parsing);
    ``concurrency`` requests in flight at once (the endpoint runs on a thread pool)."""
    log = PredictionLog(f"sqlite:///{folder / f'app-{time.monotonic_ns()}.db'}")
    app = create_app(settings.serving, source=MemorySource(deployment), predictions=log)
    walls, cpu = asyncio.run(_app_run(app, bodies, calls, concurrency))
    return {
        "wall_p50_ms": statistics.median(walls) * 1e3,
        "wall_p99_ms": float(np.percentile(walls, 99)) * 1e3,
        "cpu_ms_per_request": cpu * 1e3 / calls,
    }


def enqueue_cost(requests: list[InstanceRequest], features: tuple[str, ...]) -> dict[str, Any]:
    """What a shadow adds to ``Router.predict`` (instant models, shadow thread not started)."""

    def served(version: str) -> ServedModel:
        return ServedModel("fraud-detector", version, InstantClassifier(), features, "0" * 64)

    plain = Deployment("fraud-detector", served("1"), event_id=1)
    shadowed = Deployment("fraud-detector", served("1"), shadows=(served("3"),), event_id=1)
    routers = {}
    for name, deployment in {"without shadow": plain, "with shadow": shadowed}.items():
        router = Router(
            MemorySource(deployment), NullRecorder(), shadow_queue_size=ENQUEUE_CALLS * 2
        )
        router.refresh()  # loads the deployment; start() would start the shadow thread
        routers[name] = router
    times = timed_blocks(
        {name: (lambda i, r=r: r.predict([requests[i % len(requests)]]))
         for name, r in routers.items()},
        ENQUEUE_CALLS // 2,
    )  # fmt: skip
    submit = _submit_alone(routers["with shadow"], served("3"))
    for router in routers.values():
        router.close()
    return {
        "router": times,
        "added_wall_us": times["with shadow"]["wall_us"] - times["without shadow"]["wall_us"],
        "added_cpu_us": times["with shadow"]["cpu_us"] - times["without shadow"]["cpu_us"],
        "submit_alone": submit,
    }


def _submit_alone(router: Router, shadow: ServedModel) -> dict[str, float]:
    """``ShadowWorker.submit`` of one single-row job, timed alone (jobs are only queued)."""
    # The job type is internal to tether.serving; it is built here only to time submit alone.
    from tether.serving._shadow import ShadowJob, ShadowRow

    now = datetime.now(UTC)
    row = ShadowRow("i", "customer-1", "champion", now, dict.fromkeys(shadow.features, 1.0))
    job = ShadowJob("fraud-detector", shadow, "request", now, [row])
    worker = router.shadows
    return timed_blocks({"ShadowWorker.submit": lambda i: worker.submit(job)}, ENQUEUE_CALLS // 4)[
        "ShadowWorker.submit"
    ]


def _log_prediction(number: int, prefix: str) -> Prediction:
    features = {f"f{n}": float(number + n) for n in range(LOG_FEATURES)}
    return Prediction(
        request_id=f"r-{prefix}-{number}", instance_id=f"{prefix}-{number}",
        time=datetime.now(UTC), model="fraud-detector", version="1", role="champion",
        features=features, output=0.25, latency_ms=1.0, unit_id=f"c{number % 100}",
        inputs={"features": features, "unit_id": f"c{number % 100}", "event_time": None},
    )  # fmt: skip


def _synchronous_check(database: Database, log: PredictionLog, prediction: Prediction) -> None:
    """What a 409 for a reused instance id costs the request: one write transaction."""
    # The log's own row encoding is used so both contenders store the same row.
    row = prediction_row(prediction, log._redaction)[0]
    with database.write() as transaction:
        if transaction.execute(predlog_sql.INSERT_PREDICTION, row) == 0:
            transaction.fetch_one(
                "SELECT input_digest FROM tether_predictions WHERE instance_id = :i "
                "AND model = :m AND version = :v",
                {"i": row["instance_id"], "m": row["model"], "v": row["version"]},
            )


def _threaded_checks(database: Database, log: PredictionLog, calls: int) -> dict[str, float]:
    """Synchronous checks from :data:`LOG_THREADS` threads: throughput and latency."""
    walls: list[float] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        mine = []
        for i in range(calls // LOG_THREADS):
            started = time.perf_counter()
            _synchronous_check(database, log, _log_prediction(i, f"t{thread}"))
            mine.append(time.perf_counter() - started)
        with lock:
            walls.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(LOG_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "per_second": len(walls) / elapsed,
        "wall_p50_us": statistics.median(walls) * 1e6,
        "wall_p99_us": float(np.percentile(walls, 99)) * 1e6,
    }


def _batched_cpu(log: PredictionLog, calls: int) -> float:
    """Process CPU microseconds per prediction of ``record`` + ``flush`` (writer included)."""
    cpu_started = time.process_time()
    for i in range(calls):
        log.record(_log_prediction(i, "cpu"))
    log.flush()
    return (time.process_time() - cpu_started) * 1e6 / calls


def prediction_log_costs(urls: dict[str, str], calls: int) -> dict[str, Any]:
    """The prediction log write measurement of the module docstring, per database."""
    return {name: _log_costs(url, calls) for name, url in urls.items()}


def _log_costs(url: str, calls: int) -> dict[str, Any]:
    log = PredictionLog(url)
    database = open_database(url, error=ServingError, purpose="benchmark")
    try:
        times = timed_blocks(
            {
                "batched (record)": lambda i: log.record(_log_prediction(i, "batched")),
                "synchronous check": lambda i: _synchronous_check(
                    database, log, _log_prediction(i, "sync")
                ),
            },
            calls,
        )
        log.flush()
        return {
            **times,
            "batched_process_cpu_us": _batched_cpu(log, calls),
            "synchronous_threads": _threaded_checks(database, log, calls),
        }
    finally:
        database.dispose()
        log.close()


PROFILED = {
    "Router.predict": ("_router.py", "predict"),
    "  validation and assembly (_prepare)": ("_router.py", "_prepare"),
    "  scoring (_answer)": ("_router.py", "_answer"),
    "    score(): tether's model call": ("_scoring.py", "score"),
    "      pandas.DataFrame(...) in score": ("frame.py", "__init__"),
    "      predict_proba": ("gradient_boosting.py", "predict_proba"),
    "        input validation (validate_data)": ("validation.py", "validate_data"),
    "        trees (_predict_iterations)": ("gradient_boosting.py", "_predict_iterations"),
    "  prediction log enqueue (_record)": ("_router.py", "_record"),
    "  shadow enqueue (_shadow)": ("_router.py", "_shadow"),
}


def profile(deployment: Deployment, requests: list[InstanceRequest], calls: int,
            folder: Path) -> dict[str, Any]:  # fmt: skip
    """cProfile of ``calls`` champion-only ``Router.predict`` calls: ms per call by function."""
    with started_router(deployment, folder) as (router, _):
        for i in range(min(100, calls)):
            router.predict([requests[i % len(requests)]])
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(calls):
            router.predict([requests[i % len(requests)]])
        profiler.disable()
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for label, (filename, function) in PROFILED.items():
        total = sum(
            entry[3]
            for (path, _, name), entry in table.items()
            if path.endswith(filename) and name == function
        )
        found[label] = total * 1e3 / calls
    stats.sort_stats("cumulative").print_stats(30)
    return {"ms_per_call": found, "calls": calls}


def interleaved(measures: dict[str, Callable[[], dict[str, float]]]) -> dict[str, Any]:
    """Each measure :data:`ROUNDS` times, the measures alternating; the median of each number
    (and, under ``rounds``, every round's numbers)."""
    found: dict[str, list[dict[str, float]]] = {name: [] for name in measures}
    for _ in range(ROUNDS):
        for name, measure in measures.items():
            found[name].append(measure())
    return {
        name: {
            **{
                key: statistics.median(r[key] for r in rounds if key in r)
                for key in dict.fromkeys(k for r in rounds for k in r)
            },
            "rounds": rounds,
        }
        for name, rounds in found.items()
    }


def main() -> None:
    """Run every measurement and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project")
    parser.add_argument("--bodies")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model-call-only", action="store_true")
    parser.add_argument("--log-write-only", action="store_true", help="no project needed")
    parser.add_argument("--postgres-url", help="also measure the log on this PostgreSQL")
    args = parser.parse_args()
    if args.log_write_only:
        Path(args.out).write_text(json.dumps(log_write(args), indent=2))
        return
    if not (args.project and args.bodies):
        parser.error("--project and --bodies are required (except with --log-write-only)")
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    settings = tether.load_settings(args.project)
    events = EventLog(settings.store.url)
    models = {
        v: load_version(settings.stores.tracking_uri, settings.model_name, v, events=events)
        for v in "123"
    }
    texts = [line for line in Path(args.bodies).read_text().splitlines() if line]
    parsed = [json.loads(text) for text in texts]
    requests = instances(parsed)
    features = models["1"].features
    rows = np.array([[b["instances"][0]["features"][n] for n in features] for b in parsed])
    result: dict[str, Any] = {"calls": args.calls}
    result["model_call"] = model_call(models["1"], rows, args.calls)
    result["openmp_threads"] = openmp_threads()
    if args.model_call_only:
        Path(args.out).write_text(json.dumps(result, indent=2))
        return
    result["enqueue"] = enqueue_cost(requests, features)
    part = max(1, args.calls // ROUNDS)
    bodies = [text.encode() for text in texts]
    served = deployments(models)
    with tempfile.TemporaryDirectory(prefix="tether-serving-bench-") as scratch:
        folder = Path(scratch)
        result["router"] = interleaved(
            {name: partial(router_costs, d, requests, part, folder) for name, d in served.items()}
        )
        result["app"] = interleaved(
            {name: partial(app_costs, d, settings, bodies, part, folder)
             for name, d in served.items()}
        )  # fmt: skip
        result["app_concurrent"] = interleaved(
            {str(n): partial(app_costs, served["champion"], settings, bodies, part, folder, n)
             for n in APP_CONCURRENCY}
        )  # fmt: skip
        result["profile"] = profile(served["champion"], requests, min(args.calls, 1000), folder)
    result["prediction_log"] = log_write(args)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2), file=sys.stderr)


def log_write(args: argparse.Namespace) -> dict[str, Any]:
    """The prediction log write measurement, on a scratch SQLite file (and PostgreSQL)."""
    with tempfile.TemporaryDirectory(prefix="tether-log-bench-") as scratch:
        urls = {"sqlite": f"sqlite:///{Path(scratch) / 'predictions.db'}"}
        if args.postgres_url:
            urls["postgresql"] = args.postgres_url
        found = prediction_log_costs(urls, min(args.calls, 2000))
    print(json.dumps(found, indent=2), file=sys.stderr)
    return found


if __name__ == "__main__":
    main()
