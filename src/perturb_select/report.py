"""Aggregate per-run metrics over seeds and plot metric-vs-cycle curves (the paper's Fig. 2 layout)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from .io import InputError, atomic_path, read_json

#: Metrics reported per run, in display order; ``mse_top20_de`` is the paper's primary metric.
METRICS = ("mse_top20_de", "pearson_delta", "pearson_delta_top20_de", "pearson", "mse")
LOWER_IS_BETTER = {"mse_top20_de": True, "mse": True}
KEYS = ("dataset", "strategy", "seed", "cycle")


def collect_metrics(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per run (dataset, strategy, seed, cycle) with the mean over test perturbations of each metric.

    Reads the JSON written by the ``evaluate`` stage: the run's keys at top level, the means over test
    perturbations under ``mean`` (``metrics.evaluate_predictions``).

    Raises
    ------
    InputError
        If a metrics file lacks a key or metric.
    """
    rows = []
    for path in paths:
        record = read_json(path)
        row = {}
        for field in KEYS:
            if field not in record:
                raise InputError(path, field, "missing from the metrics file")
            row[field] = record[field]
        means = record.get("mean", {})
        for metric in METRICS:
            if metric not in means:
                raise InputError(path, f"mean.{metric}", "missing from the metrics file")
            row[metric] = means[metric]
        row["n_train_perturbations"] = record.get("n_train_perturbations")
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(KEYS + METRICS) + ["n_train_perturbations"])
    return table.sort_values(list(KEYS), kind="stable").reset_index(drop=True)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Strategy x cycle table of mean, std (ddof=1, NaN for one seed) and number of seeds per metric.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, strategy, cycle, n_seeds`` then ``<metric>_mean, <metric>_std`` for each metric
        and ``<metric>`` as a ``mean ± std`` string (4 significant digits) for reading.
    """
    grouped = table.groupby(["dataset", "strategy", "cycle"], sort=True)
    out = grouped.size().rename("n_seeds").reset_index()
    for metric in METRICS:
        mean = grouped[metric].mean().to_numpy()
        std = grouped[metric].std(ddof=1).to_numpy()
        out[f"{metric}_mean"] = mean
        out[f"{metric}_std"] = std
        out[metric] = [f"{m:.4g} ± {s:.2g}" if np.isfinite(s) else f"{m:.4g}" for m, s in zip(mean, std)]
    return out


def plot_metric_curves(table: pd.DataFrame, metric: str, path: str | os.PathLike, title: str = "") -> None:
    """Metric vs cycle, one line per strategy (mean over seeds, shaded ± std), written atomically as SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for strategy, frame in table.groupby("strategy", sort=True):
        stats = frame.groupby("cycle")[metric].agg(["mean", "std"]).reset_index()
        std = stats["std"].fillna(0.0)
        ax.plot(stats["cycle"], stats["mean"], marker="o", label=strategy)
        ax.fill_between(stats["cycle"], stats["mean"] - std, stats["mean"] + std, alpha=0.2)
    ax.set_xlabel("cycle")
    better = "lower is better" if LOWER_IS_BETTER.get(metric) else "higher is better"
    ax.set_ylabel(f"{metric} ({better})")
    ax.set_xticks(sorted(table["cycle"].unique()))
    n_seeds = table.groupby(["strategy", "cycle"]).size().max()
    ax.set_title(f"{title} — mean ± std over {n_seeds} seeds".strip(" —"))
    ax.legend(frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        # Text stays text (searchable) and no date is embedded, so the same numbers give the same file.
        with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "perturb-select"}):
            fig.savefig(tmp, format="svg", metadata={"Date": None})
    plt.close(fig)


LEARNING_COLUMNS = ("dataset", "strategy", "seed", "cycle", "epoch", "train_loss", "val_mse_top20_de",
                    "val_no_change", "val_train_mean", "lr", "best_epoch")


def collect_learning_curves(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per (run, epoch): training loss, validation top-20 DE MSE and the validation baselines.

    Reads ``diagnostics`` from the ``evaluate`` stage's JSON (runs of the batched trainer; runs without
    diagnostics, e.g. of the cell-gears trainer, are skipped). ``val_no_change`` and ``val_train_mean`` are
    the top-20 DE MSE of the control mean and of the mean of the training perturbations on the same
    validation perturbations (``gears_batched.BatchedGears.baselines``).

    Returns
    -------
    pandas.DataFrame
        Columns ``LEARNING_COLUMNS``, sorted by run then epoch; empty if no run has diagnostics.
    """
    rows = []
    for path in paths:
        record = read_json(path)
        diag = record.get("diagnostics")
        if not diag:
            continue
        base = diag.get("val_baselines", {})
        for i, epoch in enumerate(diag["epoch"]):
            rows.append({
                **{k: record[k] for k in KEYS},
                "epoch": epoch,
                "train_loss": diag["train_loss"][i],
                "val_mse_top20_de": diag["val_mse_top20_de"][i],
                "val_no_change": base.get("no_change"),
                "val_train_mean": base.get("train_mean"),
                "lr": diag["lr"][i],
                "best_epoch": diag.get("best_epoch"),
            })
    table = pd.DataFrame(rows, columns=list(LEARNING_COLUMNS))
    return table.sort_values(list(KEYS) + ["epoch"], kind="stable").reset_index(drop=True)


def plot_learning_curves(curves: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """Validation top-20 DE MSE per epoch for the final cycle of the first seed, one panel per strategy,
    with the two validation baselines of the same run as horizontal lines; SVG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = sorted(curves["strategy"].unique()) if len(curves) else []
    fig, axes = plt.subplots(1, max(1, len(strategies)), figsize=(3.2 * max(1, len(strategies)), 3.2),
                             sharey=True, squeeze=False)
    for ax, strategy in zip(axes[0], strategies):
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
        axes[0][0].text(0.5, 0.5, "no learning curves (cell-gears trainer)", ha="center", va="center")
    axes[0][0].set_ylabel("validation top-20 DE MSE")
    if strategies:
        axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "perturb-select"}):
            fig.savefig(tmp, format="svg", metadata={"Date": None})
    plt.close(fig)
