"""Stage of ``workflow/rules/train.smk``: GEARS trained on one cycle's picks and scored on the test
perturbations beside the baselines trained on the same picks (env ``envs/torch-gears.yaml``; torch is
imported when the trainer runs). With ``gears.trainer: none`` there is no such job: rule score_baselines
(``stages.baselines``) scores the baselines alone, through the same ``stages.baselines.baselines_record``."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from ..config import NO_TRAINER, TrainingConfig
from ..evaluation.metrics import run_record
from ..experiment.runs import run_keys, run_seeds
from ..experiment.splits import cycle_picks
from ..gears import TRAINER_INPUTS, train, training_data
from ..io import InputError, read_json, write_json
from ..knowledge.graph import KnowledgeGraph
from ..screens.arrays import ScreenArrays
from . import as_paths
from .baselines import baselines_record


def train_gears(
    split: str,
    selection: str | Sequence[str],
    output: str,
    metrics_out: str,
    baselines_out: str,
    dataset: str,
    strategy: str,
    run: str,
    cycle: int,
    gears: Mapping,
    perturbations_per_cycle: int,
    edges: str,
    screen: str,
    kernels: str,
    adata: str | None = None,
    gene2go: str | None = None,
    work_dir: str | None = None,
    threads: int = 1,
    strategy_params: Mapping | None = None,
    pool_out: str | None = None,
    truth: str | None = None,
) -> None:
    """Rules train_gears and train_gears_active: GEARS on the first ``cycle * perturbations_per_cycle`` picks,
    predictions of the test perturbations (``gears.train`` with the trainer ``gears.trainer`` names) and their metrics
    (``evaluation.metrics.run_record``: ``metrics_out``, with the keys dataset, strategy, seed, cycle); and
    the baselines trained on the same picks and scored on the same split (``stages.baselines
    .baselines_record`` with the graph kernels ``kernels``: ``baselines_out``, the same keys). The baselines
    share the job because they share its inputs and take milliseconds: a job of their own cost more in
    start-up than their work.

    ``run`` is the run label (``experiment.runs``): its split seed is the records' ``seed``, its
    initialisation seed seeds the training; a stability run's records also hold ``run``.

    ``gears`` is the config's ``gears:`` block (``config.TrainingConfig``); ``threads`` (the job's cores)
    overrides its ``threads``. The trainer reads what ``gears.TRAINER_INPUTS`` lists: ``screen``
    (``screen.npz``) and ``edges`` for the ``perturbations`` and ``cells`` trainers; ``adata``, ``gene2go``
    and ``edges`` for cell-gears's, with ``work_dir`` as its scratch. The baselines read ``screen``; a
    SIMULATED screen's ``truth`` (``screens.simulated``) adds the ``oracle`` row to them.

    ``selection`` is a one-shot ranking (one TSV) or, for an active strategy, the pick files of cycles
    1..cycle (a list, also of one file). Then ``strategy_params`` (``strategies.active_params``) and ``pool_out``
    are given: the model also scores the labelled and the remaining pool perturbations (``gears.results.PoolScores``,
    written to ``pool_out``) for the next cycle's selection; the ``uncertainty`` method trains GEARS with its
    uncertainty head (``uncertainty_reg`` from the strategy's block).
    """
    split_seed, init_seed = run_seeds(run)
    config = dataclasses.replace(TrainingConfig.from_params(gears), threads=max(1, int(threads)))
    if not config.trains_gears:
        raise InputError(
            "config",
            "gears.trainer",
            f"{NO_TRAINER} trains no GEARS: rule score_baselines "
            "(stages.baselines.score_baselines) scores the baselines alone",
        )
    params = dict(strategy_params or {})
    if params.get("method") == "uncertainty":
        config = dataclasses.replace(config, uncertainty=True, uncertainty_reg=float(params["uncertainty_reg"]))
    if pool_out:  # active: the pick files of cycles 1..cycle, however many
        selection = as_paths(selection)
    train_genes = cycle_picks(selection, int(cycle), int(perturbations_per_cycle))
    split_record = read_json(split)
    score_genes = None
    if pool_out:
        trained = set(train_genes)
        score_genes = train_genes + [g for g in split_record["pool"] if g not in trained]
    trainer_reads_screen = "screen" in TRAINER_INPUTS[config.trainer]
    data = training_data(
        KnowledgeGraph.read(edges),
        screen=screen if trainer_reads_screen else None,
        adata=adata,
        gene2go=gene2go,
        work_dir=work_dir,
    )
    keys = run_keys(dataset, strategy, run, cycle)
    arrays = data.screen if trainer_reads_screen else ScreenArrays.load(screen)
    baselines = baselines_record(
        arrays, kernels, train_genes, split_record["test"], keys, truth=truth, split=split, selection=selection
    )
    result = train(
        data,
        train_genes,
        split_record["test"],
        seed=init_seed,
        config=config,
        score_genes=score_genes,
        score_controls=int(params["controls"]) if pool_out else 0,
    )
    result.predictions.info["cycle"] = int(cycle)
    if pool_out:
        result.pool.info["cycle"] = int(cycle)
        result.pool.save(pool_out)
    result.predictions.save(output)
    write_json(run_record(result.predictions, **keys), metrics_out)
    write_json(baselines, baselines_out)
