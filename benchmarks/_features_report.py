"""Agreement checks and tables of the feature-store benchmark, and its README block.

Values agree when both are null, or both are present and equal (numbers within 1e-9, relative
or absolute: sums in SQL and the oracle's differences of cumulative sums round differently).
Outputs are aligned on ``row_id`` (online: on the call's position), never on their order.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

SECTION = "## Feature store (issue 3)"
SCRIPT = "features.py"
PRESENT = "__present"


def _numbers(values: pd.Series) -> npt.NDArray[np.float64] | None:
    """``values`` as floats (nulls as NaN), or None if they are not numbers."""
    if pd.api.types.is_bool_dtype(values.dtype) or not (
        pd.api.types.is_numeric_dtype(values.dtype) or values.isna().all()
    ):
        return None
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def equal(left: pd.Series, right: pd.Series) -> npt.NDArray[np.bool_]:
    """Per row: both null, or both present and equal."""
    left_null, right_null = left.isna().to_numpy(), right.isna().to_numpy()
    a, b = _numbers(left), _numbers(right)
    if a is not None and b is not None:
        with np.errstate(invalid="ignore"):
            same = np.isclose(a, b, rtol=1e-9, atol=1e-9)
    else:
        same = left.astype(object).to_numpy() == right.astype(object).to_numpy()
    return (left_null & right_null) | (~left_null & ~right_null & same)


def agreeing(left: pd.DataFrame, right: pd.DataFrame, columns: Sequence[str]) -> npt.NDArray:
    """Per row: both frames have the row and every one of ``columns`` agrees (aligned by
    position)."""
    ok = left[PRESENT].to_numpy(dtype=bool) & right[PRESENT].to_numpy(dtype=bool)
    for column in columns:
        ok &= equal(left[column], right[column])
    return ok


def by_row(frame: pd.DataFrame, row_ids: pd.Series) -> pd.DataFrame:
    """``frame`` indexed by row id, in the order of ``row_ids``; :data:`PRESENT` marks the rows
    it has (a row it lacks is all null there, and never agrees with anything)."""
    indexed = frame.drop_duplicates("row_id").set_index("row_id")
    indexed[PRESENT] = True
    aligned = indexed.reindex(row_ids.to_numpy())
    aligned[PRESENT] = aligned[PRESENT].fillna(False).astype(bool)
    return aligned


def present(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every row marked present (for references such as the oracle)."""
    return frame.assign(**{PRESENT: True})


@dataclass(frozen=True)
class Check:
    """One agreement count: ``agree`` of ``rows`` rows."""

    what: str
    rows: int
    agree: int
    expected: str

    @property
    def line(self) -> str:
        """A table row."""
        share = 100.0 * self.agree / self.rows if self.rows else 100.0
        return f"| {self.what} | {self.rows:,} | {self.agree:,} ({share:.2f}%) | {self.expected} |"


def check(
    what: str, left: pd.DataFrame, right: pd.DataFrame, columns: Sequence[str], mask: npt.NDArray
) -> Check:
    """How many rows selected by ``mask`` agree on ``columns``; expected: all of them."""
    ok = agreeing(left[mask], right[mask], columns)
    return Check(what, int(mask.sum()), int(ok.sum()), "all")


def median_and_runs(values: Sequence[float]) -> str:
    """``"1.23 (1.20, 1.23, 1.31)"``: the median and each run, in run order."""
    runs = ", ".join(f"{v:.2f}" for v in values)
    return f"{statistics.median(values):.2f}" + (f" ({runs})" if len(values) > 1 else "")


def percentiles(latencies: Sequence[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``latencies``."""
    p50, p99 = np.percentile(np.asarray(latencies), [50, 99])
    return float(p50), float(p99), float(max(latencies))
