"""The app factory the end-to-end test runs under uvicorn (``e2e_app:build --factory``).

Each uvicorn worker process calls :func:`build`; all share one prediction log in the folder
named by ``E2E_STATE_DIR``, as replicas share one database.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from server_cases import TOKEN, MemoryRegistry, settings_for, store_url

from tether.server import create_app
from tether.serving._predlog import PredictionLog

STATE_DIR_ENV = "E2E_STATE_DIR"


def build() -> FastAPI:
    """The app of one worker."""
    settings = settings_for(Path(os.environ[STATE_DIR_ENV]), admin_token=TOKEN)
    registry = MemoryRegistry()
    return create_app(
        settings,
        source=registry,
        predictions=PredictionLog(store_url(Path(os.environ[STATE_DIR_ENV]))),
        admin=registry,
    )
