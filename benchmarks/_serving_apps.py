"""Servers of the serving benchmark that are not ``tether serve`` or ``mlflow models serve``.

Run as a script, pinned by the parent to the server core::

    python _serving_apps.py floor --project DIR --version 1 --port P [--frame]

* ``floor``: the least a Python server can do. A bare FastAPI endpoint, ``POST /predict``,
  takes tether's request body (the same bytes the load generator sends tether), puts the 14
  features in the model's order into a NumPy row and returns ``predict_proba``'s positive
  class; no validation, no logging, no metrics. The model is the same registered version,
  loaded and verified by :func:`tether.registry.load_version`. ``--frame`` hands the model a
  one-row pandas DataFrame instead, as tether does (a reference row, not the floor).
It is served as ``tether serve`` is: ``uvicorn.run(app)``, one process, asyncio loop.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request, Response

import tether
from tether.registry import EventLog
from tether.serving import ServedModel, load_version

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


def main() -> None:
    """Serve ``floor`` on 127.0.0.1 until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=["floor"])
    parser.add_argument("--project", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", default="1")
    parser.add_argument("--frame", action="store_true")
    args = parser.parse_args()
    settings = tether.load_settings(args.project)
    warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING, category=UserWarning)
    events = EventLog(settings.store.url)
    model = load_version(
        settings.stores.tracking_uri, settings.model_name, args.version, events=events
    )
    app = floor_app(model, frame=args.frame)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
