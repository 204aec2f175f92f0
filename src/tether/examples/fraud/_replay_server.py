"""The replay's server: the project's app on uvicorn, in a thread of the replaying process.

In-process rather than a subprocess so that the server's router and prediction log read the
very :class:`~tether.ReplayClock` the replay drives (a subprocess would stamp wall time). The
socket is bound here (127.0.0.1, a port the kernel picks) and handed to uvicorn, so no other
process can take the port between choosing and binding it. The server gets a prediction log of
its own (the app closes what it is given when it stops), on the project's store, clock and
redaction, so the project's own log stays usable after the replay.

The app comes from a factory the caller passes (``tether.server.create_app``): the examples
come before the fronts in the import order (tests/test_import_order.py), so they take the
server as an argument rather than import it, and the project as :class:`ReplayProject`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
import uvicorn

from tether._clock import Clock
from tether.config import ServingSettings, Settings
from tether.errors import ServingError
from tether.features import OnlineFeatureStore
from tether.serving import (
    DeploymentSource,
    FeatureLookup,
    FeatureRow,
    FeatureValue,
    OnlineLookup,
    PredictionLog,
    Redaction,
    Router,
)

__all__ = ["AppFactory", "ReplayProject", "ReplayServer", "TimedLookup", "running_server"]


class ReplayProject(Protocol):
    """What the replay reads of a :class:`tether.Project`."""

    @property
    def clock(self) -> Clock:
        """The project's clock (a ReplayClock for a replay)."""

    @property
    def settings(self) -> Settings:
        """The project's settings."""

    @property
    def store_url(self) -> str:
        """Where tether's tables are (the prediction log's database)."""

    @property
    def online_store(self) -> OnlineFeatureStore:
        """The online feature store the replay pushes into and the server reads."""

    @property
    def deployment_source(self) -> DeploymentSource:
        """Where the server loads its deployment from."""


class AppFactory(Protocol):
    """``tether.server.create_app``, as the replay calls it."""

    def __call__(
        self,
        settings: ServingSettings,
        *,
        source: DeploymentSource,
        predictions: PredictionLog,
        features: FeatureLookup | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Any:
        """An ASGI app whose ``state.tether.router`` is its :class:`Router`."""


_POLL_S = 0.02


class TimedLookup:
    """The online lookup, adding up the seconds its calls take (from the server's threads)."""

    def __init__(self, lookup: OnlineLookup) -> None:
        self._lookup = lookup
        self._lock = threading.Lock()
        self.seconds = 0.0
        """Wall seconds spent in :meth:`lookup` so far."""

    def lookup(
        self,
        entities: Sequence[Mapping[str, str]],
        request_data: Sequence[Mapping[str, FeatureValue]],
        at: Sequence[datetime],
    ) -> list[FeatureRow]:
        """See :meth:`OnlineLookup.lookup`; timed."""
        began = time.perf_counter()
        try:
            return self._lookup.lookup(entities, request_data, at)
        finally:
            with self._lock:
                self.seconds += time.perf_counter() - began

    def ping(self) -> None:
        """See :meth:`OnlineLookup.ping`."""
        self._lookup.ping()


@dataclass(frozen=True)
class ReplayServer:
    """The running server's parts the replay drives directly."""

    lookup: TimedLookup
    predictions: PredictionLog
    router: Router

    def refresh(self) -> None:
        """Serve the registry's deployment now if it changed (the loop may have deployed)."""
        self.router.refresh()


@contextmanager
def running_server(
    project: ReplayProject, create_app: AppFactory, *, timeout_s: float
) -> Iterator[tuple[httpx.Client, ReplayServer]]:
    """Start the project's server on 127.0.0.1; yield a client of it and its parts; stop it.

    Raises:
        ServingError: the server did not start within ``timeout_s`` (the reason is logged).
    """
    serving = project.settings.serving
    redaction = Redaction(
        hash=serving.hash_columns, drop=serving.drop_columns, salt=serving.redaction_salt
    )
    predictions = PredictionLog(project.store_url, redaction=redaction, clock=project.clock.now)
    lookup = TimedLookup(OnlineLookup(project.online_store))
    app = create_app(serving, source=project.deployment_source, predictions=predictions,
                     features=lookup, clock=project.clock.now)  # fmt: skip
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listening]}, name="tether-replay-server"
    )
    thread.start()
    try:
        _wait_started(server, thread, timeout_s)
        parts = ReplayServer(lookup, predictions, app.state.tether.router)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=timeout_s, trust_env=False) as client:
            yield client, parts
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        listening.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive():
            raise ServingError(
                "The replay's server stopped during start-up; the reason is in the log above."
            )
        if time.monotonic() > deadline:
            raise ServingError(f"The replay's server did not start within {timeout_s} s.")
        time.sleep(_POLL_S)
