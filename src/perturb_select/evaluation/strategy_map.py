"""The map across SIMULATED truths: each strategy minus ``random``, per model, truth and cycle, with its interval and
Holm-adjusted p; and the figure of it (issue 24: when does covering the graph help, and for which model?).

Every number comes from the per-dataset metrics tables (``results/report/{dataset}/metrics.tsv``,
``evaluation.report.collect_metrics``) through the same paired comparison the per-dataset report makes
(``evaluation.report.comparison_by_cycle``: ``final_cycle_comparison`` on one cycle at a time): the difference
of a strategy's run to the ``random`` run of the same seed (same split; on replicated screens the same screen),
its 95 % percentile bootstrap interval over seeds, the paired Wilcoxon p and ``p_holm``, Holm-adjusted over the
strategies compared with ``random`` for one model and metric at one cycle of one truth (the family of the
per-dataset comparison).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .report import comparison_by_cycle

#: The models the map shows, in this order: the graph-aware ones first.
MAP_MODELS = ("go_kernel_ridge", "sgc_ridge", "gears", "train_mean")
MAP_COLUMNS = (
    "dataset",
    "truth",
    "metric",
    "model",
    "strategy",
    "cycle",
    "n_pairs",
    "diff_to_random_mean",
    "diff_to_random_ci_low",
    "diff_to_random_ci_high",
    "p_vs_random",
    "p_holm",
)


def strategy_map(
    tables: Mapping[str, pd.DataFrame],
    truths: Mapping[str, str],
    cycles: Sequence[int] | None = None,
    metric: str = "mse_top20_de",
    reference: str = "random",
) -> pd.DataFrame:
    """Each strategy minus ``reference`` per dataset (truth), model and cycle.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Dataset name -> its metrics table (columns ``strategy, seed, cycle, model`` and ``metric``).
    truths : mapping of str to str
        Dataset name -> a label of its truth (e.g. ``'receptive_field, graph_signal 0.9'``).
    cycles : sequence of int, optional
        Cycles shown (default every cycle of the tables).
    metric : str
    reference : str

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MAP_COLUMNS` (``diff_to_random_*`` named after ``reference``); one row per dataset,
        model of :data:`MAP_MODELS` present, strategy other than ``reference`` and cycle. Negative differences
        are better for MSE.

    Raises
    ------
    ValueError
        A dataset without a truth label, or no ``reference`` runs in a table.
    """
    rows = []
    for dataset, table in tables.items():
        if dataset not in truths:
            raise ValueError(f"no truth label for dataset {dataset!r}")
        if reference not in set(table["strategy"]):
            raise ValueError(f"dataset {dataset!r} has no {reference!r} runs to compare with")
        models = [m for m in MAP_MODELS if m in set(table["model"])]
        compared = comparison_by_cycle(table, metric, reference, models=models, cycles=cycles)
        for _, row in compared.iterrows():
            rows.append(
                {
                    "dataset": dataset,
                    "truth": truths[dataset],
                    "metric": metric,
                    "model": row["model"],
                    "strategy": row["strategy"],
                    "cycle": int(row["cycle"]),
                    "n_pairs": row["n_pairs"],
                    f"diff_to_{reference}_mean": row[f"diff_to_{reference}_mean"],
                    f"diff_to_{reference}_ci_low": row[f"diff_to_{reference}_ci_low"],
                    f"diff_to_{reference}_ci_high": row[f"diff_to_{reference}_ci_high"],
                    f"p_vs_{reference}": row[f"p_vs_{reference}"],
                    "p_holm": row["p_holm"],
                }
            )
    columns = [c.replace("random", reference) if c.startswith(("diff_to_", "p_vs_")) else c for c in MAP_COLUMNS]
    out = pd.DataFrame(rows, columns=columns)
    order = {m: i for i, m in enumerate(MAP_MODELS)}
    out["_model"] = out["model"].map(order)
    out = out.sort_values(["dataset", "_model", "strategy", "cycle"], kind="stable").drop(columns="_model")
    return out.reset_index(drop=True)


def plot_strategy_map(
    table: pd.DataFrame, path: str | os.PathLike, title: str, alpha: float = 0.05, reference: str = "random"
) -> None:
    """One panel per model (rows) and truth (columns): each strategy's difference to ``reference`` against the
    cycle, with its 95 % bootstrap interval; a filled marker where ``p_holm < alpha``, open otherwise; the zero
    line is ``reference``. Written whole (``io.save_figure``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import save_figure

    truths = list(dict.fromkeys(table["truth"]))
    models = [m for m in MAP_MODELS if m in set(table["model"])]
    strategies = sorted(set(table["strategy"]))
    colours = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(strategies)}
    fig, axes = plt.subplots(
        len(models), len(truths), figsize=(3.2 * len(truths), 2.4 * len(models) + 0.8), sharex=True, squeeze=False
    )
    mean, low, high = (f"diff_to_{reference}_{k}" for k in ("mean", "ci_low", "ci_high"))
    for i, model in enumerate(models):
        for j, truth in enumerate(truths):
            ax = axes[i][j]
            ax.axhline(0.0, color="0.5", lw=0.8)
            for k, strategy in enumerate(strategies):
                rows = table[(table["model"] == model) & (table["truth"] == truth) & (table["strategy"] == strategy)]
                if rows.empty:
                    continue
                x = rows["cycle"].to_numpy() + (k - (len(strategies) - 1) / 2) * 0.08
                y = rows[mean].to_numpy()
                errors = np.vstack([y - rows[low].to_numpy(), rows[high].to_numpy() - y])
                ax.errorbar(
                    x,
                    y,
                    yerr=errors,
                    color=colours[strategy],
                    lw=1.2,
                    capsize=2,
                    label=strategy if (i, j) == (0, 0) else None,
                )
                significant = rows["p_holm"].to_numpy() < alpha
                ax.scatter(x[significant], y[significant], color=colours[strategy], s=22, zorder=3)
                ax.scatter(
                    x[~significant], y[~significant], facecolor="white", edgecolor=colours[strategy], s=22, zorder=3
                )
            if i == 0:
                ax.set_title(truth, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{model}\nminus {reference}", fontsize=9)
            if i == len(models) - 1:
                ax.set_xlabel("cycle")
            ax.tick_params(labelsize=8)
    fig.legend(loc="lower center", ncol=len(strategies), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    save_figure(fig, path)
    plt.close(fig)
