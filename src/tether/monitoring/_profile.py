"""Profiles: what a frame of features looks like, summarised once, compared many times.

A :class:`Profile` is the reference that drift and quality checks compare a window against:
per numeric feature the reference's decile edges and the rows per bin, the nulls, minimum,
maximum, mean and spread; per categorical feature the frequencies of its top categories
(an "other" bucket past ``max_categories``); and a bounded, seeded sample of whole rows for
the two-sample tests. A *current* profile (a window of served traffic, or an analysis frame)
has the same type, binned on the *reference's* edges and categories, so the two line up bin
for bin; the prediction log computes it in its database, :func:`profile_frame` in DuckDB.

**Bins.** A numeric feature's inner edges ``e1 < ... < ek`` (k <= 9) are the reference's
exact deciles (DuckDB ``quantile_cont``, linear interpolation, as numpy's default), with
duplicates removed (a column with few values has fewer edges; a one-value column has one).
The bins are ``(-inf, e1), [e1, e2), ..., [ek, +inf)``: left-closed, and the outer ones open,
so a current value outside the reference's range still has a bin. Missing values (null or
NaN) are never dropped: they are counted in ``nulls``, which drift treats as its own bin.

**The on-disk format** is JSON (:meth:`Profile.to_json_bytes`), versioned by
``format_version`` (:data:`FORMAT_VERSION`); a reader refuses a newer version and keeps
reading the older ones (tests/monitoring/data holds a file of each). Non-finite floats are
written as ``null`` (NaN) or the strings ``"inf"``/``"-inf"``, since JSON has no NaN; the
sample is written as columns of values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from tether.errors import MonitoringError

__all__ = [
    "FORMAT_VERSION",
    "MAX_CATEGORIES",
    "SAMPLE_SIZE",
    "CategoricalSummary",
    "NumericSummary",
    "Profile",
]

FORMAT_VERSION = 1
"""The version of a profile's on-disk form; readers refuse a newer one."""
SAMPLE_SIZE = 20_000
"""Rows kept in a profile's sample. The two-sample tests (KS, Wasserstein, the domain
classifier) run on samples, never on whole windows: ``ks_2samp`` costs 1.2 s per 1M-vs-1M
column here, against milliseconds at 20,000; and 20,000 rows per side resolve a KS distance
of about 0.014 at p = 0.05, far below any effect floor worth alerting on."""
MAX_CATEGORIES = 50
"""Categories a reference keeps per categorical feature; the rest share one "other" bin."""
DECILES = tuple(round(i / 10, 1) for i in range(1, 10))
"""The quantiles whose values are a numeric feature's inner bin edges."""


class _Counted:
    """What both summaries say of their rows: ``count`` present, ``nulls`` missing."""

    count: int
    nulls: int

    @property
    def rows(self) -> int:
        """Rows summarised, missing ones included."""
        return self.count + self.nulls

    @property
    def null_rate(self) -> float:
        """The share of rows missing (NaN for a frame of no rows)."""
        return self.nulls / self.rows if self.rows else math.nan


@dataclass(frozen=True)
class NumericSummary(_Counted):
    """A numeric feature (or the score) in one frame: its bins on the reference's deciles.

    ``edges`` are the inner edges (see the module docstring: bins ``(-inf, e1)``, ``[e1,
    e2)``, ..., ``[ek, +inf)``) and ``counts`` the non-null rows per bin (``len(edges) +
    1`` of them). ``std`` is the population standard deviation (ddof 0, so a one-row or
    one-value column has 0). The statistics are NaN when ``count`` is 0.
    """

    count: int
    nulls: int
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    minimum: float
    maximum: float
    mean: float
    std: float
    kind: Literal["numeric"] = "numeric"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (non-finite floats encoded, see the module docstring)."""
        return {
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "edges": [_float_out(e) for e in self.edges],
            "counts": list(self.counts),
            "minimum": _float_out(self.minimum),
            "maximum": _float_out(self.maximum),
            "mean": _float_out(self.mean),
            "std": _float_out(self.std),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> NumericSummary:
        """Read :meth:`to_dict`'s form."""
        return cls(
            count=int(raw["count"]),
            nulls=int(raw["nulls"]),
            edges=tuple(_float_in(e) for e in raw["edges"]),
            counts=tuple(int(c) for c in raw["counts"]),
            minimum=_float_in(raw["minimum"]),
            maximum=_float_in(raw["maximum"]),
            mean=_float_in(raw["mean"]),
            std=_float_in(raw["std"]),
        )


