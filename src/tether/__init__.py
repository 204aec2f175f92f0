"""tether keeps production models honest.

The public Python API, for notebooks and pipelines; the same operations as the CLI::

    import tether

    settings = tether.load_settings("my-project")
    result = tether.train_project(settings)
    report = tether.reproduce(settings.stores, result.run_id)
    print(tether.render_markdown(tether.audit(settings.stores, result.run_id)))
"""

import typing

from tether import _telemetry  # noqa: F401 - imported first: it switches telemetry off
from tether.config import Settings, Stores, load_settings, locate_stores
from tether.errors import TetherError

if typing.TYPE_CHECKING:
    from tether.lineage import (
        AuditReport,
        ReproduceReport,
        TrainContext,
        TrainResult,
        audit,
        render_html,
        render_json,
        render_markdown,
        reproduce,
        train_project,
    )

_LINEAGE = frozenset(
    {
        "AuditReport",
        "ReproduceReport",
        "TrainContext",
        "TrainResult",
        "audit",
        "render_html",
        "render_json",
        "render_markdown",
        "reproduce",
        "train_project",
    }
)
"""Names loaded on first use: ``tether.lineage`` imports MLflow, which takes seconds, and
``import tether.features`` or ``tether.serving`` (a server, a feature lookup) must not pay it."""


def __getattr__(name: str) -> typing.Any:
    if name in _LINEAGE:
        from tether import lineage

        value = getattr(lineage, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tether' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "ReproduceReport",
    "Settings",
    "Stores",
    "TetherError",
    "TrainContext",
    "TrainResult",
    "__version__",
    "audit",
    "load_settings",
    "locate_stores",
    "render_html",
    "render_json",
    "render_markdown",
    "reproduce",
    "train_project",
]
