"""The results of drift: its thresholds, one feature's verdict, a report over a frame.

:class:`DriftThresholds` are the ``[monitoring]`` keys of tether.toml (each default a named
constant here, with its reason); :class:`FeatureDrift` and :class:`DriftReport` are frozen
and JSON-ready (``to_dict``, read back by ``from_dict``): the monitor stores them as they
are, ``--json`` prints them. Non-finite numbers are written as ``null`` (NaN) or
``"inf"``/``"-inf"``. How the statistics are computed is :mod:`._drift`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from tether.errors import ConfigError, MonitoringError
from tether.monitoring._multivariate import DOMAIN_AUC, DOMAIN_SAMPLE_SIZE, MultivariateDrift
from tether.monitoring._profile import SAMPLE_SIZE
from tether.monitoring._statistics import PSI_EPSILON

__all__ = [
    "CATEGORICAL_EFFECT",
    "DATASET_SHARE",
    "KS_SAMPLE_SIZE",
    "NUMERIC_EFFECT",
    "PSI_DRIFT",
    "PSI_WARN",
    "P_VALUE",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
]

PSI_DRIFT = 0.2
"""PSI above which a feature has drifted (the usual band: above 0.2, a major shift)."""
PSI_WARN = 0.1
"""PSI above which a feature is a warning (0.1-0.2, a moderate shift)."""
PSI_NOISE = 0.001
"""How often PSI's own sampling noise may exceed the PSI line with no drift at all. PSI is
biased upward on small samples: with no drift, ``n * PSI`` (``n = 1 / (1/n_reference +
1/n_current)``) is about chi-square with ``bins - 1`` degrees of freedom, so over deciles a
day of 90 payments reads 0.1 on average and crosses 0.2 by chance. PSI alone drifts a
feature only above ``max(psi_drift, chi2.ppf(1 - psi_noise, bins - 1) / n)``: 0.33 at 90
rows, 0.06 at 500 (the 0.2 line rules), unchanged at scale."""
P_VALUE = 0.05
"""The significance level of the KS and chi-square tests (with an effect above its floor)."""
NUMERIC_EFFECT = 0.1
"""Wasserstein distance / reference std: 0.1 is a mean shift of a tenth of a standard
deviation, about PSI 0.01 on deciles: below it, a shift is not worth an alert."""
CATEGORICAL_EFFECT = 0.1
"""Total variation distance: a tenth of the rows moved to other categories."""
DATASET_SHARE = 0.1
"""The dataset has drifted when more than this share of its features has."""
KS_SAMPLE_SIZE = SAMPLE_SIZE
"""Rows per side of the KS test and the Wasserstein distance (seeded subsamples of the
profiles' samples when larger): at 20,000 a KS test costs milliseconds."""


@dataclass(frozen=True)
class DriftThresholds:
    """The thresholds of drift verdicts (``[monitoring]`` in tether.toml); see the module."""

    psi_drift: float = PSI_DRIFT
    psi_warn: float = PSI_WARN
    p_value: float = P_VALUE
    numeric_effect: float = NUMERIC_EFFECT
    categorical_effect: float = CATEGORICAL_EFFECT
    dataset_share: float = DATASET_SHARE
    psi_epsilon: float = PSI_EPSILON
    psi_noise: float = PSI_NOISE
    ks_sample_size: int = KS_SAMPLE_SIZE
    domain_auc: float = DOMAIN_AUC
    domain_sample_size: int = DOMAIN_SAMPLE_SIZE

    def __post_init__(self) -> None:
        checks = {
            "psi_warn": 0 <= self.psi_warn <= self.psi_drift,
            "p_value": 0 < self.p_value < 1,
            "numeric_effect": self.numeric_effect >= 0,
            "categorical_effect": 0 <= self.categorical_effect <= 1,
            "dataset_share": 0 <= self.dataset_share < 1,
            "psi_epsilon": 0 < self.psi_epsilon < 1,
            "psi_noise": 0 < self.psi_noise < 1,
            "ks_sample_size": self.ks_sample_size >= 1,
            "domain_auc": 0.5 <= self.domain_auc <= 1,
            "domain_sample_size": self.domain_sample_size >= 1,
        }
        for key, valid in checks.items():
            if not valid:
                raise ConfigError(
                    f"monitoring.{key} is {getattr(self, key)!r}: expected {_EXPECTED[key]}"
                )


_EXPECTED = {
    "psi_warn": "0 <= psi_warn <= psi_drift",
    "p_value": "a probability in (0, 1)",
    "numeric_effect": "a distance >= 0",
    "categorical_effect": "a distance in [0, 1]",
    "dataset_share": "a share in [0, 1)",
    "psi_epsilon": "a share in (0, 1)",
    "psi_noise": "a probability in (0, 1)",
    "ks_sample_size": "a number of rows >= 1",
    "domain_auc": "an AUC in [0.5, 1]",
    "domain_sample_size": "a number of rows >= 1",
}


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's (or the score's) drift: its statistics, its verdict and the reason.

    ``bins`` name the bins PSI compared (the last is "missing"), with each frame's share of
    rows in them; ``test`` is ``"ks"`` or ``"chi2"`` and ``effect_name``
    ``"wasserstein/std"`` or ``"tvd"``. Missing values are reported as each frame's share.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    psi: float
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    effect: float
    effect_name: Literal["wasserstein/std", "tvd"]
    drifted: bool
    warning: bool
    reason: str
    reference_rows: int
    current_rows: int
    reference_missing: float
    current_missing: float
    unseen: int
    bins: tuple[str, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None, infinities as strings)."""
        return {key: _json(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureDrift:
        """Read :meth:`to_dict`'s form."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            value = raw[item.name]
            if item.name in _FLOATS:
                value = _float(value)
            elif item.name in _TUPLES:
                value = tuple(_float(v) if item.name != "bins" else str(v) for v in value)
            values[item.name] = value
        return cls(**values)


