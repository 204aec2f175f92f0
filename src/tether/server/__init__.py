"""The prediction server: FastAPI on uvicorn, thin over :mod:`tether.serving`.

``create_app`` wires a :class:`~tether.serving.Router` (champion, sticky challenger,
shadows, hot reload), the prediction log, the online feature lookup and the registry's
:class:`Admin` to HTTP::

    POST /v1/predict         score instances            GET /healthz   alive
    POST /v1/feedback        label a scored instance    GET /readyz    ready to serve
    POST /v1/admin/deploy|promote|rollback|retire       GET /metrics   Prometheus
    GET  /v1/admin/status                               GET /dashboard/ the dashboard

Error responses share one shape (:class:`ErrorBody`); with several uvicorn workers, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before starting them (see ``_metrics.py``).
``create_project_app(project)`` builds the server of a :class:`~tether.Project`, and
``app_from_environment`` is the uvicorn factory of each worker process;
``create_dashboard_app(dashboard)`` serves the dashboard alone (``tether dashboard``).
Importing this package imports no MLflow: that waits until the first model is loaded.

>>> app = create_app(settings.serving, source=source, predictions=log)  # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from tether.server._app import create_app
from tether.server._dashboard import create_dashboard_app
from tether.server._errors import ErrorBody
from tether.server._project import app_from_environment, create_project_app
from tether.server._state import Admin

__all__ = [
    "Admin",
    "ErrorBody",
    "app_from_environment",
    "create_app",
    "create_dashboard_app",
    "create_project_app",
]
