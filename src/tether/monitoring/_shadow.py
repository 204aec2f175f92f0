"""A shadow model against the champion, on the same requests.

A shadow scores every request the champion answers, off the request path, and its answer
is logged, never returned. So the two can be compared **pair by pair**: the prediction log
returns a frame of paired rows (one per instance id that both scored in the window, or a
seeded sample of them), and :func:`compare_shadow` reports

- **decision agreement**: the share of requests on which the two decide the same at their
  own version's threshold (a decision is ``score >= threshold``, as served; or the
  decisions the two logged), with Wilson's interval (statsmodels
  ``proportion_confint(method="wilson")``) and the 2 x 2 table;
- **score correlation**: Pearson's r and Spearman's rho (Pearson's r of the average ranks;
  scipy ``pearsonr`` / ``spearmanr``); nan when either model's scores are constant;
- **distribution distance**: the two-sample Kolmogorov-Smirnov statistic (scipy
  ``ks_2samp``, its asymptotic p-value) and the Wasserstein-1 distance divided by the
  champion's score standard deviation (``ddof=0``), the drift report's effect size. The
  scores are paired, not two independent samples, so the KS p-value is only indicative
  (the statistic is the distance); pairs are better judged by agreement and correlation;
- **the disagreements**: the ``top_k`` pairs whose scores differ most (``|shadow -
  champion|``, ties broken by instance id so the list is reproducible), every column of the
  frame kept, so a person can look at the requests themselves.

A pair with a missing score on either side (a shadow that failed or was shed) is counted
in ``unpaired`` and left out of every statistic: a failed shadow is not a disagreement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from tether._storage import JSONValue
from tether.errors import MonitoringError
from tether.monitoring._experiments import CONFIDENCE, wilson_interval

SHADOW_TOP_K = 20
"""Disagreements listed: a page a person can read."""

CHAMPION_SCORE = "champion_score"
SHADOW_SCORE = "shadow_score"
INSTANCE_ID = "instance_id"


@dataclass(frozen=True)
class DecisionAgreement:
    """How often the two models decide alike, with the 2 x 2 table of their decisions."""

    rate: float
    """Share of the decided pairs (both decisions known) with equal decisions."""
    low: float
    high: float
    both_flagged: int
    champion_only: int
    shadow_only: int
    neither: int


@dataclass(frozen=True)
class ShadowComparison:
    """Shadow against champion on the pairs of one window (see the module)."""

    pairs: int
    unpaired: int
    agreement: DecisionAgreement | None
    """None when a model has no recorded threshold (no decision is served)."""
    pearson: float
    spearman: float
    ks_statistic: float
    ks_p_value: float
    wasserstein: float
    """Wasserstein-1 distance over the champion's score standard deviation."""
    mean_difference: float
    """Mean of shadow - champion."""
    disagreements: pd.DataFrame

    def to_dict(self) -> dict[str, JSONValue]:
        """The comparison as JSON (nan as None; the disagreements as a list of records)."""
        agreement: JSONValue = None
        if self.agreement is not None:
            a = self.agreement
            agreement = {
                "rate": _number(a.rate),
                "interval": [_number(a.low), _number(a.high)],
                "both_flagged": a.both_flagged,
                "champion_only": a.champion_only,
                "shadow_only": a.shadow_only,
                "neither": a.neither,
            }
        records: list[JSONValue] = [
            {str(column): _cell(value) for column, value in row.items()}
            for row in self.disagreements.to_dict(orient="records")
        ]
        return {
            "pairs": self.pairs,
            "unpaired": self.unpaired,
            "agreement": agreement,
            "pearson": _number(self.pearson),
            "spearman": _number(self.spearman),
            "ks_statistic": _number(self.ks_statistic),
            "ks_p_value": _number(self.ks_p_value),
            "wasserstein": _number(self.wasserstein),
            "mean_difference": _number(self.mean_difference),
            "disagreements": records,
        }


