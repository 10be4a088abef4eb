"""Models every GEARS score is reported beside, trained on the same picks and tested on the same split.

* ``no_change``: the prediction is the control mean (the perturbation does nothing).
* ``train_mean``: the mean over the cycle's training perturbations of each perturbation's mean
  expression (the "mean baseline" of Ahlmann-Eltze, Huber & Anders 2025).
* ``go_kernel_ridge``: kernel ridge regression of perturbation effects on a diffusion kernel over the
  GO knowledge graph. A perturbation's effect is its mean expression minus the control mean,
  ``y_g`` (n_genes,). With the training perturbations' effects ``Y`` (n, G), their mean effect ``mu``
  and the kernel ``K``, a test perturbation ``t`` is predicted as

      ctrl + mu + K[t, train] (K[train, train] + lambda I)^-1 (Y - mu)

  (kernel ridge regression with an unpenalised intercept, Hastie, Tibshirani & Friedman, *Elements of
  Statistical Learning* 2009, eq. 5.61 / 12.2 with the data centred; as ``lambda -> inf`` the prediction
  is ``train_mean``, and a test perturbation unrelated in the graph to every training one (kernel 0) is
  predicted as ``train_mean`` too). The kernel is the diffusion kernel ``exp(-beta L)`` (Kondor &
  Lafferty 2002) with the normalised Laplacian ``L`` of the symmetrised graph with self-loops
  (``knowledge.kernels.diffusion_kernels``, at the diffusion times :data:`BETAS`). ``lambda`` (relative to
  the mean diagonal of ``K``) and ``beta`` are chosen by leave-one-out mean squared error on the training
  perturbations only (closed form ``(y_i - yhat_i) / (1 - H_ii)``, ``H = K (K + lambda I)^-1``, on the
  centred effects), over each training perturbation's own top-20 DE genes: the quantity the models are
  scored on (``mse_top20_de``). Over all genes, the criterion once chose a smoother fit than the score
  wanted (SIMULATED graph_signal 0.9: kernel ridge minus train_mean -0.026..-0.047 instead of
  -0.061..-0.076; docs/simulation.md).
* ``sgc_ridge``: ridge regression of a perturbation's effect on its receptive-field features, the row of
  GEARS's SGC operator to the power K (``knowledge.graph.propagation_rows``: ``P^K[p, :]`` over every node
  of the GO graph, ``P = D^-1/2 (A^T + I) D^-1/2``, K = ``gears.num_go_gnn_layers``, scaled to unit
  length as the SIMULATED receptive-field truth is), with an unpenalised intercept and ``lambda`` chosen
  by the same leave-one-out criterion. In dual form it is kernel ridge with the linear kernel
  ``F F^T`` of the features ``F``, which is how it is computed (``m x m`` instead of ``n_nodes`` wide).
  It is the closed-form linear analogue of GEARS's perturbation path: the weight a node's embedding
  gets can only be learnt from training perturbations whose receptive field holds it, so a node no
  training perturbation reaches contributes nothing to a prediction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from ..io import InputError, load_container, save_container
from ..knowledge.kernels import diffusion_kernels
from ..screens.layout import CTRL, condition_gene, condition_of
from .metrics import evaluate_predictions

MODELS = ("no_change", "train_mean", "go_kernel_ridge", "sgc_ridge")
#: A SIMULATED screen's extra row: its true mean expression, scored like the models (the floor any model can
#: reach given cell noise).
ORACLE = "oracle"
BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)
"""Diffusion times: at 8 on the human GO graph, kernel correlations of STAT1 with STAT2 0.43, with BRD4 0.006;
at 32 nearly every pair of Papalexi targets correlates above 0.99 (the kernel forgets the graph)."""
LAMBDAS = tuple(10.0 ** np.arange(-3, 4))
KERNELS_FORMAT = "perturb-select graph kernels v2"
"""v2 adds the SGC ridge's kernel (``sgc``, ``hops``) to the diffusion kernels of v1."""


def sgc_kernel(graph, genes: Sequence[str], hops: int) -> np.ndarray:
    """The SGC ridge's kernel ``F F^T`` between ``genes`` (module docstring), ``F`` their unit rows of
    ``P^K`` (``knowledge.graph.propagation_rows``).

    Parameters
    ----------
    graph : KnowledgeGraph
    genes : sequence of str, length m
    hops : int
        K >= 0.

    Returns
    -------
    numpy.ndarray of float64, shape (m, m)
        Symmetric positive semi-definite, unit diagonal; entry (i, j) > 0 iff the receptive fields of
        genes i and j share a node.

    Raises
    ------
    KeyError
        A gene that is not a node.
    """
    from ..knowledge.graph import propagation_rows

    rows = propagation_rows(graph, [str(g) for g in genes], int(hops), unit=True)
    kernel = (rows @ rows.T).toarray()
    return (kernel + kernel.T) * 0.5


