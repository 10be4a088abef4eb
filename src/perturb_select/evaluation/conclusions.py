"""The report's conclusions in words: what the comparison, model and power tables say, sentence by sentence
(``conclusions.txt``), with the limits of the design (how many seeds a test needs, what a SIMULATED screen is).

The tables come from :mod:`perturb_select.evaluation.report` and :mod:`perturb_select.evaluation.statistics`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from .report import ALL_STRATEGIES, LEARNED_MODELS, LOWER_IS_BETTER, MODEL_FAMILY, NOT_TRAINED, power_table
from .statistics import wilcoxon_floor


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
