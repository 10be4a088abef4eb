"""How much a strategy's picks depend on the model's initialisation (Panagopoulos et al. 2025, Figure 1).

On one fixed split, every strategy runs R times with different initialisation seeds (for one-shot
strategies the seed is the selector's ``seed``; only ``random`` uses it). Per strategy and cycle:

* ``picks_per_run``: perturbations each run has picked up to the cycle (``cycle * perturbations_per_cycle``);
* ``distinct_across_runs``: the size of the union of the R runs' cumulative picks (the paper's second
  bar: equal to ``picks_per_run`` when every run picked the same perturbations);
* ``in_every_run``: the size of their intersection;
* ``mean_pairwise_jaccard``: the mean over the R(R-1)/2 pairs of runs of |A ∩ B| / |A ∪ B| (1 = identical).
"""

from __future__ import annotations

import itertools
import os
import textwrap
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..io import save_figure

STABILITY_COLUMNS = (
    "strategy",
    "kind",
    "cycle",
    "runs",
    "picks_per_run",
    "distinct_across_runs",
    "in_every_run",
    "mean_pairwise_jaccard",
)


def stability_table(
    runs: Mapping[str, Sequence[Sequence[str]]],
    perturbations_per_cycle: int,
    cycles: int,
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The stability statistics (module docstring) of each strategy's runs.

    Parameters
    ----------
    runs : mapping strategy -> sequence of R pick orders
        Each run's picks in order (at least ``cycles * perturbations_per_cycle`` of them; longer one-shot rankings are
        cut per cycle).
    perturbations_per_cycle, cycles : int
    kinds : mapping strategy -> str, optional
        ``'one-shot'`` or ``'active'``, copied to the ``kind`` column.

    Returns
    -------
    pandas.DataFrame
        Columns ``STABILITY_COLUMNS``, one row per strategy and cycle; ``mean_pairwise_jaccard`` is NaN
        for a single run.

    Raises
    ------
    ValueError
        A run with fewer than ``cycles * perturbations_per_cycle`` picks.
    """
    rows = []
    for strategy, orders in runs.items():
        orders = [list(o) for o in orders]
        short = [len(o) for o in orders if len(o) < cycles * perturbations_per_cycle]
        if short:
            raise ValueError(
                f"{strategy}: a run has {short[0]} picks, {cycles} cycles of {perturbations_per_cycle} "
                f"need {cycles * perturbations_per_cycle}"
            )
        for cycle in range(1, cycles + 1):
            sets = [set(o[: cycle * perturbations_per_cycle]) for o in orders]
            pairs = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2)]
            rows.append(
                {
                    "strategy": strategy,
                    "kind": (kinds or {}).get(strategy, ""),
                    "cycle": cycle,
                    "runs": len(sets),
                    "picks_per_run": cycle * perturbations_per_cycle,
                    "distinct_across_runs": len(set().union(*sets)),
                    "in_every_run": len(set.intersection(*sets)),
                    "mean_pairwise_jaccard": float(np.mean(pairs)) if pairs else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(STABILITY_COLUMNS))


def stability_statement(table: pd.DataFrame) -> str:
    """One sentence on the final cycle: which strategies picked the same perturbations in every run and how
    far the others' runs overlap (mean pairwise Jaccard)."""
    if table.empty:
        return "no runs"
    final = table[table["cycle"] == table["cycle"].max()]
    same = final[final["distinct_across_runs"] == final["picks_per_run"]]["strategy"].tolist()
    differ = final[final["distinct_across_runs"] > final["picks_per_run"]]
    runs, cycle = int(final["runs"].max()), int(final["cycle"].iloc[0])
    parts = []
    if same:
        parts.append(f"{', '.join(same)} picked the same perturbations in all {runs} runs")
    if len(differ):
        parts.append(
            "the picks of "
            + ", ".join(
                f"{r.strategy} ({r.distinct_across_runs} distinct for {r.picks_per_run} per run, Jaccard "
                f"{r.mean_pairwise_jaccard:.2f})"
                for r in differ.itertuples()
            )
            + " depend on the initialisation"
        )
    return f"Up to cycle {cycle}: " + "; ".join(parts) + "."


def plot_stability(table: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """The paper's Figure 1 layout: per strategy, bars of picks per run and distinct picks across runs per
    cycle; a second row with the mean pairwise Jaccard overlap. SVG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = list(dict.fromkeys(table["strategy"]))
    n = max(1, len(strategies))
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 4.6), sharey="row", squeeze=False)
    for i, strategy in enumerate(strategies):
        frame = table[table["strategy"] == strategy].sort_values("cycle")
        x = frame["cycle"].to_numpy()
        ax = axes[0][i]
        ax.bar(x - 0.2, frame["picks_per_run"], width=0.4, color="#9ecae1", label="picked per run")
        ax.bar(x + 0.2, frame["distinct_across_runs"], width=0.4, color="#de2d26", label="distinct across runs")
        ax.set_title(f"{strategy} ({frame['kind'].iloc[0]})" if frame["kind"].iloc[0] else strategy, fontsize=9)
        ax.set_xticks(x)
        axes[1][i].plot(x, frame["mean_pairwise_jaccard"], marker="o", color="black")
        axes[1][i].set_ylim(0, 1.05)
        axes[1][i].set_xticks(x)
        axes[1][i].set_xlabel("cycle")
    axes[0][0].set_ylabel("perturbations")
    axes[1][0].set_ylabel("mean pairwise Jaccard")
    axes[0][0].legend(frameon=False, fontsize=7)
    runs = int(table["runs"].max()) if len(table) else 0
    fig.suptitle(f"{title} — {runs} initialisations on one split".strip(" —"), fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.text(0.01, 0.01, textwrap.fill(stability_statement(table), 40 * n), fontsize=7, va="bottom")
    save_figure(fig, path)
    plt.close(fig)