@dataclass(frozen=True)
class CategoricalSummary(_Counted):
    """A categorical feature in one frame: rows per category, an "other" bucket, the unseen.

    For a reference, ``frequencies`` holds its ``max_categories`` most frequent categories
    (ties broken by the category's text) and ``other`` the rows of the rest. For a current
    frame, ``frequencies`` holds the rows of each of the *reference's* categories (0 when
    absent), ``other`` every row in another category, and ``unseen`` those of ``other``
    whose category the reference never saw (``unseen <= other``; 0 for a reference).
    Categories are text: booleans are ``"true"``/``"false"``.
    """

    count: int
    nulls: int
    frequencies: Mapping[str, int]
    other: int
    unseen: int
    kind: Literal["categorical"] = "categorical"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form."""
        return {
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "frequencies": dict(self.frequencies),
            "other": self.other,
            "unseen": self.unseen,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CategoricalSummary:
        """Read :meth:`to_dict`'s form."""
        return cls(
            count=int(raw["count"]),
            nulls=int(raw["nulls"]),
            frequencies={str(k): int(v) for k, v in raw["frequencies"].items()},
            other=int(raw["other"]),
            unseen=int(raw["unseen"]),
        )


Summary = NumericSummary | CategoricalSummary
"""The summary of one feature."""


@dataclass(frozen=True)
class Profile:
    """A frame summarised: its rows, a summary per feature, the score's, and a sample.

    ``sample`` holds at most ``SAMPLE_SIZE`` whole rows (every profiled column and the
    score), drawn uniformly without replacement by a seeded generator: numeric columns as
    float64 with NaN for missing, categorical ones as text (object) with None. Profiles
    compare by their summaries; the sample is left out of ``==``.
    """

    rows: int
    features: Mapping[str, Summary]
    sample: pd.DataFrame = field(compare=False, repr=False)
    score: NumericSummary | None = None
    score_name: str | None = None
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, with ``format_version``."""
        return {
            "format_version": FORMAT_VERSION,
            "rows": self.rows,
            "features": {name: summary.to_dict() for name, summary in self.features.items()},
            "score": None if self.score is None else self.score.to_dict(),
            "score_name": self.score_name,
            "sample": _sample_out(self.sample),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, what: str = "a profile") -> Profile:
        """Read :meth:`to_dict`'s form (this format or an older); ``what`` names it in errors."""
        version = raw.get("format_version")
        if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
            raise MonitoringError(
                f"{what} has format_version {version!r}; this tether reads format_version 1 "
                f"to {FORMAT_VERSION}. Use a tether release that reads it, or profile again."
            )
        try:
            features = {
                str(name): _summary_in(summary) for name, summary in raw["features"].items()
            }
            score = raw.get("score")
            return cls(
                rows=int(raw["rows"]),
                features=features,
                sample=_sample_in(raw["sample"], features, raw.get("score_name")),
                score=None if score is None else NumericSummary.from_dict(score),
                score_name=raw.get("score_name"),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MonitoringError(f"{what} is not a valid profile: {exc!r}") from exc

    def to_json_bytes(self) -> bytes:
        """Canonical JSON bytes (sorted keys, ASCII, no NaN): what its sha256 covers."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return text.encode("ascii")

    @classmethod
    def from_json_bytes(cls, data: bytes, *, what: str = "a profile") -> Profile:
        """Read :meth:`to_json_bytes`' form. Check the bytes' sha256 before, if stored."""
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MonitoringError(f"{what} is not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise MonitoringError(f"{what} is JSON {type(raw).__name__}, expected an object")
        return cls.from_dict(raw, what=what)


def _summary_in(raw: Mapping[str, Any]) -> Summary:
    kind = raw.get("kind")
    if kind == "numeric":
        return NumericSummary.from_dict(raw)
    if kind == "categorical":
        return CategoricalSummary.from_dict(raw)
    raise ValueError(f"summary kind {kind!r}, expected 'numeric' or 'categorical'")


def _float_out(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def _float_in(value: float | str | None) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        if value not in ("inf", "-inf"):
            raise ValueError(f"float {value!r}, expected a number, null, 'inf' or '-inf'")
        return math.inf if value == "inf" else -math.inf
    return float(value)


def _sample_out(sample: pd.DataFrame) -> dict[str, Any]:
    columns: dict[str, list[Any]] = {}
    for name in sample.columns:
        series = sample[name]
        if pd.api.types.is_float_dtype(series.dtype):
            numbers = series.to_numpy(dtype="float64")
            values: list[Any] = numbers.tolist()
            if not np.isfinite(numbers).all():  # the slow path only for NaN and infinities
                values = [_float_out(v) for v in values]
            columns[str(name)] = values
        else:
            columns[str(name)] = [None if pd.isna(v) else str(v) for v in series.tolist()]
    return {"columns": list(columns), "values": columns}


def _sample_in(
    raw: Mapping[str, Any], features: Mapping[str, Summary], score_name: str | None
) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for name in raw["columns"]:
        values = raw["values"][name]
        summary = features.get(name)
        if name == score_name or isinstance(summary, NumericSummary):
            data[name] = np.array([_float_in(v) for v in values], dtype="float64")
        else:
            data[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(data, columns=list(raw["columns"]))
