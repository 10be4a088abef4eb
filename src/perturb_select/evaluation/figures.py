"""The report's figures: learning curves per strategy, every model beside its baselines, and each strategy's
paired difference to random (``vs_random_{metric}.svg``), on panels laid out in a grid that fits a screen.

The tables they draw come from :mod:`perturb_select.evaluation.report`; this module only plots (matplotlib,
imported inside each function so that importing it stays cheap).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from ..io import save_figure
from .report import LOWER_IS_BETTER, comparison_by_cycle

#: Most panels per row of the per-strategy and per-model figures (seven strategies: two rows of four, readable
#: on one screen without scrolling).
PANELS_PER_ROW = 4


def grid_shape(n: int, per_row: int = PANELS_PER_ROW) -> tuple[int, int]:
    """``(rows, columns)`` of a grid for ``n`` panels (at least one): the fewest rows of at most ``per_row``
    panels, the panels spread evenly over them (5 panels: 2 x 3, not 4 + 1; 7: 2 x 4)."""
    n = max(1, int(n))
    rows = -(-n // per_row)
    return rows, -(-n // rows)


def panel_grid(n: int, width: float, height: float, legend_width: float = 0.0, per_row: int = PANELS_PER_ROW):
    """A figure of ``n`` panels (at least one) in the grid of :func:`grid_shape`, sharing the y axis; returns
    ``(fig, panels)`` with ``panels`` the ``n`` axes in reading order (unused grid cells are hidden).
    ``width`` and ``height`` are one panel's, in inches; ``legend_width`` inches are added on the right for a
    legend outside the axes (see :func:`legend_outside`); ``per_row`` is the most panels in a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = grid_shape(n, per_row)
    n = max(1, n)
    fig, axes = plt.subplots(
        rows, columns, figsize=(width * columns + legend_width, height * rows), sharey=True, squeeze=False
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend_outside(
    fig, panels, legend_width: float, title: str, fontsize: float = 8, order: Sequence[str] = ()
) -> None:
    """One legend for the whole figure, right of the panels (so it covers no line), the suptitle above them
    and the panels laid out in what is left (``legend_width`` inches, as given to :func:`panel_grid`). Entries
    follow ``order``, then the order the panels first show them."""
    handles, labels = {}, []
    for ax in panels:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    rank = {label: i for i, label in enumerate(order)}
    labels.sort(key=lambda label: rank.get(label, len(rank)))  # stable: unlisted labels keep their order
    right = 1.0 - legend_width / fig.get_size_inches()[0]
    if labels:
        fig.legend(
            [handles[label] for label in labels],
            labels,
            loc="center left",
            bbox_to_anchor=(right, 0.5),
            frameon=False,
            fontsize=fontsize,
        )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, right, 1.0))  # tight_layout leaves room for the suptitle itself


