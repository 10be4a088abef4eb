"""Aggregate per-run metrics over seeds and plot metric-vs-cycle curves (the paper's Fig. 2 layout)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import NO_TRAINER
from ..io import InputError, read_json, save_figure
from .statistics import bootstrap_interval, detectable_difference, holm_by, paired_wilcoxon, wilcoxon_floor

#: ``metrics.METRICS`` in the order tables and plots show them (``mse_top20_de``, the paper's primary metric, first).
REPORTED_METRICS = ("mse_top20_de", "pearson_delta", "pearson_delta_top20_de", "pearson", "mse")
LOWER_IS_BETTER = {"mse_top20_de": True, "mse": True}
KEYS = ("dataset", "strategy", "seed", "cycle")
#: Said once in the conclusions, and in place of GEARS's figures, when the config trains no GEARS.
NOT_TRAINED = f"GEARS was not trained (gears.trainer: {NO_TRAINER})"


def collect_metrics(
    paths: Sequence[str | os.PathLike], baseline_paths: Sequence[str | os.PathLike] = ()
) -> pd.DataFrame:
    """One row per run (dataset, strategy, seed, cycle) and model with the mean over test perturbations of
    each metric.

    Reads the JSON written by the training stage (model ``gears``: the run's keys at top level, the
    means over test perturbations under ``mean``, ``metrics.evaluate_predictions``) and, optionally, by
    the ``baselines`` stage (one ``evaluate_predictions`` dict per model under ``models``).

    Raises
    ------
    InputError
        If a metrics file lacks a key or metric.
    """
    rows = []
    for path, models in [(p, None) for p in paths] + [(p, "models") for p in baseline_paths]:
        record = read_json(path)
        keys = {}
        for field in KEYS:
            if field not in record:
                raise InputError(path, field, "missing from the metrics file")
            keys[field] = record[field]
        runs = {"gears": record} if models is None else record.get("models")
        if not runs:
            raise InputError(path, "models", "missing from the baselines file")
        for model, run in runs.items():
            row = {**keys, "model": model}
            means = run.get("mean", {})
            for metric in REPORTED_METRICS:
                if metric not in means:
                    prefix = "mean" if models is None else f"models.{model}.mean"
                    raise InputError(path, f"{prefix}.{metric}", "missing from the metrics file")
                row[metric] = means[metric]
            row["n_train_perturbations"] = record.get("n_train_perturbations")
            rows.append(row)
    table = pd.DataFrame(rows, columns=list(KEYS) + ["model"] + list(REPORTED_METRICS) + ["n_train_perturbations"])
    return table.sort_values(list(KEYS) + ["model"], kind="stable").reset_index(drop=True)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Strategy x model x cycle table of mean, std (ddof=1, NaN for one seed) and number of seeds per metric.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, strategy, model, cycle, n_seeds`` then ``<metric>_mean, <metric>_std`` for each
        metric and ``<metric>`` as a ``mean ± std`` string (4 significant digits) for reading. A table
        without a ``model`` column is taken as GEARS's.
    """
    if "model" not in table.columns:
        table = table.assign(model="gears")
    grouped = table.groupby(["dataset", "strategy", "model", "cycle"], sort=True)
    out = grouped.size().rename("n_seeds").reset_index()
    for metric in REPORTED_METRICS:
        mean = grouped[metric].mean().to_numpy()
        std = grouped[metric].std(ddof=1).to_numpy()
        out[f"{metric}_mean"] = mean
        out[f"{metric}_std"] = std
        out[metric] = [f"{m:.4g} ± {s:.2g}" if np.isfinite(s) else f"{m:.4g}" for m, s in zip(mean, std)]
    return out


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


LEARNING_COLUMNS = (
    "dataset",
    "strategy",
    "seed",
    "cycle",
    "epoch",
    "train_loss",
    "val_mse_top20_de",
    "val_no_change",
    "val_train_mean",
    "lr",
    "best_epoch",
)