def compare_shadow(
    pairs: pd.DataFrame,
    *,
    champion_threshold: float | None = None,
    shadow_threshold: float | None = None,
    decisions: tuple[str, str] | None = None,
    champion: str = CHAMPION_SCORE,
    shadow: str = SHADOW_SCORE,
    key: str = INSTANCE_ID,
    top_k: int = SHADOW_TOP_K,
    confidence: float = CONFIDENCE,
) -> ShadowComparison:
    """Compare a shadow with the champion on a frame of paired rows (one per request).

    Example::

        pairs = pd.DataFrame({"instance_id": ids, "champion_score": a, "shadow_score": b})
        report = compare_shadow(pairs, champion_threshold=0.31, shadow_threshold=0.28)
        report.agreement.rate, report.spearman, report.disagreements.head()

    The decisions are ``score >= threshold`` at each version's threshold, or, with
    ``decisions`` (the columns of the decisions the two logged, champion's first, such as
    the log's ``("decision_a", "decision_b")``), the logged ones; a pair where either is
    missing is left out of the agreement. With neither, ``agreement`` is None.
    """
    needed = [key, champion, shadow, *(decisions or ())]
    missing = [c for c in needed if c not in pairs.columns]
    if missing:
        raise MonitoringError(
            f"shadow pairs lack the column(s) {missing}: expected {needed} "
            f"among {list(pairs.columns)}"
        )
    if top_k < 0:
        raise MonitoringError(f"shadow comparison top_k={top_k}: expected >= 0")
    champion_scores = pd.to_numeric(pairs[champion], errors="coerce").astype("float64")
    shadow_scores = pd.to_numeric(pairs[shadow], errors="coerce").astype("float64")
    paired = np.isfinite(champion_scores.to_numpy()) & np.isfinite(shadow_scores.to_numpy())
    if not paired.any():
        raise MonitoringError(
            f"no request of the {len(pairs)} rows has both a champion and a shadow score: "
            "expected at least one pair (is the shadow deployed and scoring?)"
        )
    a = np.asarray(champion_scores, dtype=np.float64)[paired]
    b = np.asarray(shadow_scores, dtype=np.float64)[paired]
    # The asymptotic distribution: scipy's exact one fails (with a warning) on some ties.
    ks = stats.ks_2samp(a, b, method="asymp")
    spread = float(np.std(a))
    frame = pairs.loc[paired].copy()
    frame["difference"] = b - a
    flags = _decisions(frame, a, b, (champion_threshold, shadow_threshold), decisions)
    if flags is not None:
        frame["champion_decision"] = pd.Series(flags[0], index=frame.index).astype("Int64")
        frame["shadow_decision"] = pd.Series(flags[1], index=frame.index).astype("Int64")
    return ShadowComparison(
        pairs=int(paired.sum()),
        unpaired=int((~paired).sum()),
        agreement=None if flags is None else _agreement(*flags, confidence),
        pearson=_pearson(a, b),
        spearman=_pearson(stats.rankdata(a), stats.rankdata(b)),
        ks_statistic=float(ks.statistic),
        ks_p_value=float(ks.pvalue),
        wasserstein=float(stats.wasserstein_distance(a, b)) / spread if spread > 0 else math.nan,
        mean_difference=float(np.mean(b - a)),
        disagreements=_top_disagreements(frame, key, top_k),
    )


def _decisions(
    frame: pd.DataFrame,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    thresholds: tuple[float | None, float | None],
    columns: tuple[str, str] | None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Each pair's two decisions as 1.0 / 0.0 (nan: not logged), or None if there are none."""
    if columns is not None:
        logged = [pd.to_numeric(frame[c], errors="coerce").astype("float64") for c in columns]
        return np.asarray(logged[0], dtype=np.float64), np.asarray(logged[1], dtype=np.float64)
    champion_threshold, shadow_threshold = thresholds
    if champion_threshold is None or shadow_threshold is None:
        return None
    return (a >= champion_threshold).astype(np.float64), (b >= shadow_threshold).astype(np.float64)


def _agreement(
    flag_a: npt.NDArray[np.float64], flag_b: npt.NDArray[np.float64], confidence: float
) -> DecisionAgreement:
    both = np.isfinite(flag_a) & np.isfinite(flag_b)
    a, b = flag_a[both] == 1, flag_b[both] == 1
    same = int((a == b).sum())
    low, high = wilson_interval(same, len(a), confidence)
    return DecisionAgreement(
        rate=same / len(a) if len(a) else math.nan,
        low=low,
        high=high,
        both_flagged=int((a & b).sum()),
        champion_only=int((a & ~b).sum()),
        shadow_only=int((~a & b).sum()),
        neither=int((~a & ~b).sum()),
    )


def _pearson(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    """Pearson's r, nan when either side is constant (scipy warns and returns nan)."""
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denominator == 0:
        return math.nan
    return max(-1.0, min(1.0, float(dx @ dy) / denominator))


def _top_disagreements(frame: pd.DataFrame, key: str, top_k: int) -> pd.DataFrame:
    frame["_gap"] = frame["difference"].abs()
    ordered = frame.sort_values(["_gap", key], ascending=[False, True], kind="mergesort")
    return ordered.head(top_k).drop(columns="_gap").reset_index(drop=True)


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _cell(value: object) -> JSONValue:
    """One cell of a disagreement for JSON: numpy scalars unwrapped, nan as None, else text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return _number(value)
    return str(value)
