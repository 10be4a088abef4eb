"""The coverage plot of a design: coverage fraction against the number of picks, beside random orders of the
same candidates and the coverage of all of them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..io import FIGURE_FORMATS, InputError, save_figure
from ..knowledge.graph import KnowledgeGraph
from .coverage import random_coverage, reachable_nodes


def plot_format(path: str | os.PathLike, source: str | None = None) -> str:
    """The plot format named by the suffix of ``path``: one of :data:`FIGURE_FORMATS`.

    Raises
    ------
    InputError
        Any other suffix (source ``source``, default the path).
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        raise InputError(
            source or path, None, f"the coverage plot must end in {', '.join('.' + f for f in FIGURE_FORMATS)}"
        )
    return suffix


def plot_coverage(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    hops: int,
    method: str = "",
    seed: int = 0,
    n_orders: int = 20,
    title: str = "",
    fmt: str | None = None,
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
    perturbations_per_cycle: int | None = None,
) -> None:
    """Coverage fraction against the number of perturbations picked, written atomically.

    Draws the ranking of ``table`` (from :func:`perturb_select.design.coverage.rank_perturbations`), the mean
    and range of ``n_orders`` seeded random orders of the same candidates (:func:`random_coverage`, from the
    same start), the coverage of all candidates (dashed), the coverage of the screened perturbations (dotted, when
    given), and the cycle boundaries (thin vertical lines, when ``perturbations_per_cycle`` is given), all as fractions
    of ``graph.n_nodes``.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``rank`` and ``coverage_fraction``.
    path : path-like
        ``.svg`` (text kept as text, no date: same numbers, same file), ``.png`` (150 dpi) or ``.pdf``.
    graph, candidates, hops, screened, required, perturbations_per_cycle
        As given to :func:`perturb_select.design.coverage.rank_perturbations`.
    method : str
        Legend label of the ranking.
    seed, n_orders : int
        Random baseline (see :func:`random_coverage`).
    title : str
        Plot title; default names the candidates and K.
    fmt : {'svg', 'png', 'pdf'}, optional
        Overrides the format given by the suffix of ``path``.

    Raises
    ------
    InputError
        A suffix other than ``.svg``, ``.png`` or ``.pdf`` (and no ``fmt``).
    """
    fmt = fmt or plot_format(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = len(table)
    picks = np.arange(1, budget + 1)
    n_nodes = graph.n_nodes
    baseline = (
        random_coverage(
            graph, candidates, budget, hops, seed=seed, n_orders=n_orders, screened=screened, required=required
        )
        / n_nodes
    )
    ceiling = reachable_nodes(graph, candidates, hops, screened=screened) / n_nodes

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(picks, table["coverage_fraction"].to_numpy(), color="C0", label=method or "selection")
    ax.plot(picks, baseline.mean(axis=0), color="C7", label=f"random order (mean, range of {n_orders}; seed {seed})")
    ax.fill_between(picks, baseline.min(axis=0), baseline.max(axis=0), color="C7", alpha=0.25, linewidth=0)
    ax.axhline(
        ceiling, color="k", linestyle="--", linewidth=0.8, label=f"all {len(candidates)} candidates ({ceiling:.3f})"
    )
    if len(screened):
        start = reachable_nodes(graph, [], hops, screened=screened) / n_nodes
        ax.axhline(
            start, color="C3", linestyle=":", linewidth=0.8, label=f"{len(screened)} screened before ({start:.3f})"
        )
    if perturbations_per_cycle is not None and budget > perturbations_per_cycle:
        for boundary in range(int(perturbations_per_cycle), budget, int(perturbations_per_cycle)):
            ax.axvline(boundary + 0.5, color="C2", linewidth=0.5, alpha=0.6)
        ax.plot([], [], color="C2", linewidth=0.5, label=f"cycle boundaries ({perturbations_per_cycle} per cycle)")
    ax.set_xlabel("perturbations picked (budget)")
    ax.set_ylabel(f"coverage fraction (covered / {n_nodes:,} nodes)")
    ax.set_xlim(1, max(budget, 2))
    ax.set_ylim(0, min(1.0, ceiling * 1.1) if ceiling > 0 else 1.0)
    ax.set_title(title or f"receptive-field coverage, K = {hops}: {len(candidates)} candidates", fontsize=10)
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        save_figure(fig, path, fmt)
    finally:
        plt.close(fig)