def collect_learning_curves(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per (run, epoch): training loss, validation top-20 DE MSE and the validation baselines.

    Reads ``diagnostics`` from the training stage's metrics JSON (runs of the tensor trainers; runs without
    diagnostics, e.g. of the cell-gears trainer, are skipped). ``val_no_change`` and ``val_train_mean`` are
    the top-20 DE MSE of the control mean and of the mean of the training perturbations on the same
    validation perturbations (``gears.cells.BatchedGears.baselines``).

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
            rows.append(
                {
                    **{k: record[k] for k in KEYS},
                    "epoch": epoch,
                    "train_loss": diag["train_loss"][i],
                    "val_mse_top20_de": diag["val_mse_top20_de"][i],
                    "val_no_change": base.get("no_change"),
                    "val_train_mean": base.get("train_mean"),
                    "lr": diag["lr"][i],
                    "best_epoch": diag.get("best_epoch"),
                }
            )
    table = pd.DataFrame(rows, columns=list(LEARNING_COLUMNS))
    return table.sort_values(list(KEYS) + ["epoch"], kind="stable").reset_index(drop=True)


def plot_learning_curves(
    curves: pd.DataFrame,
    path: str | os.PathLike,
    title: str = "",
    note: str = "no learning curves (cell-gears trainer)",
) -> None:
    """Validation top-20 DE MSE per epoch for the final cycle of the first seed, one panel per strategy,
    with the two validation baselines of the same run as horizontal lines; SVG, written atomically. Without
    curves the figure says ``note`` (why there are none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = sorted(curves["strategy"].unique()) if len(curves) else []
    fig, panels = panel_grid(len(strategies), width=3.2, height=3.2)
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
    if strategies:
        panels[0].legend(frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# --------------------------------------------------------------------------- GEARS beside its baselines
MODEL_STYLE = {
    "gears": ("-", "o"),
    "no_change": ("--", ""),
    "train_mean": (":", ""),
    "go_kernel_ridge": ("-.", "s"),
    "sgc_ridge": ("-.", "^"),
    "oracle": ((0, (1, 3)), ""),
}
COMPARED_METRICS = ("mse_top20_de", "pearson_delta")
#: Models compared with the references below at every cycle (``model_comparison``).
LEARNED_MODELS = ("gears", "go_kernel_ridge", "sgc_ridge")
#: What a learned model is compared with: two trivial predictors and, on a SIMULATED screen, the truth.
REFERENCE_MODELS = ("train_mean", "no_change", "oracle")
ALL_STRATEGIES = "all"


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


def _paired(differences: pd.Series | np.ndarray) -> dict:
    """Mean, std (ddof=1), 95 % bootstrap interval, number and Wilcoxon p of the finite paired differences."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    low, high = bootstrap_interval(d)
    return {
        "mean": float(d.mean()) if len(d) else float("nan"),
        "std": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "n": len(d),
        "p": paired_wilcoxon(d),
    }


