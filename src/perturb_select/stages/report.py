"""Stages of ``workflow/rules/report.smk``: the runs aggregated over seeds, compared and plotted, and the
stability of each strategy's picks (env ``envs/numeric.yaml``; matplotlib draws the figures)."""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

from ..active.picks import read_picks
from ..config import NO_TRAINER
from ..evaluation.conclusions import conclusions, model_statements, simulated_statement
from ..evaluation.figures import plot_learning_curves, plot_metric_curves, plot_model_curves, plot_vs_reference
from ..evaluation.report import (
    NOT_TRAINED,
    collect_learning_curves,
    collect_metrics,
    final_cycle_comparison,
    learning_curve_auc,
    model_comparison,
    power_table,
    summarise,
)
from ..evaluation.stability import plot_stability, stability_statement, stability_table
from ..io import atomic_open, write_tsv
from ..selection.base import read_selection
from . import as_paths

log = logging.getLogger("perturb_select")
#: The metrics drawn, in order: the ``*mse_plot`` and ``*pearson_plot`` arguments of :func:`aggregate_report`.
METRICS = ("mse_top20_de", "pearson_delta")


def aggregate_report(
    metric_files: str | Sequence[str],
    baseline_files: str | Sequence[str],
    metrics_out: str,
    summary_out: str,
    comparison_out: str,
    auc_out: str,
    conclusions_out: str,
    learning_out: str,
    learning_plot: str,
    dataset: str,
    models_out: str,
    power_out: str,
    simulation: Mapping | None = None,
    trainer: str | None = None,
    mse_plot: str | None = None,
    pearson_plot: str | None = None,
    models_mse_plot: str | None = None,
    models_pearson_plot: str | None = None,
    vs_random_mse_plot: str | None = None,
    vs_random_pearson_plot: str | None = None,
) -> None:
    """Rule aggregate_report: every run's metrics (GEARS and the baselines, a ``model`` column), the strategy x
    model x cycle summary (mean ± std over seeds), the final-cycle paired comparisons, each learned model
    against the reference models at every cycle (``models_out``), what the seeds can detect
    (``power_out``, ``evaluation.report.power_table``), the conclusions in words, the AUC per curve, the
    validation learning curves, and the figures. Differences carry a 95 % bootstrap interval over seeds and
    p-values a Holm adjustment within their family (``evaluation.statistics``).

    The figures, one per metric (``mse_top20_de``: ``*mse_plot``, ``pearson_delta``: ``*pearson_plot``; None:
    not drawn): ``mse_plot``/``pearson_plot`` GEARS per strategy; ``models_*`` every model per strategy;
    ``vs_random_*`` per model, each strategy minus random by cycle with its interval
    (``evaluation.figures.plot_vs_reference``).
    ``simulation`` (a SIMULATED dataset's ``simulation`` block, ``config.SimulationConfig`` as a dict) puts
    "SIMULATED" in every title and the first sentence of the conclusions.

    ``trainer`` is ``gears.trainer``. With ``none`` there are no ``metric_files``: every table holds the
    baselines only (the learned models compared are go_kernel_ridge and sgc_ridge), GEARS's figures and the
    learning curves say that GEARS was not trained, and so do the conclusions, once.
    """
    metric_files, baseline_files = as_paths(metric_files), as_paths(baseline_files)
    plots = _by_metric(mse_plot, pearson_plot)
    model_plots = _by_metric(models_mse_plot, models_pearson_plot)
    vs_random_plots = _by_metric(vs_random_mse_plot, vs_random_pearson_plot)
    title = f"SIMULATED screen {dataset}" if simulation is not None else dataset
    gears_trained = trainer != NO_TRAINER
    if not gears_trained and metric_files:
        raise ValueError(f"gears.trainer: {NO_TRAINER} has no GEARS metrics, got {len(metric_files)} files")
    table = collect_metrics(metric_files, baseline_files)
    write_tsv(table, metrics_out, float_format="%.6g")
    write_tsv(summarise(table), summary_out)
    for metric, path in plots.items():
        plot_metric_curves(table, metric, path, title=title, **({} if gears_trained else {"note": NOT_TRAINED}))
    for metric, path in model_plots.items():
        plot_model_curves(table, metric, path, title=title)
    for metric, path in vs_random_plots.items():
        plot_vs_reference(table, metric, path, title=title)
    comparison = final_cycle_comparison(table)
    write_tsv(comparison, comparison_out, float_format="%.6g")
    models = model_comparison(table)
    write_tsv(models, models_out, float_format="%.6g")
    write_tsv(power_table(comparison), power_out, float_format="%.6g")
    header = simulated_statement(simulation, dataset)
    text = (
        (header + "\n" if header else "")
        + conclusions(comparison, gears_trained=gears_trained)
        + "\n".join(model_statements(models))
        + "\n"
    )
    log.info("%s", text.strip())
    with atomic_open(conclusions_out, "w") as handle:
        handle.write(text)
    write_tsv(learning_curve_auc(table), auc_out, float_format="%.6g")
    curves = collect_learning_curves(metric_files)
    write_tsv(curves, learning_out, float_format="%.6g")
    plot_learning_curves(
        curves, learning_plot, title=title, **({} if gears_trained else {"note": f"no learning curves: {NOT_TRAINED}"})
    )


