"""The dashboard and the static report: what monitoring, the registry and the loop stored.

:class:`Dashboard` renders each page over a project's stores as HTML (the server mounts them at
``/dashboard``; ``tether dashboard`` serves them alone); :meth:`Dashboard.report` writes every
view of a model as one self-contained file (``tether report``). The pages compute nothing that
:mod:`tether.monitoring` does not: they read its series, runs and alerts, the event log, the
loop's events and the audit (:mod:`._views`).

>>> from tether.dashboard import Dashboard
>>> html = Dashboard(Project.open(".")).report("fraud")  # doctest: +SKIP
"""

from tether.dashboard._pages import DEFAULT_PREFIX, PLOTLY_PATH, Dashboard
from tether.dashboard._plots import plotly_js
from tether.errors import DashboardError

__all__ = ["DEFAULT_PREFIX", "PLOTLY_PATH", "Dashboard", "DashboardError", "plotly_js"]