def final_cycle_comparison(
    table: pd.DataFrame,
    metrics: Sequence[str] = COMPARED_METRICS,
    reference: str = "random",
    models: Sequence[str] = LEARNED_MODELS,
) -> pd.DataFrame:
    """At the final cycle, per metric, strategy and model: mean ± std over seeds; the paired difference to
    ``reference`` (same model, same seed: every strategy shares the seed's split) with its 95 % bootstrap
    interval, Wilcoxon p and Holm-adjusted p; and how often the model beats ``train_mean`` of the same run
    (same picks), with that paired difference, interval, p and Holm-adjusted p.

    Families (Holm 1979, :func:`statistics.holm`): ``p_holm`` adjusts ``p_vs_<reference>`` over the
    strategies compared with ``reference`` for one metric and model (the ``reference`` row itself is no
    comparison: NaN); ``p_holm_vs_train_mean`` adjusts ``p_vs_train_mean`` over every strategy and learned
    model (``models``) for one metric (the other models' rows against ``train_mean``, references compared
    with a reference, stay outside: NaN). One table is one dataset at one cycle.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, strategy, model, n_seeds, mean, std, diff_to_<reference>_mean,
        diff_to_<reference>_std, diff_to_<reference>_ci_low, diff_to_<reference>_ci_high, n_pairs,
        p_vs_<reference>, p_holm, beats_train_mean, diff_to_train_mean_mean, diff_to_train_mean_ci_low,
        diff_to_train_mean_ci_high, p_vs_train_mean, p_holm_vs_train_mean``; differences are ``strategy -
        reference`` and ``model - train_mean`` (negative = lower), intervals the percentile bootstrap over
        seeds (:func:`statistics.bootstrap_interval`), p the two-sided paired Wilcoxon p
        (:func:`statistics.paired_wilcoxon`); ``beats_train_mean`` counts seeds where the model is better
        (lower MSE, higher correlation), as ``"k/n"``.
    """
    final = table[table["cycle"] == table["cycle"].max()]
    ref = f"diff_to_{reference}"
    rows = []
    for metric in metrics:
        sign = 1.0 if LOWER_IS_BETTER.get(metric) else -1.0
        wide = final.pivot_table(index="seed", columns=["strategy", "model"], values=metric)
        for strategy, model in sorted(wide.columns):
            values = wide[(strategy, model)]
            row = {
                "metric": metric,
                "strategy": strategy,
                "model": model,
                "n_seeds": int(values.notna().sum()),
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)),
            }
            if (reference, model) in wide.columns:
                pair = _paired((values - wide[(reference, model)]).dropna())
                row.update(
                    {
                        f"{ref}_mean": pair["mean"],
                        f"{ref}_std": pair["std"],
                        f"{ref}_ci_low": pair["ci_low"],
                        f"{ref}_ci_high": pair["ci_high"],
                        "n_pairs": pair["n"],
                        f"p_vs_{reference}": pair["p"],
                    }
                )
            if (strategy, "train_mean") in wide.columns and model != "train_mean":
                diff = (values - wide[(strategy, "train_mean")]).dropna()
                pair = _paired(diff)
                row.update(
                    {
                        "beats_train_mean": f"{int((sign * diff < 0).sum())}/{len(diff)}",
                        "diff_to_train_mean_mean": pair["mean"],
                        "diff_to_train_mean_ci_low": pair["ci_low"],
                        "diff_to_train_mean_ci_high": pair["ci_high"],
                        "p_vs_train_mean": pair["p"],
                    }
                )
            rows.append(row)
    columns = [
        "metric",
        "strategy",
        "model",
        "n_seeds",
        "mean",
        "std",
        f"{ref}_mean",
        f"{ref}_std",
        f"{ref}_ci_low",
        f"{ref}_ci_high",
        "n_pairs",
        f"p_vs_{reference}",
        "p_holm",
        "beats_train_mean",
        "diff_to_train_mean_mean",
        "diff_to_train_mean_ci_low",
        "diff_to_train_mean_ci_high",
        "p_vs_train_mean",
        "p_holm_vs_train_mean",
    ]
    out = pd.DataFrame(rows, columns=columns)
    out["p_holm"] = holm_by(out, f"p_vs_{reference}", ["metric", "model"], include=out["strategy"] != reference)
    out["p_holm_vs_train_mean"] = holm_by(out, "p_vs_train_mean", ["metric"], include=out["model"].isin(models))
    return out


#: Models whose predictions do not use the picks (the control mean; on a SIMULATED screen the truth): their
#: difference between strategies of one seed is 0 by construction, so the strategy figures leave them out.
PICK_FREE_MODELS = ("no_change", "oracle")
#: Most model panels per row of the ``vs_random`` figures.
VS_PER_ROW = 3


