"""The skew audit: served feature vectors, recomputed offline at the same times, compared.

Skew should be impossible by construction (one definition, one evaluator), so this is the
measurement that proves it, or catches what construction cannot: a stale materialization,
a client sending its own value, an online store fed from a different pipeline. It takes
what was served (entity keys, the request time, the feature values), asks the offline
store for the same keys at the same times, and reports per feature the rows compared, the
mismatch rate, the largest difference and a few examples.

Two values match when both are null, when strings or booleans are equal, or when numbers
agree within ``tolerance`` relative to the offline value (``|a - b| <= tol * max(1, |b|)``:
sums and means may differ in the last bits with the order of addition).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.errors import FeatureError
from tether.features._offline import FeatureStore

DEFAULT_TOLERANCE = 1e-9
DEFAULT_EXAMPLES = 5


@dataclass(frozen=True)
class FeatureSkew:
    """How one feature's served values compare with the offline ones."""

    feature: str
    rows: int
    mismatches: int
    max_abs_difference: float
    examples: tuple[Mapping[str, object], ...] = field(default_factory=tuple)

    @property
    def mismatch_rate(self) -> float:
        """Mismatches per row compared (0 when no rows)."""
        return self.mismatches / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class SkewReport:
    """The skew of every served feature."""

    rows: int
    tolerance: float
    features: tuple[FeatureSkew, ...]

    @property
    def worst_rate(self) -> float:
        """The highest mismatch rate of any feature."""
        return max((f.mismatch_rate for f in self.features), default=0.0)

    def exceeds(self, bound: float) -> bool:
        """Whether any feature's mismatch rate is above ``bound``."""
        return self.worst_rate > bound


def measure_skew(
    store: FeatureStore,
    served: pd.DataFrame,
    *,
    timestamp: str,
    tolerance: float = DEFAULT_TOLERANCE,
    max_examples: int = DEFAULT_EXAMPLES,
) -> SkewReport:
    """Recompute ``served`` offline at its own times and compare, feature by feature.

    ``served`` holds the entity key columns, the ``timestamp`` column (the request time the
    vector was computed at), the request columns that transformations and request views
    need (the raw request as logged), and one column per served feature; features of the
    store it lacks are not audited. Request features are recomputed from the logged request
    columns at the logged time, so a client's own value, or a changed vocabulary, shows.

    Example::

        report = measure_skew(store, pd.read_parquet("served.parquet"), timestamp="request_time")
        if report.exceeds(0.001): ...
    """
    features = [name for name in store.feature_names if name in served.columns]
    if not features:
        raise FeatureError(
            f"The served vectors have no column of any feature of the store (columns: "
            f"{list(served.columns)}; features: {list(store.feature_names)})."
        )
    # A request column that is itself a feature (the amount) is an input too: the request's
    # own value, logged with it, from which the other request features are recomputed.
    request = set(store.request_columns)
    inputs = [c for c in served.columns if c not in features or c in request]
    offline = store.build_training_set(served[inputs], timestamp=timestamp)
    keys = _key_columns(store, served)
    audited = [
        _compare(name, served[name], offline[name], served[[*keys, timestamp]], tolerance,
                 max_examples)
        for name in features
    ]  # fmt: skip
    return SkewReport(rows=len(served), tolerance=tolerance, features=tuple(audited))


def _key_columns(store: FeatureStore, served: pd.DataFrame) -> list[str]:
    keys = {k for view in store.views for k in view.entity.keys}
    return [c for c in served.columns if c in keys]


def _compare(
    name: str,
    served: pd.Series,
    offline: pd.Series,
    context: pd.DataFrame,
    tolerance: float,
    max_examples: int,
) -> FeatureSkew:
    matches, differences = _matches(served.to_numpy(dtype=object), offline.to_numpy(dtype=object),
                                    tolerance)  # fmt: skip
    wrong = np.flatnonzero(~matches)
    examples = tuple(
        {**_plain(context.iloc[i].to_dict()), "served": _plain_value(served.iloc[i]),
         "offline": _plain_value(offline.iloc[i])}
        for i in wrong[:max_examples]
    )  # fmt: skip
    # A value against a null (or another string) differs without a size: infinitely.
    largest = float(differences.max()) if differences.size else 0.0
    return FeatureSkew(name, len(served), int(wrong.size), largest, examples)


def _matches(
    served: npt.NDArray[np.object_], offline: npt.NDArray[np.object_], tolerance: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    matches = np.zeros(len(served), dtype=bool)
    differences = np.zeros(len(served), dtype=np.float64)
    for i, (a, b) in enumerate(zip(served, offline, strict=True)):
        matches[i], differences[i] = _match(a, b, tolerance)
    return matches, differences


def _match(a: object, b: object, tolerance: float) -> tuple[bool, float]:
    a_null, b_null = _is_null(a), _is_null(b)
    if a_null or b_null:
        return a_null and b_null, 0.0 if a_null and b_null else math.inf
    if _is_number(a) and _is_number(b):
        x, y = float(a), float(b)  # type: ignore[arg-type]
        difference = abs(x - y)
        return difference <= tolerance * max(1.0, abs(y)), difference
    return a == b, 0.0 if a == b else math.inf


def _is_null(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _plain(row: Mapping[str, object]) -> dict[str, object]:
    return {str(k): _plain_value(v) for k, v in row.items()}


def _plain_value(value: object) -> object:
    if _is_null(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value
