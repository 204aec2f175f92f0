"""tether keeps production models honest.

The public Python API, for notebooks and pipelines; the same operations as the CLI::

    import tether
    from tether.lineage import render_markdown

    with tether.Project.open("my-project") as project:
        result = project.train()
        report = project.reproduce(result.run_id)
        print(render_markdown(project.audit(result.run_id)))

``import tether`` is cheap (no pandas, no MLflow): :class:`Project` builds what it is asked
for on first use, and each package (``tether.lineage``, ``tether.registry``,
``tether.features``, ``tether.serving``) is imported when it is used.
"""

from tether import _telemetry  # noqa: F401 - imported first: it switches telemetry off
from tether._clock import Clock, ReplayClock, WallClock
from tether.config import Settings, Stores, load_settings, locate_stores
from tether.errors import TetherError
from tether.project import Project

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "Project",
    "ReplayClock",
    "Settings",
    "Stores",
    "TetherError",
    "WallClock",
    "__version__",
    "load_settings",
    "locate_stores",
]