def _by_metric(*paths: str | None) -> dict:
    """{metric: path} of one figure per metric of :data:`METRICS`, those given."""
    return {metric: path for metric, path in zip(METRICS, paths) if path is not None}


def stability(
    runs: Mapping[str, Sequence[Sequence[str]]],
    kinds: Mapping[str, str],
    perturbations_per_cycle: int,
    cycles: int,
    table_out: str,
    plot_out: str,
    dataset: str,
    simulated: bool = False,
) -> None:
    """Rule stability: picks of R initialisations on one split -> table and figure (``evaluation.stability``).

    ``runs[strategy]`` lists each run's files: one ranking TSV when ``kinds[strategy] == 'one-shot'``,
    else the pick files of cycles 1..cycles.
    """
    orders = {}
    for strategy, files in runs.items():
        if kinds[strategy] == "one-shot":
            orders[strategy] = [read_selection(f[0]).genes for f in files]
        else:
            orders[strategy] = [read_picks(f, int(perturbations_per_cycle)) for f in files]
    table = stability_table(orders, int(perturbations_per_cycle), int(cycles), kinds)
    log.info("%s", stability_statement(table))
    write_tsv(table, table_out, float_format="%.6g")
    plot_stability(table, plot_out, title=f"SIMULATED screen {dataset}" if simulated else dataset)


def simulated_map(
    metrics: str | Sequence[str],
    datasets: Sequence[str],
    truths: Mapping[str, str],
    cycles: Sequence[int],
    table_out: str,
    figure_out: str,
) -> None:
    """Rule simulated_map: across the SIMULATED datasets (each a truth: mechanism and graph_signal), each strategy
    minus random per model and cycle with its interval and ``p_holm`` (``evaluation.strategy_map``), as a table
    and one figure. ``metrics`` are the datasets' ``metrics.tsv`` in the order of ``datasets``."""
    import pandas as pd

    from ..evaluation.strategy_map import plot_strategy_map, strategy_map

    tables = {dataset: pd.read_csv(path, sep="\t") for dataset, path in zip(datasets, as_paths(metrics))}
    table = strategy_map(tables, truths, cycles=[int(c) for c in cycles])
    write_tsv(table, table_out)
    plot_strategy_map(
        table,
        figure_out,
        "SIMULATED screens: each strategy minus random, top-20 DE MSE (95 % bootstrap interval; filled: p_holm < 0.05)",
    )
    log.info(
        "map of %d SIMULATED truths, %d comparisons, %d with p_holm < 0.05",
        len(tables),
        len(table),
        int((table["p_holm"] < 0.05).sum()),
    )
