"""The mixture sequential probability ratio test: p-values that stay valid at every look.

A champion-challenger experiment is looked at every day, and a fixed-horizon test checked
daily rejects a true null several times more often than its alpha (the simulation in
``tests/monitoring/test_sequential_simulation.py``: over 60 daily looks with no difference,
a "significant" result in 0.33 of the experiments and a promotion in 0.17, at alpha 0.05;
this test, 0.02 and 0.01). The mixture SPRT of Johari, Pekelis and Walsh ("Always valid
inference: continuous monitoring of A/B tests", Operations Research 70(3), 2022; arXiv
1512.04922) bounds the chance that the p-value *ever* falls below alpha under the null by
alpha itself.

**The statistic.** At look n the difference of the arms' estimates ``theta_hat =
challenger - champion`` has the plug-in variance ``V = s1^2/n1 + s2^2/n2`` (each arm's own
variance: ``p (1 - p)`` for a proportion, the sample variance for a mean; the paper's
two-sample statistic, with the variance estimated as it goes). Treating
``theta_hat ~ N(theta, V)`` and mixing the alternative over ``theta ~ N(0, tau_abs^2)``, the
likelihood ratio against ``theta = 0`` is

    Lambda = sqrt(V / (V + tau_abs^2)) exp(theta_hat^2 tau_abs^2 / (2 V (V + tau_abs^2)))

and the always-valid p-value is ``p_n = min(p_{n-1}, 1 / Lambda_n)`` (``p_0 = 1``).

**The mixing variance.** ``tau`` is given as an *effect size*: in units of the standard
deviation of one observation, ``tau_abs^2 = tau^2 sbar^2`` with ``sbar^2 = V n_eff`` and
``n_eff = (1/n1 + 1/n2)^-1`` (for equal arms, ``sbar^2`` is the mean of the two arms'
variances). Then with ``z = theta_hat / sqrt(V)`` and ``r = 1 / (n_eff tau^2)``::

    log Lambda = 1/2 log(r / (1 + r)) + z^2 / (2 (1 + r))

so the test depends only on the z statistic and the effective sample size, the same for a
proportion, a mean in euros or one in cents. The paper shows ``tau`` near the effects one
expects gives the fastest decisions; :data:`MIXING_SD` = 0.05 standard deviations
(a proportion moving from 0.10 to 0.115, a twentieth of the spread of a value) was chosen by
simulation: on a 0.10 -> 0.11 lift at 1,000 rows a day and arm, 0.02 to 0.1 gave the same
power (0.99 to 0.999 in 60 days) and median days (16 to 17), 0.2 was slower (20); a
smaller ``tau`` favours smaller effects (docs/decisions.md).

**Confidence sequence.** Inverting the test at every ``theta0`` gives the always-valid
interval ``theta_hat +- sqrt(V) sqrt(2 (1 + r) (log(1/alpha) + 1/2 log((1 + r) / r)))``;
the running intersection of these intervals over the looks covers the true difference at
every look at once with probability at least ``1 - alpha``.

**Conventions.** A look with no variance (an arm empty, or every observation equal, such as
a precision of exactly 1 in both arms) carries no evidence: ``Lambda = 1`` and an unbounded
interval. The plug-in variance makes the guarantee asymptotic (as the paper's), so the
decision waits for ``min_samples`` per arm (:class:`~tether.monitoring.ExperimentPolicy`).
Every function takes numpy arrays whose last axis is the looks, so a simulation of thousands
of experiments runs in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tether.errors import MonitoringError

MIXING_SD = 0.05
"""The mixing standard deviation ``tau``, in standard deviations of one observation (see above)."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AlwaysValidPath:
    """The mSPRT along the looks of one or many experiments (the last axis is the looks)."""

    log_likelihood_ratio: FloatArray
    """``log Lambda_n`` at each look (0 where the look has no variance)."""
    p_values: FloatArray
    """The always-valid p-values, ``min(p_{n-1}, 1/Lambda_n)``, non-increasing along the looks."""
    low: FloatArray
    """The confidence sequence's lower bound (running maximum of the looks' lower bounds)."""
    high: FloatArray
    """The confidence sequence's upper bound (running minimum of the looks' upper bounds)."""


def effective_n(n_champion: npt.ArrayLike, n_challenger: npt.ArrayLike) -> FloatArray:
    """``(1/n1 + 1/n2)^-1`` (0 where an arm is empty)."""
    n1 = np.asarray(n_champion, dtype=np.float64)
    n2 = np.asarray(n_challenger, dtype=np.float64)
    total = n1 + n2
    return np.divide(n1 * n2, total, out=np.zeros(np.broadcast(n1, n2).shape), where=total > 0)


def always_valid_path(
    estimates: npt.ArrayLike,
    variances: npt.ArrayLike,
    n_eff: npt.ArrayLike,
    *,
    alpha: float,
    mixing_sd: float = MIXING_SD,
) -> AlwaysValidPath:
    """The always-valid p-values and confidence sequence of ``theta_hat`` along the looks.

    ``estimates`` are the differences (challenger - champion) at each look, ``variances``
    their plug-in variances ``V`` and ``n_eff`` the effective sample sizes
    (:func:`effective_n`); all cumulative from the experiment's start, the looks on the last
    axis. The formulas are the module's.
    """
    if mixing_sd <= 0 or not 0 < alpha < 1:
        raise MonitoringError(
            f"mSPRT with mixing_sd={mixing_sd}, alpha={alpha}: "
            "expected mixing_sd > 0 and 0 < alpha < 1"
        )
    theta = np.asarray(estimates, dtype=np.float64)
    variance = np.asarray(variances, dtype=np.float64)
    n = np.broadcast_to(np.asarray(n_eff, dtype=np.float64), theta.shape)
    informative = np.isfinite(theta) & (variance > 0) & (n > 0)
    safe_variance = np.where(informative, variance, 1.0)
    z2 = np.where(informative, theta * theta / safe_variance, 0.0)
    r = np.where(informative, 1.0 / (np.where(informative, n, 1.0) * mixing_sd**2), 1.0)
    log_lr = np.where(informative, 0.5 * np.log(r / (1 + r)) + z2 / (2 * (1 + r)), 0.0)
    p_look = np.minimum(1.0, np.exp(-log_lr))
    half = np.sqrt(safe_variance * 2 * (1 + r) * (np.log(1 / alpha) + 0.5 * np.log((1 + r) / r)))
    low = np.where(informative, theta - half, -np.inf)
    high = np.where(informative, theta + half, np.inf)
    return AlwaysValidPath(
        log_likelihood_ratio=log_lr,
        p_values=np.minimum.accumulate(p_look, axis=-1),
        low=np.maximum.accumulate(low, axis=-1),
        high=np.minimum.accumulate(high, axis=-1),
    )