def vs_reference_models(models: Sequence[str]) -> list[str]:
    """The models of ``models`` whose strategies differ, in the order the figures show them: the learned ones
    (:data:`LEARNED_MODELS`), ``train_mean``, then any other model (sorted); :data:`PICK_FREE_MODELS` left out."""
    present = set(models)
    known = [m for m in (*LEARNED_MODELS, "train_mean") if m in present]
    return known + sorted(present - set(known) - set(PICK_FREE_MODELS))


def comparison_by_cycle(
    table: pd.DataFrame,
    metric: str,
    reference: str = "random",
    models: Sequence[str] | None = None,
    cycles: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Each strategy minus ``reference`` at every cycle: :func:`final_cycle_comparison` of one cycle at a time,
    so a cycle's numbers are those the final-cycle table gives at the final cycle (same pairs, same bootstrap,
    same Holm family: the strategies compared with ``reference`` for one model at that cycle).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`collect_metrics`'s table (columns ``strategy, seed, cycle, model`` and ``metric``).
    metric : str
    reference : str
        The strategy subtracted, paired by seed (every strategy of a seed shares its test split).
    models : sequence of str, optional
        Models compared (default :func:`vs_reference_models` of the table's models).
    cycles : sequence of int, optional
        Cycles compared (default every cycle of the table).

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, model, strategy, cycle, n_pairs, diff_to_<reference>_mean, diff_to_<reference>_ci_low,
        diff_to_<reference>_ci_high, p_vs_<reference>, p_holm``, one row per model, strategy other than
        ``reference`` and cycle, ordered by ``models``, then strategy, then cycle; empty (same columns) when the
        table has no ``reference`` runs. Differences are ``strategy - reference`` (negative = lower).
    """
    ref = f"diff_to_{reference}"
    columns = [
        "metric",
        "model",
        "strategy",
        "cycle",
        "n_pairs",
        f"{ref}_mean",
        f"{ref}_ci_low",
        f"{ref}_ci_high",
        f"p_vs_{reference}",
        "p_holm",
    ]
    models = vs_reference_models(table["model"].unique()) if models is None else list(models)
    frames = []
    for cycle in sorted(table["cycle"].unique()) if cycles is None else cycles:
        one = table[(table["cycle"] == cycle) & table["model"].isin(models)]
        if one.empty:
            continue
        compared = final_cycle_comparison(one, metrics=(metric,), reference=reference)
        compared = compared[(compared["strategy"] != reference) & compared["n_pairs"].notna()]
        frames.append(compared.assign(cycle=int(cycle)))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    out = out[columns].astype({"n_pairs": int}) if len(out) else out[columns]
    order = {m: i for i, m in enumerate(models)}
    out = out.assign(_model=out["model"].map(order)).sort_values(["_model", "strategy", "cycle"], kind="stable")
    return out.drop(columns="_model").reset_index(drop=True)


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


def learning_curve_auc(
    table: pd.DataFrame, metrics: Sequence[str] = COMPARED_METRICS, reference: str = "random"
) -> pd.DataFrame:
    """Area under each learning curve as the mean of the metric over cycles (per run), then mean ± std over
    seeds, per metric, strategy and model: one number per curve (IterPert reports a normalised AUC); and the
    paired difference of a run's area to the ``reference`` strategy's (same model, same seed) with its 95 %
    bootstrap interval, Wilcoxon p and ``p_holm``, Holm-adjusted over the strategies compared with
    ``reference`` for one metric and model (NaN on the ``reference`` rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, strategy, model, n_seeds, auc_mean, auc_std, diff_to_<reference>_mean,
        diff_to_<reference>_std, diff_to_<reference>_ci_low, diff_to_<reference>_ci_high, n_pairs,
        p_vs_<reference>, p_holm`` (as in :func:`final_cycle_comparison`).
    """
    ref = f"diff_to_{reference}"
    rows = []
    for metric in metrics:
        per_run = table.groupby(["strategy", "model", "seed"])[metric].mean()
        wide = per_run.unstack(["strategy", "model"])
        for strategy, model in sorted(wide.columns):
            values = wide[(strategy, model)].dropna()
            row = {
                "metric": metric,
                "strategy": strategy,
                "model": model,
                "n_seeds": len(values),
                "auc_mean": float(values.mean()),
                "auc_std": float(values.std(ddof=1)),
            }
            if (reference, model) in wide.columns:
                pair = _paired((wide[(strategy, model)] - wide[(reference, model)]).dropna())
                row.update(
                    {
                        f"{ref}_mean": pair["mean"],
                        f"{ref}_std": pair["std"],
                        f"{ref}_ci_low": pair["ci_low"],
                        f"{ref}_ci_high": pair["ci_high"],
                        "n_pairs": pair["n"],
                        f"p_vs_{reference}": pair["p"],
                    }
                )
            rows.append(row)
    columns = [
        "metric",
        "strategy",
        "model",
        "n_seeds",
        "auc_mean",
        "auc_std",
        f"{ref}_mean",
        f"{ref}_std",
        f"{ref}_ci_low",
        f"{ref}_ci_high",
        "n_pairs",
        f"p_vs_{reference}",
        "p_holm",
    ]
    out = pd.DataFrame(rows, columns=columns)
    out["p_holm"] = holm_by(out, f"p_vs_{reference}", ["metric", "model"], include=out["strategy"] != reference)
    return out


#: The family of a ``models.tsv`` row's ``p_holm``: every learned model and strategy (``all`` included)
#: against one reference at one cycle, for one metric (one table is one dataset).
MODEL_FAMILY = ("metric", "cycle", "reference")


def model_comparison(
    table: pd.DataFrame,
    metrics: Sequence[str] = COMPARED_METRICS,
    models: Sequence[str] = LEARNED_MODELS,
    references: Sequence[str] = REFERENCE_MODELS,
) -> pd.DataFrame:
    """At every cycle, each learned model against each reference model on the same runs (same picks, split
    and seed), per strategy and for all strategies together.

    A pair is one run (strategy, seed): ``model - reference``. The ``all`` rows average the differences of
    a seed over the strategies first (the strategies of a seed share its test set, so their runs are not
    independent): one pair per seed, Wilcoxon over seeds.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, cycle, strategy, model, reference, n_pairs, diff_mean, diff_std, diff_ci_low,
        diff_ci_high, better, p, p_holm``: ``diff`` is ``model - reference`` (negative = lower), ``diff_ci_*``
        its 95 % percentile bootstrap interval over the pairs (:func:`statistics.bootstrap_interval`),
        ``better`` counts pairs where the model is better (lower MSE, higher correlation) as ``"k/n"``, ``p``
        the two-sided paired Wilcoxon p (:func:`statistics.paired_wilcoxon`), ``p_holm`` that p
        Holm-adjusted over the family :data:`MODEL_FAMILY` (every model and strategy row, ``all`` included,
        against the same reference at the same cycle and metric). References absent from ``table``
        (``oracle`` on a real screen) are skipped.
    """
    rows = []
    present = set(table["model"].unique())
    for metric in metrics:
        sign = 1.0 if LOWER_IS_BETTER.get(metric) else -1.0
        wide = table.pivot_table(index=["cycle", "seed"], columns=["strategy", "model"], values=metric)
        strategies = sorted(table["strategy"].unique())
        for model in [m for m in models if m in present]:
            for reference in [r for r in references if r in present]:
                diff = pd.DataFrame(
                    {
                        s: wide[(s, model)] - wide[(s, reference)]
                        for s in strategies
                        if (s, model) in wide.columns and (s, reference) in wide.columns
                    }
                )
                if diff.empty:
                    continue
                diff[ALL_STRATEGIES] = diff.mean(axis=1, skipna=False)
                for cycle, frame in diff.groupby(level="cycle"):
                    for strategy in [ALL_STRATEGIES] + strategies:
                        if strategy not in frame:
                            continue
                        d = frame[strategy].dropna().to_numpy()
                        pair = _paired(d)
                        rows.append(
                            {
                                "metric": metric,
                                "cycle": int(cycle),
                                "strategy": strategy,
                                "model": model,
                                "reference": reference,
                                "n_pairs": pair["n"],
                                "diff_mean": pair["mean"],
                                "diff_std": pair["std"],
                                "diff_ci_low": pair["ci_low"],
                                "diff_ci_high": pair["ci_high"],
                                "better": f"{int((sign * d < 0).sum())}/{len(d)}",
                                "p": pair["p"],
                            }
                        )
    columns = [
        "metric",
        "cycle",
        "strategy",
        "model",
        "reference",
        "n_pairs",
        "diff_mean",
        "diff_std",
        "diff_ci_low",
        "diff_ci_high",
        "better",
        "p",
        "p_holm",
    ]
    out = pd.DataFrame(rows, columns=columns)
    out["p_holm"] = holm_by(out, "p", MODEL_FAMILY)
    return out


def model_statements(models_table: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """Per metric and learned model, against each reference, at which cycles the model is better or worse
    beyond seed noise: ``all`` rows of :func:`model_comparison` with Holm-adjusted ``p_holm < alpha`` (the
    family :data:`MODEL_FAMILY`), or that no cycle can be, when the family's size times the Wilcoxon floor
    (:func:`statistics.wilcoxon_floor`) is at least ``alpha``; each cycle's difference with its 95 %
    bootstrap interval and ``p_holm``."""
    lines = []
    overall = models_table[models_table["strategy"] == ALL_STRATEGIES]
    family = models_table.groupby(list(MODEL_FAMILY))["p"].count()
    for (metric, model, reference), frame in overall.groupby(["metric", "model", "reference"], sort=False):
        frame = frame.sort_values("cycle")
        sign = 1.0 if LOWER_IS_BETTER.get(metric) else -1.0
        better = frame[(frame["p_holm"] < alpha) & (sign * frame["diff_mean"] < 0)]["cycle"].tolist()
        worse = frame[(frame["p_holm"] < alpha) & (sign * frame["diff_mean"] > 0)]["cycle"].tolist()
        n = int(frame["n_pairs"].max())
        m = int(max(family.get((metric, cycle, reference), 0) for cycle in frame["cycle"]))
        cycles = ", ".join(
            f"{int(r.cycle)}: {r.diff_mean:+.3g} [{r.diff_ci_low:.3g}, {r.diff_ci_high:.3g}] (p_holm = {r.p_holm:.2g})"
            for r in frame.itertuples()
        )
        floor = min(1.0, m * wilcoxon_floor(n))
        verdict = (
            "better at every cycle"
            if len(better) == len(frame)
            else "worse at every cycle"
            if len(worse) == len(frame)
            else f"better at cycles {better}, worse at cycles {worse}, within seed noise at the others"
            if better or worse
            else f"no cycle can reach p_holm < {alpha} with {n} seeds (the smallest p_holm is {m} x 2/2^{n} = "
            f"{floor:.2g}; the intervals show the size)"
            if floor >= alpha
            else "within seed noise at every cycle"
        )
        lines.append(
            f"{metric}, {model} vs {reference} ({n} seeds, the strategies' mean difference per seed; "
            f"beyond seed noise: p_holm < {alpha}, Holm over the {m} comparisons with {reference} at a "
            f"cycle): {verdict}; difference [95 % bootstrap interval] by cycle {cycles}."
        )
    return lines


#: Columns of :func:`power_table`.
POWER_COLUMNS = (
    "metric",
    "model",
    "n_strategies",
    "n_seeds",
    "diff_sd",
    "d_min",
    "d_min_holm",
    "wilcoxon_floor",
    "holm_floor",
)


def power_table(
    comparison: pd.DataFrame,
    reference: str = "random",
    models: Sequence[str] = LEARNED_MODELS,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """What the design can detect at the final cycle, per metric and learned model, from
    :func:`final_cycle_comparison`'s paired differences of the strategies to ``reference``.

    ``diff_sd`` is the seed-to-seed standard deviation of the paired differences, pooled over the
    ``n_strategies`` strategies compared (root of the mean of their variances); ``n_seeds`` the largest
    number of pairs. ``d_min`` is the smallest true strategy difference a paired two-sided test at ``alpha``
    detects with probability ``power`` in the normal approximation, ``(z_{1-alpha/2} + z_power) * diff_sd /
    sqrt(n_seeds)`` (:func:`statistics.detectable_difference`: sd taken as known, so optimistic for few seeds);
    ``d_min_holm`` the same at ``alpha / n_strategies``, the level Holm's first step asks of the strongest
    strategy. ``wilcoxon_floor`` is ``2 / 2**n_seeds``, the smallest p the exact Wilcoxon signed-rank test
    can give whatever the difference, and ``holm_floor`` ``min(1, n_strategies * wilcoxon_floor)``, the
    smallest ``p_holm`` the table can hold: no difference is called significant while it is ``>= alpha``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POWER_COLUMNS`, one row per metric and model of ``models`` present in ``comparison``.
    """
    rows = []
    compared = comparison[comparison["strategy"] != reference]
    for (metric, model), frame in compared.groupby(["metric", "model"], sort=False):
        if model not in models:
            continue
        tested = frame[frame[f"p_vs_{reference}"].notna()]
        m = len(tested)
        n = int(tested["n_pairs"].max()) if m else 0
        variances = tested[f"diff_to_{reference}_std"].to_numpy(dtype=np.float64) ** 2
        sd = float(np.sqrt(np.nanmean(variances))) if np.isfinite(variances).any() else float("nan")
        floor = wilcoxon_floor(n)
        rows.append(
            {
                "metric": metric,
                "model": model,
                "n_strategies": m,
                "n_seeds": n,
                "diff_sd": sd,
                "d_min": detectable_difference(sd, n, alpha, power),
                "d_min_holm": detectable_difference(sd, n, alpha / max(m, 1), power),
                "wilcoxon_floor": floor,
                "holm_floor": min(1.0, max(m, 1) * floor),
            }
        )
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))


def seeds_needed(n_tests: int, alpha: float = 0.05) -> int:
    """The fewest seeds with which the exact Wilcoxon signed-rank test, Holm-adjusted over ``n_tests``
    comparisons, can give ``p_holm < alpha``: the smallest n with ``n_tests * 2 / 2**n < alpha``."""
    n = 1
    while max(n_tests, 1) * wilcoxon_floor(n) >= alpha:
        n += 1
    return n


def simulated_statement(simulation: Mapping | None, dataset: str) -> str:
    """The first sentence of a SIMULATED dataset's conclusions (empty for a real screen)."""
    if simulation is None:
        return ""
    knobs = ", ".join(
        f"{key} {simulation[key]}"
        for key in ("mechanism", "graph_signal", "n_genes", "cells_per_perturbation")
        if key in simulation
    )
    replicated = (
        (
            " Every seed drew its own screen (simulation.replicate_screens), with its own truth and oracle: "
            "the paired tests over seeds count screens, not only splits."
        )
        if simulation.get("replicate_screens")
        else ""
    )
    return (
        f"SIMULATED screen {dataset} ({knobs}; perturb_select.screens.simulated): every number below comes "
        "from simulated data with known truth, not from a measured screen." + replicated
    )


def _strategies(m: int) -> str:
    return f"{m} strategy" if m == 1 else f"{m} strategies"


def conclusions(
    comparison: pd.DataFrame,
    alpha: float = 0.05,
    reference: str = "random",
    models: Sequence[str] = LEARNED_MODELS,
    power: float = 0.8,
    gears_trained: bool = True,
) -> str:
    """What a reader should conclude from ``final_cycle_comparison``, in sentences (primary metric first).

    States, for each learned model, whether any strategy differs from ``reference`` beyond seed noise:
    Holm-adjusted paired Wilcoxon ``p_holm < alpha``, the family being the strategies compared for that model
    and metric (or that the seeds cannot show it: ``holm_floor >= alpha``); then, in one sentence, the power
    of the design (:func:`power_table`: the smallest difference detected with ``power``, the Wilcoxon floor);
    and whether GEARS beats the training mean. Models without rows are not mentioned; ``gears_trained``
    False (``gears.trainer: none``) says so first, once (:data:`NOT_TRAINED`).
    """
    lines = (
        []
        if gears_trained
        else [
            f"{NOT_TRAINED}: every model below is a baseline, trained on each strategy's picks and scored on the "
            "same test split."
        ]
    )
    table = power_table(comparison, reference, models, alpha, power).set_index(["metric", "model"])
    for metric in comparison["metric"].unique():
        frame = comparison[comparison["metric"] == metric]
        for model in models:
            rows = frame[(frame["model"] == model) & (frame["strategy"] != reference)]
            if rows.empty or f"p_vs_{reference}" not in rows or (metric, model) not in table.index:
                continue
            design = table.loc[(metric, model)]
            n, m = int(design["n_seeds"]), int(design["n_strategies"])
            differ = rows[rows["p_holm"] < alpha]
            if design["holm_floor"] >= alpha:
                lines.append(
                    f"{metric}, {model}: {n} paired seeds cannot show a difference at p_holm < {alpha} "
                    f"(Holm over {_strategies(m)}: the Wilcoxon test's smallest p_holm is {m} x 2/2^{n} = "
                    f"{design['holm_floor']:.2g}; it needs at least {seeds_needed(m, alpha)} seeds)."
                )
            elif differ.empty:
                best = rows.sort_values(["p_holm", f"p_vs_{reference}"]).iloc[0]
                lines.append(
                    f"{metric}, {model}: no strategy differs from {reference} beyond seed noise "
                    f"(smallest p_holm = {best['p_holm']:.2g} over {_strategies(m)}, {best['strategy']}, "
                    f"raw p = {best[f'p_vs_{reference}']:.2g}, {n} seeds)."
                )
            else:
                lines.append(
                    f"{metric}, {model}: "
                    + "; ".join(
                        f"{r.strategy} differs from {reference} by {r[f'diff_to_{reference}_mean']:+.3g} "
                        f"(95 % CI [{r[f'diff_to_{reference}_ci_low']:.3g}, {r[f'diff_to_{reference}_ci_high']:.3g}], "
                        f"p_holm = {r['p_holm']:.2g} over {_strategies(m)})"
                        for _, r in differ.iterrows()
                    )
                    + "."
                )
            holm_step = f"{design['d_min_holm']:.3g} at alpha/{m}, Holm's first step; " if m > 1 else ""
            after_holm = f" ({design['holm_floor']:.2g} after Holm)" if m > 1 else ""
            lines.append(
                f"{metric}, {model}, power: with {n} seeds and a seed-to-seed sd of "
                f"{design['diff_sd']:.3g} in the paired differences to {reference}, a strategy difference "
                f"of {design['d_min']:.3g} is detected with {power:.0%} power at alpha = {alpha} "
                f"({holm_step}normal approximation), and no Wilcoxon p can fall below "
                f"{design['wilcoxon_floor']:.2g}{after_holm}."
            )
        gears = frame[(frame["model"] == "gears") & frame["beats_train_mean"].notna()]
        if not gears.empty:
            wins = [tuple(int(x) for x in b.split("/")) for b in gears["beats_train_mean"]]
            lines.append(
                f"{metric}: GEARS beats the training mean in {sum(w for w, _ in wins)} of "
                f"{sum(t for _, t in wins)} runs at the final cycle"
                + (
                    "; strategy comparisons of GEARS say little while it does not."
                    if sum(w for w, _ in wins) * 2 < sum(t for _, t in wins)
                    else "."
                )
            )
    return "\n".join(lines) + "\n"