def de_mask(de_idx: np.ndarray, n_genes: int) -> np.ndarray:
    """Boolean (n, n_genes) mask of each row's DE genes from GEARS-style indices (n, 20), -1 padding."""
    de_idx = np.asarray(de_idx, dtype=np.int64)
    mask = np.zeros((de_idx.shape[0], n_genes), dtype=bool)
    rows, cols = np.nonzero(de_idx >= 0)
    mask[rows, de_idx[rows, cols]] = True
    return mask


@dataclass
class KernelRidgeFit:
    """The chosen ``beta`` and ``lambda`` and the leave-one-out MSE of every pair (B, L)."""

    beta_index: int
    lam: float
    loo_mse: np.ndarray


def choose_kernel_ridge(
    kernels: np.ndarray, effects: np.ndarray, lambdas: Sequence[float] = LAMBDAS, scored: np.ndarray | None = None
) -> KernelRidgeFit:
    """Pick ``beta`` (a kernel of ``kernels``) and ``lambda`` by leave-one-out MSE (module docstring).

    Parameters
    ----------
    kernels : numpy.ndarray, shape (B, n, n)
        Kernels between the n training perturbations.
    effects : numpy.ndarray, shape (n, G)
    lambdas : sequence of float
        Multiples of the kernel's mean diagonal.
    scored : numpy.ndarray of bool, shape (n, G), optional
        Which entries the criterion averages (each training perturbation's top-20 DE genes, :func:`de_mask`);
        None or an all-False mask: every entry.

    Returns
    -------
    KernelRidgeFit
        With fewer than 3 training perturbations leave-one-out says nothing: the largest ``lambda``
        (closest to ``train_mean``) and the first ``beta`` are kept, ``loo_mse`` all NaN.
        Ties go to the larger ``lambda``, then the smaller ``beta``.
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    effects = np.asarray(effects, dtype=np.float64)
    n = effects.shape[0]
    lambdas = np.asarray(lambdas, dtype=np.float64)
    loo = np.full((len(kernels), len(lambdas)), np.nan)
    if n < 3:
        return KernelRidgeFit(0, float(lambdas.max() * max(np.mean(np.diag(kernels[0])), 1e-12)), loo)
    centred = effects - effects.mean(axis=0)
    weights = None
    if scored is not None and np.asarray(scored).any():
        weights = np.asarray(scored, dtype=bool)
    for b, k in enumerate(kernels):
        scale = max(float(np.mean(np.diag(k))), 1e-12)
        values, vectors = np.linalg.eigh(k)
        projected = vectors.T @ centred
        for j, lam in enumerate(lambdas):
            # H = V diag(s / (s + lam)) V^T: one eigendecomposition serves every lambda
            shrink = values / (values + lam * scale)
            hat_y = vectors @ (shrink[:, None] * projected)
            leverage = np.einsum("ij,j,ij->i", vectors, shrink, vectors)
            residual = (centred - hat_y) / (1.0 - leverage)[:, None]
            loo[b, j] = float(np.mean(residual[weights] ** 2 if weights is not None else residual**2))
    best = min(((loo[b, j], -lambdas[j], b, j) for b in range(len(kernels)) for j in range(len(lambdas))))
    b, j = best[2], best[3]
    return KernelRidgeFit(b, float(lambdas[j] * max(float(np.mean(np.diag(kernels[b]))), 1e-12)), loo)


def kernel_ridge_predict(k_train: np.ndarray, k_test_train: np.ndarray, effects: np.ndarray, lam: float) -> np.ndarray:
    """Predicted effects ``mu + K[test, train] (K[train, train] + lam I)^-1 (Y - mu)``, shape (m, G)."""
    effects = np.asarray(effects, dtype=np.float64)
    mu = effects.mean(axis=0)
    alpha = np.linalg.solve(np.asarray(k_train) + lam * np.eye(len(effects)), effects - mu)
    return mu + np.asarray(k_test_train) @ alpha


def baseline_predictions(
    ctrl_mean: np.ndarray,
    train_means: np.ndarray,
    kernels: np.ndarray | None = None,
    n_test: int = 1,
    sgc: np.ndarray | None = None,
    scored: np.ndarray | None = None,
) -> dict:
    """Predicted mean expression of the test perturbations by every model of ``MODELS``.

    Parameters
    ----------
    ctrl_mean : numpy.ndarray, shape (G,)
    train_means : numpy.ndarray, shape (n, G)
        Mean expression of each training perturbation.
    kernels : numpy.ndarray, shape (B, n + n_test, n + n_test), optional
        Diffusion kernels between the training perturbations (first n) and the test ones; without them
        ``go_kernel_ridge`` is left out.
    n_test : int
    sgc : numpy.ndarray, shape (n + n_test, n + n_test), optional
        :func:`sgc_kernel` in the same order; without it ``sgc_ridge`` is left out.
    scored : numpy.ndarray of bool, shape (n, G), optional
        The training perturbations' top-20 DE genes: the leave-one-out criterion's entries
        (:func:`choose_kernel_ridge`).

    Returns
    -------
    dict
        ``{model: (n_test, G) float64}``, ``'fit': KernelRidgeFit`` when kernels are given and
        ``'sgc_fit'`` when ``sgc`` is.
    """
    ctrl_mean = np.asarray(ctrl_mean, dtype=np.float64)
    train_means = np.asarray(train_means, dtype=np.float64)
    out = {
        "no_change": np.tile(ctrl_mean, (n_test, 1)),
        "train_mean": np.tile(train_means.mean(axis=0), (n_test, 1)),
    }
    n = len(train_means)
    effects = train_means - ctrl_mean
    if kernels is not None:
        fit = choose_kernel_ridge(kernels[:, :n, :n], effects, scored=scored)
        k = kernels[fit.beta_index]
        out["go_kernel_ridge"] = ctrl_mean + kernel_ridge_predict(k[:n, :n], k[n:, :n], effects, fit.lam)
        out["fit"] = fit
    if sgc is not None:
        sgc = np.asarray(sgc, dtype=np.float64)
        fit = choose_kernel_ridge(sgc[None, :n, :n], effects, scored=scored)
        out["sgc_ridge"] = ctrl_mean + kernel_ridge_predict(sgc[:n, :n], sgc[n:, :n], effects, fit.lam)
        out["sgc_fit"] = fit
    return out


# --------------------------------------------------------------------------------------------------
# The kernels file and one cycle's scores
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphKernels:
    """The kernels between a dataset's candidates that the graph baselines use (``kernels.npz``).

    Attributes
    ----------
    genes : list of str, length m
    betas : numpy.ndarray of float64, shape (B,)
    diffusion : numpy.ndarray of float64, shape (B, m, m)
        :func:`diffusion_kernels` at ``betas`` (``go_kernel_ridge``).
    sgc : numpy.ndarray of float64, shape (m, m)
        :func:`sgc_kernel` at ``hops`` (``sgc_ridge``).
    hops : int
    """

    genes: list
    betas: np.ndarray
    diffusion: np.ndarray
    sgc: np.ndarray
    hops: int


def graph_kernels(graph, genes: Sequence[str], hops: int, betas: Sequence[float] = BETAS) -> GraphKernels:
    """:func:`diffusion_kernels` and :func:`sgc_kernel` between ``genes``."""
    genes = [str(g) for g in genes]
    return GraphKernels(
        genes=genes,
        betas=np.asarray(betas, dtype=np.float64),
        diffusion=diffusion_kernels(graph, genes, betas),
        sgc=sgc_kernel(graph, genes, hops),
        hops=int(hops),
    )


def save_kernels(path: str | os.PathLike, kernels: GraphKernels) -> None:
    """Write a dataset's :class:`GraphKernels` (``kernels.npz``), atomically."""
    save_container(
        path,
        KERNELS_FORMAT,
        {
            "genes": np.array(kernels.genes),
            "betas": kernels.betas,
            "kernels": kernels.diffusion,
            "sgc": kernels.sgc,
            "hops": np.array(kernels.hops, dtype=np.int64),
        },
    )


