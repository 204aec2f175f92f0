"""What monitoring gives a training run: its reference profile and its score's calibration.

Training (``tether.lineage``) takes both as callables and never imports monitoring;
:class:`~tether.project.Project` hands these two to ``train_project`` and ``reproduce``, so a
run's reference is the profile monitoring later compares windows against, built by the same
code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.errors import MonitoringError
from tether.features import DuckDBEngine
from tether.monitoring._estimate import Calibration
from tether.monitoring._profiling import profile_frame

_LOGGER = logging.getLogger(__name__)


def reference_profiler(frame: pd.DataFrame, columns: Sequence[str], score: str, seed: int) -> bytes:
    """A run's reference profile: one DuckDB pass over the scored held-out frame, the same
    bytes on every run for the same frame and seed.

    The :data:`tether.lineage.Profiler` that :meth:`tether.project.Project.train` hands to
    training; its
    bytes (``Profile.to_json_bytes``, versioned) are what ``tether.lineage.load_reference``
    returns, verified, for ``Profile.from_json_bytes``.
    """
    # One DuckDB thread, as for a training set (lineage/_features.py): parallel sums add in
    # an order that changes from run to run, and the last bits of a mean or a spread would,
    # so a rerun's reference would not be the same bytes (4 digests in 4 runs at 1M rows).
    engine = DuckDBEngine(threads=1)
    return profile_frame(frame, columns, score=score, seed=seed, engine=engine).to_json_bytes()


def reference_calibration(
    scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]
) -> bytes | None:
    """The score's calibration on the held-out rows (monitoring's isotonic ``Calibration``).

    None when the rows cannot calibrate a score (fewer than ``MIN_CALIBRATION_ROWS``, or one
    class): the run still records its held-out scores, and the audit says none was fitted.
    """
    try:
        fitted = Calibration.fit(scores, positive.astype("int8"))
    except MonitoringError as exc:
        _LOGGER.info("no score calibration for the reference: %s", exc)
        return None
    return json.dumps(fitted.to_dict(), sort_keys=True).encode("utf-8")
