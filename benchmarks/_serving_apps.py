"""Servers of the serving benchmark that are not ``tether serve`` or ``mlflow models serve``.

Run as a script, pinned by the parent to the server core::

    python _serving_apps.py floor  --project DIR --version 1 --port P [--frame]
    python _serving_apps.py whatif --project DIR --port P

* ``floor``: the least a Python server can do. A bare FastAPI endpoint, ``POST /predict``,
  takes tether's request body (the same bytes the load generator sends tether), puts the 14
  features in the model's order into a NumPy row and returns ``predict_proba``'s positive
  class; no validation, no logging, no metrics. The model is the same registered version,
  loaded and verified by :func:`tether.registry.load_version`. ``--frame`` hands the model a
  one-row pandas DataFrame instead, as tether does (a reference row, not the floor).
* ``whatif``: ``tether serve`` of the project, unchanged except that its scoring function is
  replaced at run time by a copy that passes a NumPy array instead of a DataFrame (and ignores
  scikit-learn's warning that the array has no feature names). Not shipped code: it measures
  what that change would buy, to decide on it. The column order is the one tether already
  uses (``ServedModel.features``, read from the estimator's ``feature_names_in_``). The copy
  leaves out the one-OpenMP-thread limit tether's ``score`` sets per thread: on a server
  pinned to one core, as here, OpenMP already runs one thread.

Both are served as ``tether serve`` is: ``uvicorn.run(app)``, one process, asyncio loop.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request, Response

import tether
from tether.registry import load_version
from tether.serving import ServedModel

HOST = "127.0.0.1"
FEATURE_NAMES_WARNING = "X does not have valid feature names"


def floor_app(model: ServedModel, *, frame: bool) -> FastAPI:
    """The bare endpoint around ``model`` (see the module docstring)."""
    app = FastAPI()
    names = list(model.features)
    estimator = model.model

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        features = json.loads(await request.body())["instances"][0]["features"]
        row = np.array([[features[name] for name in names]], dtype=np.float64)
        inputs = pd.DataFrame(row, columns=names, copy=False) if frame else row
        probability = float(estimator.predict_proba(inputs)[0, 1])
        return Response(json.dumps({"prediction": probability}), media_type="application/json")

    @app.get("/readyz")
    async def ready() -> Response:
        return Response("{}", media_type="application/json")

    return app


def patch_scoring_to_numpy() -> None:
    """Make tether's router and shadow worker score on NumPy arrays (the what-if)."""
    from tether.serving import _scoring, _shadow

    def score(model: ServedModel, vectors: Sequence[dict[str, float | None]]) -> _scoring.Scores:
        started = time.perf_counter()
        matrix = np.array(
            [[math.nan if v[n] is None else v[n] for n in model.features] for v in vectors],
            dtype=np.float64,
        ).reshape(len(vectors), len(model.features))
        estimator = model.model
        classes = getattr(estimator, "classes_", None)
        if hasattr(estimator, "predict_proba") and classes is not None and len(classes) == 2:
            outputs = [float(p) for p in estimator.predict_proba(matrix)[:, 1]]
        else:
            outputs = np.asarray(estimator.predict(matrix)).tolist()
        outputs = [o if not isinstance(o, float) or math.isfinite(o) else None for o in outputs]
        return _scoring.Scores(outputs, time.perf_counter() - started)

    warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING, category=UserWarning)
    _scoring.score = score  # what the router's coalescing scorer calls
    _shadow.score = score  # type: ignore[assignment]


def main() -> None:
    """Serve ``floor`` or ``whatif`` on 127.0.0.1 until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=["floor", "whatif"])
    parser.add_argument("--project", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", default="1")
    parser.add_argument("--frame", action="store_true")
    args = parser.parse_args()
    settings = tether.load_settings(args.project)
    if args.app == "floor":
        warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING, category=UserWarning)
        model = load_version(settings.stores.tracking_uri, settings.model_name, args.version)
        app = floor_app(model, frame=args.frame)
    else:
        from tether.server._project import create_project_app

        patch_scoring_to_numpy()
        app = create_project_app(settings)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