@dataclass(frozen=True)
class DriftReport:
    """Drift of a current frame against its reference: per feature, score, dataset, joint.

    ``dataset_drift`` is the rule of :class:`DriftThresholds`' ``dataset_share`` over
    ``features`` (the score not counted); ``multivariate`` the domain classifier's verdict,
    when it ran (it does not enter ``dataset_drift``, and says so in its own reason).
    """

    features: tuple[FeatureDrift, ...]
    score: FeatureDrift | None
    dataset_drift: bool
    drifted_share: float
    reason: str
    reference_rows: int
    current_rows: int
    thresholds: DriftThresholds
    multivariate: MultivariateDrift | None = None

    @property
    def drifted(self) -> tuple[str, ...]:
        """The names of the drifted features."""
        return tuple(f.name for f in self.features if f.drifted)

    def feature(self, name: str) -> FeatureDrift:
        """The drift of feature ``name``."""
        for drift in self.features:
            if drift.name == name:
                return drift
        raise MonitoringError(f"no feature {name!r} in this drift report")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``--json`` prints and the monitor stores."""
        return {
            "dataset_drift": self.dataset_drift,
            "drifted": list(self.drifted),
            "drifted_share": self.drifted_share,
            "reason": self.reason,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "features": [f.to_dict() for f in self.features],
            "score": None if self.score is None else self.score.to_dict(),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
            "thresholds": asdict(self.thresholds),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DriftReport:
        """Read :meth:`to_dict`'s form (``drifted`` is derived, so not read)."""
        try:
            multivariate = raw.get("multivariate")
            return cls(
                features=tuple(FeatureDrift.from_dict(f) for f in raw["features"]),
                score=None if raw["score"] is None else FeatureDrift.from_dict(raw["score"]),
                dataset_drift=bool(raw["dataset_drift"]),
                drifted_share=float(raw["drifted_share"]),
                reason=str(raw["reason"]),
                reference_rows=int(raw["reference_rows"]),
                current_rows=int(raw["current_rows"]),
                thresholds=DriftThresholds(**raw["thresholds"]),
                multivariate=None
                if multivariate is None
                else MultivariateDrift.from_dict(multivariate),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitoringError(f"not a drift report's dict: {exc!r}") from exc


_FLOATS = {"psi", "statistic", "p_value", "effect", "reference_missing", "current_missing"}
_TUPLES = {"bins", "reference_shares", "current_shares"}


def _float(value: float | str | None) -> float:
    if value is None:
        return math.nan
    if value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    return float(value)


def _json(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value
