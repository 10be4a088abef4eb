"""Paired tests over seeds: the Wilcoxon p, a bootstrap interval of the mean difference, Holm's adjustment of
a family of p-values, and what a design of n seeds can detect.

The paired unit is a seed: every strategy and model of a seed shares its split, so a comparison is a vector
of per-seed differences. Everything here is deterministic: the bootstrap draws from a generator seeded with
:data:`BOOTSTRAP_SEED`, so the same differences give the same interval, byte for byte.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

#: Seed of the bootstrap's generator (``numpy.random.default_rng``): same input, same interval.
BOOTSTRAP_SEED = 0
#: Bootstrap resamples per interval (vectorised: one ``(N_RESAMPLES, n)`` index array per call).
N_RESAMPLES = 10_000


def _finite(differences) -> np.ndarray:
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"expected a 1-D array of paired differences, got shape {d.shape}")
    return d[np.isfinite(d)]


def paired_wilcoxon(differences) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (``scipy.stats.wilcoxon``, its defaults:
    exact null distribution for small samples without ties or zeros).

    Parameters
    ----------
    differences : array_like, shape (n,), float
        One difference per paired unit (seed); NaN and infinite entries are left out.

    Returns
    -------
    float
        The p-value; 1.0 when every difference is 0 (identical runs), NaN for fewer than 2 finite pairs.

    Raises
    ------
    ValueError
        If ``differences`` is not one-dimensional.
    """
    from scipy.stats import wilcoxon

    d = _finite(differences)
    if len(d) < 2:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    return float(wilcoxon(d).pvalue)


def bootstrap_interval(
    differences, confidence: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences (Efron & Tibshirani 1993, *An
    Introduction to the Bootstrap*, ch. 13.3): the seeds are resampled with replacement ``n_resamples``
    times, and the interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
    (``numpy.quantile``, linear interpolation) of the resampled means.

    Parameters
    ----------
    differences : array_like, shape (n,), float
        One difference per paired unit (seed); NaN and infinite entries are left out.
    confidence : float
        Coverage of the interval, in (0, 1).
    n_resamples : int
        Number of bootstrap resamples, at least 1.
    seed : int
        Seed of ``numpy.random.default_rng``; a fresh generator per call, so the interval depends only on
        the input.

    Returns
    -------
    (float, float)
        ``(low, high)``; ``(NaN, NaN)`` for fewer than 2 finite pairs. With n seeds there are at most
        ``C(2n - 1, n)`` distinct resamples, so for a handful of seeds the interval is coarse and, like any
        percentile interval from few units, too narrow rather than too wide.

    Raises
    ------
    ValueError
        If ``differences`` is not one-dimensional, ``confidence`` is not in (0, 1) or ``n_resamples < 1``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    d = _finite(differences)
    if len(d) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(int(n_resamples), len(d)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979, *Scand. J. Statist.* 6:65-70) of one family.

    With the m finite p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted value of ``p_(i)`` is
    ``min(1, max_{j <= i} (m - j + 1) p_(j))``: monotone in the sorted order, never below the raw p, capped
    at 1. Rejecting where the adjusted p is below alpha controls the family-wise error rate at alpha under
    any dependence between the tests. Tied p-values get the same adjusted value (as
    ``statsmodels.stats.multitest.multipletests(method="holm")``).

    Parameters
    ----------
    pvalues : array_like, shape (k,), float
        The family's p-values; NaN entries (no test) are left out of the family (m counts the others) and
        stay NaN.

    Returns
    -------
    numpy.ndarray, shape (k,), float64
        The adjusted p-values, in the input order.

    Raises
    ------
    ValueError
        If ``pvalues`` is not one-dimensional or a non-NaN entry is outside [0, 1].
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"expected a 1-D array of p-values, got shape {p.shape}")
    tested = ~np.isnan(p)
    if np.any((p[tested] < 0) | (p[tested] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[tested][(p[tested] < 0) | (p[tested] > 1)]}")
    out = np.full(p.shape, np.nan)
    q = p[tested]
    m = len(q)
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    stepped = np.minimum(np.maximum.accumulate((m - np.arange(m)) * q[order]), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = stepped
    out[tested] = adjusted
    return out


def holm_by(table: pd.DataFrame, p_column: str, family: Sequence[str], include: pd.Series | None = None) -> pd.Series:
    """:func:`holm` within each family of rows of ``table``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per comparison.
    p_column : str
        The column of raw p-values.
    family : sequence of str
        Columns whose values name a family (rows with equal values form one family).
    include : pandas.Series of bool, optional
        Rows that belong to a family at all (aligned with ``table``); the others get NaN.

    Returns
    -------
    pandas.Series, float64
        The Holm-adjusted p-values, indexed like ``table``.
    """
    out = pd.Series(np.nan, index=table.index, dtype=np.float64)
    rows = table if include is None else table[include.to_numpy(dtype=bool)]
    if rows.empty:
        return out
    for _, frame in rows.groupby(list(family), sort=False, dropna=False):
        out.loc[frame.index] = holm(frame[p_column].to_numpy(dtype=np.float64))
    return out


def wilcoxon_floor(n: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give with ``n`` nonzero paired
    differences: ``2 / 2**n`` (every difference of one sign; 0.031 at n = 6, 0.0020 at n = 10), capped at 1.

    Raises
    ------
    ValueError
        If ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return float(min(1.0, 2.0 / 2.0**n))


def detectable_difference(sd, n, alpha: float = 0.05, power: float = 0.8):
    """The smallest true mean difference a paired two-sided test at level ``alpha`` detects with probability
    ``power``, in the normal approximation: ``(z_{1-alpha/2} + z_{power}) * sd / sqrt(n)``.

    The approximation treats ``sd`` (the seed-to-seed standard deviation of the paired differences) as
    known, so for a few seeds it is optimistic (a paired t test would use ``t_{n-1}`` quantiles: 2.57
    instead of 1.96 at n = 6); the Wilcoxon signed-rank test has asymptotic efficiency 3/pi (0.955)
    relative to the t test under normality, and cannot reach p below :func:`wilcoxon_floor` at all.

    Parameters
    ----------
    sd : float or array_like of float
        Standard deviation (ddof=1) of the paired differences.
    n : int or array_like of int
        Number of pairs (seeds); broadcast against ``sd``.
    alpha : float
        Two-sided level, in (0, 1).
    power : float
        Probability of detection, in (0, 1).

    Returns
    -------
    float or numpy.ndarray of float64
        ``d_min`` in the metric's units, NaN where ``n < 2`` or ``sd`` is NaN.

    Raises
    ------
    ValueError
        If ``alpha`` or ``power`` is not in (0, 1).
    """
    from scipy.stats import norm

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    sd = np.asarray(sd, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_min = (norm.ppf(1 - alpha / 2) + norm.ppf(power)) * sd / np.sqrt(n)
    d_min = np.where(n >= 2, d_min, np.nan)
    return float(d_min) if d_min.ndim == 0 else d_min
