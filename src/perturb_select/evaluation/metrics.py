"""Evaluation of one cycle's predictions for the held-out test perturbations (pure numpy).

Every metric compares, per test perturbation, the mean predicted expression over the perturbation's
cells with the mean observed expression of the same cells, as GEARS's own test evaluation does
(``gears/inference.py::compute_metrics`` and ``deeper_analysis``). The primary metric of Panagopoulos et
al. 2025 is the MSE on the perturbation's top-20 DE genes (``mse_top20_de``, GEARS's ``mse_de``).

Metric names and their GEARS counterparts (all per perturbation, then averaged over perturbations):

=========================== ===================================================================
``mse_top20_de``            ``compute_metrics`` ``mse_de``: MSE of the means on the top-20 DE genes
``mse``                     ``compute_metrics`` ``mse``: MSE of the means on all genes
``pearson``                 ``compute_metrics`` ``pearson``: Pearson r of the means, all genes
``pearson_delta``           ``deeper_analysis`` ``pearson_delta``: r of (mean - control mean)
``pearson_delta_top20_de``  ``deeper_analysis`` ``pearson_delta_de``: the same on the top-20 DE genes
``mse_top20_de_non_dropout`` ``non_dropout_analysis`` ``mse_top20_de_non_dropout`` (only when the
                            non-dropout DE indices are given)
=========================== ===================================================================

Undefined Pearson correlations (an input with zero variance, or fewer than two genes) are 0, as GEARS
sets ``nan`` results of ``scipy.stats.pearsonr`` to 0; a perturbation with no valid DE index gets
``nan`` for the DE metrics, and means over perturbations ignore nothing (a ``nan`` propagates).
"""

from __future__ import annotations

from typing import Any

import numpy as np

METRICS = (
    "mse_top20_de",
    "mse",
    "pearson",
    "pearson_delta",
    "pearson_delta_top20_de",
)
"""Metrics reported for every cycle; ``mse_top20_de_non_dropout`` is added when available."""

PRIMARY_METRIC = "mse_top20_de"


