"""Whether the tracking store answers, checked before a process first calls it; no MLflow.

Every wait on the tracking store is bounded. Before its first call to a store,
:mod:`tether._mlflow` calls :func:`check_tracking_store`, which waits with the timeout and
retries of ``[tracking]`` (exported by :mod:`tether.config` in MLflow's
``MLFLOW_HTTP_REQUEST_TIMEOUT`` and ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, which MLflow's HTTP
client reads too; :func:`tracking_limits`): an HTTP store must answer a request, a database
must accept a connection (the driver's ``connect_timeout``). MLflow's own database retry loop
(10 attempts over about 100 s, not configurable) is thus never what a dead store meets. A
store that answered once is not checked again in the process. Every message names the store
with its credentials masked (:func:`tether._uris.mask_uri`).

requests and SQLAlchemy are imported inside the functions that use them, as MLflow is in
:mod:`tether._mlflow`: ``import tether`` must not pay for them.
"""

from __future__ import annotations

import os
import threading
import time

from tether._uris import mask_uri
from tether.config import (
    DEFAULT_TRACKING_RETRIES,
    DEFAULT_TRACKING_TIMEOUT_S,
    MLFLOW_RETRIES_ENV,
    MLFLOW_TIMEOUT_ENV,
)
from tether.errors import TrackingError

CHECK_HINT = (
    "Check [tracking] uri in tether.toml or TETHER_TRACKING_URI, or raise [tracking] "
    "timeout_s and retries for a slow store."
)
"""What a message about an unreachable store tells the user to check."""
_DATABASE_SCHEMES = {"postgresql", "mysql", "mssql"}  # MLflow's remote SQLAlchemy stores
_reachable: set[str] = set()  # stores this process has reached once: checked no more
_reachable_lock = threading.Lock()


def tracking_limits() -> tuple[int, int]:
    """The tracking timeout (seconds) and retries in force in this process.

    They are MLflow's environment variables (set from ``[tracking]`` when settings are
    read), else tether's defaults.
    """
    return (
        _int_variable(MLFLOW_TIMEOUT_ENV, DEFAULT_TRACKING_TIMEOUT_S),
        _int_variable(MLFLOW_RETRIES_ENV, DEFAULT_TRACKING_RETRIES),
    )


def check_tracking_store(tracking_uri: str, action: str = "reach the tracking store") -> None:
    """Return once the tracking store at ``tracking_uri`` answers; checked once per process.

    A local store (a SQLite file, a folder) needs no check, nor a scheme of an MLflow
    plugin. An HTTP store must answer one request (any status: it is up) and a database
    must accept a connection, each within the timeout, with the configured retries and a
    backoff of 1 s, 2 s, 4 s...

    Raises:
        TrackingError: the store did not answer; the message names it (masked), the
            attempts made and what to check.
    """
    scheme = tracking_uri.partition("://")[0].lower() if "://" in tracking_uri else ""
    if tracking_uri in _reachable:
        return
    if scheme in {"http", "https"}:
        attempt = _http_attempt
    elif scheme.partition("+")[0] in _DATABASE_SCHEMES:
        attempt = _database_attempt
    else:
        return  # a local file or folder, or a scheme MLflow's plugins know: nothing to wait on
    import requests
    import sqlalchemy as sa

    timeout, retries = tracking_limits()
    failure: Exception | None = None
    for number in range(retries + 1):
        if number:
            time.sleep(min(2.0 ** (number - 1), 8.0))
        try:
            attempt(tracking_uri, timeout)
        except ImportError as exc:
            raise TrackingError(
                mask_uri(
                    f"Could not {action}: the tracking store {tracking_uri} needs a database "
                    f"driver that is not installed ({exc}). tether installs psycopg 3: write "
                    "the URI as postgresql+psycopg://..."
                )
            ) from exc
        except (OSError, requests.RequestException, sa.exc.SQLAlchemyError) as exc:
            failure = exc
            continue
        with _reachable_lock:
            _reachable.add(tracking_uri)
        return
    raise TrackingError(
        mask_uri(
            f"Could not {action}: the tracking store at {tracking_uri} could not be reached in "
            f"{retries + 1} attempt(s) of {timeout} s each ({_first_line(failure)}). " + CHECK_HINT
        )
    ) from failure


def _http_attempt(tracking_uri: str, timeout: int) -> None:
    import requests

    # Any answer at all proves the server is up; what it answers is MLflow's business.
    requests.get(tracking_uri, timeout=timeout, allow_redirects=False).close()


def _database_attempt(tracking_uri: str, timeout: int) -> None:
    import sqlalchemy as sa

    url = sa.make_url(tracking_uri)
    # libpq (psycopg, psycopg2) and the MySQL drivers all take connect_timeout in seconds.
    connect_args = {"connect_timeout": timeout} if url.get_backend_name() in {
        "postgresql", "mysql"} else {}  # fmt: skip
    engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def _first_line(exc: BaseException | None) -> str:
    # Drivers' messages run over several lines (SQLAlchemy appends a link to its docs).
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _int_variable(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    try:
        return int(text) if text else default
    except ValueError:
        raise TrackingError(
            f"The environment variable {name} is {text!r}; expected a whole number."
        ) from None
