"""Aggregate per-run metrics over seeds and plot metric-vs-cycle curves (the paper's Fig. 2 layout)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from ..config import NO_TRAINER
from ..io import InputError, read_json
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


# --------------------------------------------------------------------------- GEARS beside its baselines
COMPARED_METRICS = ("mse_top20_de", "pearson_delta")
#: Models compared with the references below at every cycle (``model_comparison``).
LEARNED_MODELS = ("gears", "go_kernel_ridge", "sgc_ridge")
#: What a learned model is compared with: two trivial predictors and, on a SIMULATED screen, the truth.
REFERENCE_MODELS = ("train_mean", "no_change", "oracle")
ALL_STRATEGIES = "all"


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


def _reference_columns(pair: dict, ref: str, reference: str) -> dict:
    """A :func:`_paired` summary as the columns of a row compared with ``reference`` (prefix ``ref``)."""
    return {
        f"{ref}_mean": pair["mean"],
        f"{ref}_std": pair["std"],
        f"{ref}_ci_low": pair["ci_low"],
        f"{ref}_ci_high": pair["ci_high"],
        "n_pairs": pair["n"],
        f"p_vs_{reference}": pair["p"],
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
                row.update(_reference_columns(_paired((values - wide[(reference, model)]).dropna()), ref, reference))
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
                row.update(_reference_columns(pair, ref, reference))
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