def load_kernels(path: str | os.PathLike) -> GraphKernels:
    """A :func:`save_kernels` file; ``InputError`` naming it when it is not one or its shapes disagree."""
    arrays, _ = load_container(
        path, KERNELS_FORMAT, ("genes", "betas", "kernels", "sgc", "hops"), hint="rerun graph_kernel"
    )
    genes, betas, kernels = arrays["genes"].astype(str).tolist(), arrays["betas"], arrays["kernels"]
    if kernels.shape != (len(betas), len(genes), len(genes)):
        raise InputError(
            path, "kernels", f"shape {kernels.shape} does not match {len(betas)} betas and {len(genes)} genes"
        )
    if arrays["sgc"].shape != (len(genes), len(genes)):
        raise InputError(path, "sgc", f"shape {arrays['sgc'].shape} does not match {len(genes)} genes")
    return GraphKernels(genes=genes, betas=betas, diffusion=kernels, sgc=arrays["sgc"], hops=int(arrays["hops"]))


def score_baselines(
    screen,
    kernels: GraphKernels,
    train_genes: Sequence[str],
    test_genes: Sequence[str],
    source: str = "kernels",
    truth: dict | None = None,
) -> dict:
    """Every model of :data:`MODELS` trained on ``train_genes`` and scored on ``test_genes`` with the metrics
    GEARS gets (``metrics.evaluate_predictions``); with ``truth`` (a SIMULATED screen's, ``{condition:
    expression row in the screen's gene order}``, ``screens.simulated.read_truth``) also :data:`ORACLE`.
    ``test_genes`` may be the training genes themselves (in-sample scores).

    Parameters
    ----------
    screen : perturb_select.screens.arrays.ScreenArrays
    kernels : GraphKernels
        :func:`load_kernels`'s output; must cover every training and test gene.
    train_genes, test_genes : sequence of str

    Returns
    -------
    dict
        ``n_train_perturbations``, ``models`` {model: evaluate_predictions's dict}, ``kernel_ridge``
        (the chosen ``beta`` and ``lambda`` and the leave-one-out MSE grid, NaN as None) and ``sgc_ridge``
        (``hops``, the chosen ``lambda`` and its grid).

    Raises
    ------
    InputError
        A gene without a kernel row (source ``source``), a test condition without a truth row.
    """
    train_genes, test_genes = list(train_genes), list(test_genes)
    position = {g: i for i, g in enumerate(kernels.genes)}
    missing = [g for g in train_genes + test_genes if g not in position]
    if missing:
        raise InputError(source, "genes", f"no kernel rows for {missing[:10]}")
    rows = [position[g] for g in train_genes + test_genes]
    ctrl_mean = screen.mean_expression(CTRL)
    train_means = np.stack([screen.mean_expression(condition_of(g)) for g in train_genes])
    scored = de_mask(screen.de_idx[[screen.condition_index(condition_of(g)) for g in train_genes]], len(ctrl_mean))
    test_conds = sorted(condition_of(g) for g in test_genes)
    order = [test_genes.index(condition_gene(c)) for c in test_conds]
    predicted = baseline_predictions(
        ctrl_mean,
        train_means,
        kernels.diffusion[:, rows][:, :, rows],
        n_test=len(test_genes),
        sgc=kernels.sgc[np.ix_(rows, rows)],
        scored=scored,
    )
    models = MODELS
    if truth is not None:
        absent = [condition_of(g) for g in test_genes if condition_of(g) not in truth]
        if absent:
            raise InputError("truth", "conditions", f"no truth for {absent[:5]}")
        predicted[ORACLE] = np.stack([truth[condition_of(g)] for g in test_genes]).astype(np.float64)
        models = MODELS + (ORACLE,)
    idx = [screen.condition_index(c) for c in test_conds]
    truth = np.stack([screen.mean_expression(c) for c in test_conds])
    scores = {}
    for model in models:
        run = SimpleNamespace(
            conditions=np.array(test_conds),
            pred=predicted[model][order],
            truth=truth,
            ctrl_mean=ctrl_mean,
            de_idx=screen.de_idx[idx],
            de_idx_non_dropout=screen.de_idx_non_dropout[idx],
        )
        scores[model] = evaluate_predictions(run)
    fit, sgc_fit = predicted["fit"], predicted["sgc_fit"]
    return {
        "n_train_perturbations": len(train_genes),
        "models": scores,
        "kernel_ridge": {
            "beta": float(kernels.betas[fit.beta_index]),
            "lambda": fit.lam,
            "loo_mse": _json_grid(fit.loo_mse),
        },
        "sgc_ridge": {"hops": kernels.hops, "lambda": sgc_fit.lam, "loo_mse": _json_grid(sgc_fit.loo_mse)[0]},
    }


def _json_grid(values: np.ndarray) -> list:
    return [[None if np.isnan(v) else float(v) for v in row] for row in values]