def plot_metric_curves(
    table: pd.DataFrame, metric: str, path: str | os.PathLike, title: str = "", note: str = "no GEARS runs"
) -> None:
    """GEARS's metric vs cycle, one line per strategy (mean over seeds, shaded ± std), written atomically as
    SVG (rows of other models in ``table`` are left out: ``plot_model_curves`` shows them). Without GEARS
    rows the figure says ``note`` instead (e.g. :data:`NOT_TRAINED`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "model" in table.columns:
        table = table[table["model"] == "gears"]
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for strategy, frame in table.groupby("strategy", sort=True):
        stats = frame.groupby("cycle")[metric].agg(["mean", "std"]).reset_index()
        std = stats["std"].fillna(0.0)
        ax.plot(stats["cycle"], stats["mean"], marker="o", label=strategy)
        ax.fill_between(stats["cycle"], stats["mean"] - std, stats["mean"] + std, alpha=0.2)
    ax.set_xlabel("cycle")
    better = "lower is better" if LOWER_IS_BETTER.get(metric) else "higher is better"
    ax.set_ylabel(f"{metric} ({better})")
    ax.set_xticks(sorted(table["cycle"].unique()))
    if table.empty:
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
    else:
        n_seeds = table.groupby(["strategy", "cycle"]).size().max()
        fig.suptitle(f"{title} — mean ± std over {n_seeds} seeds".strip(" —"), fontsize=10)
        ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: it hid the lines
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_learning_curves(
    curves: pd.DataFrame,
    path: str | os.PathLike,
    title: str = "",
    note: str = "no learning curves (cell-gears trainer)",
) -> None:
    """Validation top-20 DE MSE per epoch for the final cycle of the first seed, one panel per strategy,
    with the two validation baselines of the same run as horizontal lines, the legend right of the panels;
    SVG, written atomically. Without curves the figure says ``note`` (why there are none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = sorted(curves["strategy"].unique()) if len(curves) else []
    legend_width = 1.4 if strategies else 0.0
    fig, panels = panel_grid(len(strategies), width=3.2, height=3.2, legend_width=legend_width)
    for ax, strategy in zip(panels, strategies):
        frame = curves[curves["strategy"] == strategy]
        seed = frame["seed"].min()
        frame = frame[frame["seed"] == seed]
        cycle = frame["cycle"].max()
        run = frame[frame["cycle"] == cycle].sort_values("epoch")
        ax.plot(run["epoch"], run["val_mse_top20_de"], marker="o", label="GEARS")
        ax.axhline(run["val_no_change"].iloc[0], color="grey", linestyle="--", label="no change")
        ax.axhline(run["val_train_mean"].iloc[0], color="black", linestyle=":", label="training mean")
        ax.set_title(f"{strategy}, seed {seed}, cycle {cycle}", fontsize=9)
        ax.set_xlabel("epoch")
    if not strategies:
        panels[0].text(0.5, 0.5, note, ha="center", va="center")
    panels[0].set_ylabel("validation top-20 DE MSE")
    legend_outside(fig, panels, legend_width, title)  # outside the axes: inside the first panel it hid the lines
    save_figure(fig, path)
    plt.close(fig)


MODEL_STYLE = {
    "gears": ("-", "o"),
    "no_change": ("--", ""),
    "train_mean": (":", ""),
    "go_kernel_ridge": ("-.", "s"),
    "sgc_ridge": ("-.", "^"),
    "oracle": ((0, (1, 3)), ""),
}


def plot_model_curves(table: pd.DataFrame, metric: str, path: str | os.PathLike, title: str = "") -> None:
    """Per strategy (one panel each, :func:`panel_grid`), the metric vs cycle of every model (mean over seeds,
    ± std shaded for GEARS), the legend right of the panels; ``no_change`` does not depend on the picks, so it is
    the same line in every panel. SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = sorted(table["strategy"].unique())
    fig, panels = panel_grid(len(strategies), width=2.8, height=2.6, legend_width=1.4)
    models = sorted(table["model"].unique(), key=lambda m: list(MODEL_STYLE).index(m) if m in MODEL_STYLE else 9)
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}  # one colour per model in every panel
    for ax, strategy in zip(panels, strategies):
        frame = table[table["strategy"] == strategy]
        for model in [m for m in models if m in set(frame["model"])]:
            stats = frame[frame["model"] == model].groupby("cycle")[metric].agg(["mean", "std"]).reset_index()
            line, marker = MODEL_STYLE.get(model, ("-", ""))
            ax.plot(
                stats["cycle"], stats["mean"], linestyle=line, marker=marker or None, color=colours[model], label=model
            )
            if model == "gears":
                std = stats["std"].fillna(0.0)
                ax.fill_between(
                    stats["cycle"], stats["mean"] - std, stats["mean"] + std, alpha=0.15, color=colours[model]
                )
        ax.set_title(strategy, fontsize=9)
        ax.set_xlabel("cycle")
        ax.set_xticks(sorted(frame["cycle"].unique()))
    better = "lower is better" if LOWER_IS_BETTER.get(metric) else "higher is better"
    for ax in panels[:: grid_shape(len(strategies))[1]]:
        ax.set_ylabel(f"{metric} ({better})", fontsize=9)
    n_seeds = int(table.groupby(["strategy", "model", "cycle"]).size().max()) if len(table) else 0
    legend_outside(fig, panels, 1.4, f"{title} — test set, mean over {n_seeds} seeds".strip(" —"), order=models)
    save_figure(fig, path)
    plt.close(fig)


#: Most model panels per row of the ``vs_random`` figures.
VS_PER_ROW = 3


def plot_vs_reference(
    table: pd.DataFrame,
    metric: str,
    path: str | os.PathLike,
    title: str = "",
    reference: str = "random",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One panel per model (:func:`vs_reference_models`): each strategy's paired difference to ``reference``
    by cycle with its 95 % bootstrap interval (:func:`comparison_by_cycle`), filled where ``p_holm < alpha``;
    the zero line is ``reference``, the legend right of the panels. SVG, written whole.

    Returns
    -------
    pandas.DataFrame
        The :func:`comparison_by_cycle` table plotted (a point and its interval per row); without
        ``reference`` runs it is empty and the figure says so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compared = comparison_by_cycle(table, metric, reference)
    models = list(dict.fromkeys(compared["model"])) or ["(none)"]
    strategies = sorted(compared["strategy"].unique())
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(strategies)}
    mean, low, high = (f"diff_to_{reference}_{k}" for k in ("mean", "ci_low", "ci_high"))
    # at most 3 wide: GEARS and three baselines make 2 x 2, not one row wider than a screen
    fig, panels = panel_grid(len(models), width=3.4, height=3.0, legend_width=1.7, per_row=VS_PER_ROW)
    for ax, model in zip(panels, models):
        ax.axhline(0.0, color="0.3", lw=1.0, label=f"{reference} (zero)")
        for k, strategy in enumerate(strategies):
            rows = compared[(compared["model"] == model) & (compared["strategy"] == strategy)]
            if rows.empty:
                continue
            # side by side within a cycle, so the intervals do not hide each other
            x = rows["cycle"].to_numpy(dtype=float) + (k - (len(strategies) - 1) / 2) * 0.1
            y = rows[mean].to_numpy(dtype=float)
            errors = np.vstack([y - rows[low].to_numpy(dtype=float), rows[high].to_numpy(dtype=float) - y])
            ax.errorbar(x, y, yerr=errors, color=colours[strategy], lw=1.2, capsize=2, label=strategy)
            significant = rows["p_holm"].to_numpy(dtype=float) < alpha
            ax.scatter(x[significant], y[significant], color=colours[strategy], s=24, zorder=3)
            ax.scatter(x[~significant], y[~significant], facecolor="white", edgecolor=colours[strategy], s=24, zorder=3)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("cycle")
        ax.set_xticks(sorted(compared["cycle"].unique()))
        ax.tick_params(labelsize=8)
    if compared.empty:
        panels[0].text(
            0.5, 0.5, f"no {reference} runs to compare with", ha="center", va="center", transform=panels[0].transAxes
        )
    better = "negative = better" if LOWER_IS_BETTER.get(metric) else "positive = better"
    for ax in panels[:: grid_shape(len(models), VS_PER_ROW)[1]]:
        ax.set_ylabel(f"{metric} minus {reference}\n({better})", fontsize=9)
    n = int(compared["n_pairs"].max()) if len(compared) else 0
    legend_outside(
        fig,
        panels,
        1.7,
        f"{title} — {metric}: each strategy minus {reference}, paired over {n} seeds\n"
        f"(95 % bootstrap interval; filled: p_holm < {alpha}, Holm over the strategies)".strip(" —"),
        order=[f"{reference} (zero)", *strategies],
    )
    save_figure(fig, path)
    plt.close(fig)
    return compared