def pearson_or_zero(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two vectors, 0.0 where it is undefined.

    Parameters
    ----------
    x, y : numpy.ndarray, shape (n,)
        Computed in float64.

    Returns
    -------
    float
        Pearson's r clipped to [-1, 1] (like ``scipy.stats.pearsonr``); 0.0 when ``n < 2`` or either
        vector is constant, where ``pearsonr`` gives ``nan`` and GEARS
        (``gears/inference.py::compute_metrics``) replaces ``nan`` by 0.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson: shapes differ {x.shape} vs {y.shape}")
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return 0.0
    xm = x - x.mean()
    ym = y - y.mean()
    nx, ny = np.linalg.norm(xm), np.linalg.norm(ym)
    if nx == 0 or ny == 0:  # variation lost to underflow: as undefined as a constant input
        return 0.0
    # Normalise first, as scipy does, so that large values do not overflow the product.
    xm /= nx
    ym /= ny
    r = float(np.dot(xm, ym))
    if np.isnan(r):
        return 0.0
    return float(min(max(r, -1.0), 1.0))


def _valid(idx_row: np.ndarray) -> np.ndarray:
    return idx_row[idx_row >= 0]


def perturbation_metrics(
    pred: np.ndarray,
    truth: np.ndarray,
    ctrl_mean: np.ndarray,
    de_idx: np.ndarray,
    de_idx_non_dropout: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every metric for every test perturbation.

    Parameters
    ----------
    pred : numpy.ndarray, shape (n_test, n_genes), float
        Mean predicted expression per perturbation (log1p of normalised counts).
    truth : numpy.ndarray, shape (n_test, n_genes), float
        Mean observed expression of the perturbation's cells.
    ctrl_mean : numpy.ndarray, shape (n_genes,), float
        Mean expression of the control cells.
    de_idx : numpy.ndarray, shape (n_test, k), int
        Gene indices of each perturbation's top-20 DE genes, padded with -1.
    de_idx_non_dropout : numpy.ndarray, shape (n_test, k), int, optional
        Top-20 non-dropout DE genes (GEARS's ``top_non_dropout_de_20``), padded with -1.

    Returns
    -------
    dict of str -> numpy.ndarray, shape (n_test,), float64
        Keys ``METRICS`` (+ ``mse_top20_de_non_dropout`` when ``de_idx_non_dropout`` is given).

    Raises
    ------
    ValueError
        If shapes disagree or an index is out of range.
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    ctrl_mean = np.asarray(ctrl_mean, dtype=np.float64)
    de_idx = np.asarray(de_idx)
    if pred.ndim != 2 or pred.shape != truth.shape:
        raise ValueError(f"pred {pred.shape} and truth {truth.shape} must be equal 2-D shapes")
    n_test, n_genes = pred.shape
    if ctrl_mean.shape != (n_genes,):
        raise ValueError(f"ctrl_mean has shape {ctrl_mean.shape}, expected ({n_genes},)")
    index_sets = {"de_idx": de_idx}
    if de_idx_non_dropout is not None:
        index_sets["de_idx_non_dropout"] = np.asarray(de_idx_non_dropout)
    for name, idx in index_sets.items():
        if idx.ndim != 2 or idx.shape[0] != n_test:
            raise ValueError(f"{name} has shape {idx.shape}, expected ({n_test}, k)")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got {idx.dtype}")
        if idx.size and (idx.max() >= n_genes or idx.min() < -1):
            raise ValueError(f"{name} holds indices outside [-1, {n_genes})")

    out = {name: np.full(n_test, np.nan) for name in METRICS}
    if de_idx_non_dropout is not None:
        out["mse_top20_de_non_dropout"] = np.full(n_test, np.nan)
    for i in range(n_test):
        p, t = pred[i], truth[i]
        dp, dt = p - ctrl_mean, t - ctrl_mean
        out["mse"][i] = np.mean((p - t) ** 2)
        out["pearson"][i] = pearson_or_zero(p, t)
        out["pearson_delta"][i] = pearson_or_zero(dp, dt)
        de = _valid(de_idx[i])
        if de.size:
            out["mse_top20_de"][i] = np.mean((p[de] - t[de]) ** 2)
            out["pearson_delta_top20_de"][i] = pearson_or_zero(dp[de], dt[de])
        if de_idx_non_dropout is not None:
            nd = _valid(index_sets["de_idx_non_dropout"][i])
            if nd.size:
                out["mse_top20_de_non_dropout"][i] = np.mean((p[nd] - t[nd]) ** 2)
    return out


def evaluate_predictions(pred: Any) -> dict:
    """Metrics of one cycle, per test perturbation and averaged over perturbations.

    Parameters
    ----------
    pred : perturb_select.gears.results.CyclePredictions
        Or any object with the attributes ``conditions`` (n_test,), ``pred`` and ``truth``
        (n_test, n_genes), ``ctrl_mean`` (n_genes,), ``de_idx`` (n_test, 20) and optionally
        ``de_idx_non_dropout`` (n_test, 20).

    Returns
    -------
    dict
        ``{"n_perturbations": int, "primary_metric": "mse_top20_de",
        "mean": {metric: float}, "per_perturbation": {condition: {metric: float}}}``, JSON-ready.
        Means are plain averages over test perturbations (GEARS averages per-perturbation values).

    Raises
    ------
    ValueError
        If the arrays disagree in shape, or there are no test perturbations.
    """
    conditions = [str(c) for c in np.asarray(pred.conditions).ravel()]
    if not conditions:
        raise ValueError("no test perturbations to evaluate")
    if len(set(conditions)) != len(conditions):
        raise ValueError("test conditions are not unique")
    if len(conditions) != np.asarray(pred.pred).shape[0]:
        raise ValueError(f"{len(conditions)} conditions but {np.asarray(pred.pred).shape[0]} prediction rows")
    per = perturbation_metrics(
        pred.pred,
        pred.truth,
        pred.ctrl_mean,
        pred.de_idx,
        getattr(pred, "de_idx_non_dropout", None),
    )
    return {
        "n_perturbations": len(conditions),
        "primary_metric": PRIMARY_METRIC,
        "mean": {name: float(np.mean(values)) for name, values in per.items()},
        "per_perturbation": {
            cond: {name: float(values[i]) for name, values in per.items()} for i, cond in enumerate(conditions)
        },
    }


def run_record(predictions: Any, **keys) -> dict:
    """The metrics file of one training run (``results/metrics/...json``): :func:`evaluate_predictions` of the
    test predictions, the run's ``keys`` (dataset, strategy, seed, cycle), the trainer, the perturbations it
    learnt from and, when the trainer records them, its learning curves.

    Parameters
    ----------
    predictions : perturb_select.gears.results.CyclePredictions
        With ``info`` holding ``trainer``, ``train_conditions``, ``val_conditions`` and ``diagnostics``.
    """
    info = predictions.info
    record = evaluate_predictions(predictions)
    # Perturbations GEARS learnt from in this cycle (its own train + validation split of the picks).
    record["n_train_perturbations"] = len(info["train_conditions"]) + len(info["val_conditions"])
    record["trainer"] = info["trainer"]
    if info.get("diagnostics") is not None:
        record["diagnostics"] = info["diagnostics"]
    record.update(keys)
    return record
