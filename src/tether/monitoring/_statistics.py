"""The statistics of drift, each with its formula and conventions (oracles: scipy).

:func:`psi` is the population stability index with an epsilon for empty bins;
:func:`chi2_homogeneity` the chi-square test of homogeneity of two frames' counts, its
sparse cells merged first (Cochran's rule: no expected count under 5). The two-sample
Kolmogorov-Smirnov test and the Wasserstein distance are scipy's, called in :mod:`._drift`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

from tether.errors import MonitoringError

__all__ = ["CHI2_MIN_EXPECTED", "PSI_EPSILON", "chi2_homogeneity", "psi"]

PSI_EPSILON = 1e-4
"""The share an empty bin is raised to before PSI takes its logarithm (a bin empty on one
side only then contributes about share x 9.2, so a bin of 2% appearing gives PSI 0.18)."""
CHI2_MIN_EXPECTED = 5.0
"""The smallest expected count a chi-square cell may have before it is merged (Cochran)."""

IntTable = npt.NDArray[np.int64]


def psi(
    reference: Sequence[float], current: Sequence[float], *, epsilon: float = PSI_EPSILON
) -> float:
    """The population stability index of two frames' counts (or shares) over the same bins.

    ``PSI = sum_i (q_i - p_i) ln(q_i / p_i)``, with ``p_i``, ``q_i`` each frame's share of
    its rows in bin i, every share below ``epsilon`` raised to ``epsilon`` (so an empty bin
    has a finite logarithm; shares are not renormalised). 0 for identical shares.

    >>> round(psi([25, 25, 50], [50, 25, 25]), 4)  # 0.5 ln 2
    0.3466
    """
    p, q = np.asarray(reference, dtype="float64"), np.asarray(current, dtype="float64")
    if p.shape != q.shape or p.ndim != 1 or p.sum() <= 0 or q.sum() <= 0:
        raise MonitoringError(
            f"PSI needs two non-empty count vectors of one length, got {p.tolist()} and "
            f"{q.tolist()}"
        )
    p = np.maximum(p / p.sum(), epsilon)
    q = np.maximum(q / q.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def chi2_homogeneity(
    reference: Sequence[int], current: Sequence[int]
) -> tuple[float, float, IntTable]:
    """The chi-square test of homogeneity on the 2 x K table, sparse cells merged first.

    Returns ``(statistic, p_value, table)``, ``table`` the 2 x K' table tested (merged as
    the module says); p = 1 and statistic 0 when fewer than two bins remain.
    """
    table: IntTable = np.array([reference, current], dtype="int64")
    table = table[:, table.sum(axis=0) > 0]
    table = _merge_sparse(table)
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0, table
    result = stats.chi2_contingency(table)
    return float(result.statistic), float(result.pvalue), table


def _merge_sparse(table: IntTable) -> IntTable:
    """Pool the bins whose smaller expected count is under 5; a pool still under, to the
    smallest other bin (so no cell of the test expects fewer than 5 rows, where it can)."""
    total = table.sum()
    rows = table.sum(axis=1)
    expected = np.outer(rows, table.sum(axis=0)) / total
    sparse = expected.min(axis=0) < CHI2_MIN_EXPECTED
    if not sparse.any():
        return table
    dense = table[:, ~sparse].copy()
    pool = table[:, sparse].sum(axis=1)
    if dense.shape[1] and (rows * pool.sum() / total).min() < CHI2_MIN_EXPECTED:
        dense[:, int(np.argmin(dense.sum(axis=0)))] += pool
        return dense
    return np.concatenate([dense, pool[:, None]], axis=1)
