"""``tether serve``: the prediction server of the project, on uvicorn.

What it prints, on stderr, through uvicorn's loggers and formats: uvicorn's start-up lines,
tether's line naming the model versions loaded and the stores (credentials masked), one
access-log line per request (uvicorn's ``client - "METHOD path HTTP/1.1" status``; off with
``--no-access-log`` or ``[serving] access_log = false``), and on shutdown what the prediction
log wrote. Every handler carries :class:`~tether._uris.MaskingFilter`, so no log line, a
library's traceback included, holds a credential.

A port already taken is refused before anything is loaded, with exit code 2. SIGTERM or
SIGINT during start-up (while models load or a store is being reached) ends the process at
once: nothing has been served, so there is nothing to drain.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import shutil
import signal
import socket
from types import FrameType
from typing import Any

import typer

from tether.cli._app import State, app
from tether.config import PROJECT_ENV, load_settings
from tether.errors import ServingError

# uvicorn, FastAPI and the server are imported when `tether serve` runs, never for --help.

METRICS_DIR = "metrics"
_LOGGER = logging.getLogger("tether.serve")


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    # The defaults come from tether.toml, so the help says so instead of showing 0 or "".
    host: str = typer.Option(
        "", help="Address to bind (default: [serving] host, 127.0.0.1).", show_default=False
    ),
    port: int = typer.Option(
        0, min=0, max=65535, help="Port (default: [serving] port, 8000).", show_default=False
    ),
    workers: int = typer.Option(
        0, help="uvicorn worker processes (default: [serving] workers).", show_default=False
    ),
    access_log: bool | None = typer.Option(
        None,
        "--access-log/--no-access-log",
        help="One line per request, uvicorn's format (default: [serving] access_log, on).",
        show_default=False,
    ),
) -> None:
    """Serve predictions: champion, sticky challenger, shadows, feedback, admin, metrics."""
    import uvicorn

    state: State = ctx.obj
    settings = load_settings(state.project)
    serving = settings.serving
    host, port, workers = host or serving.host, port or serving.port, workers or serving.workers
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": server_log_config(),
        "access_log": serving.access_log if access_log is None else access_log,
        "limit_concurrency": serving.max_connections,
    }
    check_port_free(host, port)
    if workers == 1:
        from tether.project import Project
        from tether.server import create_project_app

        server = _server_class()(
            uvicorn.Config(create_project_app(Project.open(settings)), **options)
        )
        server.run()
        if not server.started:
            raise ServingError(
                f"The server on {host}:{port} stopped during start-up; the reason is in the "
                "log above."
            )
        return
    # Several workers: each process builds its own app from the project folder, follows the
    # event log for alias changes, and writes its metrics to one folder that /metrics sums.
    metrics = settings.state_dir / METRICS_DIR
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    os.environ[PROJECT_ENV] = str(settings.project_dir)
    uvicorn.run("tether.server:app_from_environment", factory=True, workers=workers, **options)


def check_port_free(host: str, port: int) -> None:
    """Refuse a port that another process listens on, before anything is loaded.

    Bound with ``SO_REUSEADDR`` as uvicorn binds, so that a port left in TIME_WAIT by a
    server that just stopped is not mistaken for a taken one.

    Raises:
        ServingError: the port is taken (or the address cannot be bound), naming both.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServingError(
                    f"Port {port} on {host} is already in use, by another server (perhaps "
                    "another tether serve). Stop that process, or pick a free port with "
                    "--port N or [serving] port in tether.toml."
                ) from exc
            raise ServingError(
                f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Check --host and "
                "--port, or [serving] host and port in tether.toml."
            ) from exc


def server_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, with credentials masked and tether's loggers in it.

    A dictionary, not handlers installed in this process, because each worker process
    applies it again when it starts.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"mask": {"()": "tether._uris.MaskingFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["mask"]
    # tether's own warnings and errors, and the start-up and shutdown lines, in uvicorn's
    # format. Refused requests (4xx) are logged at INFO by the server: the access log has them.
    config["loggers"]["tether"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    config["loggers"]["tether.serve"] = {"level": "INFO"}
    # A deployment the server picks up (a deploy, promote or rollback) is worth a line.
    config["loggers"]["tether.serving._router"] = {"level": "INFO"}
    return config


def _server_class() -> type[Any]:
    """uvicorn's server class, ending the process on a signal during start-up (see below).

    Defined on first use, so that importing this module does not import uvicorn.
    """
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, ending the process on a signal that arrives during start-up.

        uvicorn only records a signal while the ASGI lifespan starts (models load, stores are
        reached) and acts on it once start-up is over, which a store that never answers made
        minutes (the process ignored SIGTERM meanwhile). Nothing is served before start-up
        ends, so there is nothing to drain: the process ends as the signal asks.
        """

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            """Stop at once during start-up; afterwards, uvicorn's graceful shutdown."""
            if not self.started:
                _LOGGER.warning(
                    "stopped by %s during start-up, before serving anything",
                    signal.Signals(sig).name,
                )
                signal.signal(sig, signal.SIG_DFL)
                signal.raise_signal(sig)
            super().handle_exit(sig, frame)

    return Server
