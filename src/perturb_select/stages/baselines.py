"""Stages of ``workflow/rules/baselines.smk`` (env ``envs/numeric.yaml``; no torch): the graph kernels of the
GO kernel ridge and SGC ridge baselines, once per dataset; and, with ``gears.trainer: none``, the baselines of
each run and cycle on their own (rule score_baselines). Otherwise the training jobs score them
(``stages.train``), on the same picks and split as GEARS, through the same :func:`baselines_record`."""

from __future__ import annotations

import logging
import time
from typing import Mapping, Sequence

from ..evaluation.baselines import BETAS, graph_kernels, load_kernels, save_kernels
from ..evaluation.baselines import score_baselines as score_models
from ..experiment.runs import run_keys
from ..experiment.splits import cycle_picks
from ..io import InputError, read_json, write_json
from ..knowledge.graph import KnowledgeGraph
from ..screens.arrays import ScreenArrays
from ..screens.layout import read_candidates
from ..screens.simulated import read_truth

log = logging.getLogger("perturb_select")


def graph_kernel(edges: str, candidates: str, output: str, hops: int) -> None:
    """Rule graph_kernel: the kernels between every candidate of a dataset, once per dataset
    (``evaluation.baselines.graph_kernels``: diffusion kernels at ``BETAS`` and the SGC ridge's kernel at
    ``hops`` = ``gears.num_go_gnn_layers``)."""
    genes = read_candidates(candidates)
    start = time.perf_counter()
    kernels = graph_kernels(KnowledgeGraph.read(edges), genes, int(hops), BETAS)
    log.info(
        "graph kernels of %d candidates (diffusion at beta %s, SGC at K = %d) in %.2f s",
        len(genes),
        BETAS,
        int(hops),
        time.perf_counter() - start,
    )
    save_kernels(output, kernels)


def baselines_record(
    screen: ScreenArrays,
    kernels: str,
    train_genes: Sequence[str],
    test_genes: Sequence[str],
    keys: Mapping,
    truth: str | None = None,
    split: str | None = None,
    selection: str | Sequence[str] | None = None,
) -> dict:
    """A run's baselines file at one cycle: every model of ``evaluation.baselines`` trained on
    ``train_genes`` and scored on ``test_genes`` (``evaluation.baselines.score_baselines`` with the kernels
    file ``kernels``; a SIMULATED screen's ``truth`` file, ``screens.simulated``, adds the oracle), with the
    run's ``keys`` (``experiment.runs.run_keys``). The one code path of both rules that write the file:
    train_gears (beside GEARS) and score_baselines (``gears.trainer: none``).

    ``split`` and ``selection`` name the files the test and training genes come from: a gene that is not one
    of the dataset's candidates (the kernels' genes) is an ``InputError`` naming that file (a stale or edited
    split, a foreign ranking), not the kernels file, which is right.
    """
    loaded = load_kernels(kernels)
    candidates = set(loaded.genes)
    for genes, path, field in ((test_genes, split, "test"), (train_genes, selection, None)):
        missing = [g for g in genes if g not in candidates]
        if missing and path is not None:
            where = path if isinstance(path, str) else ", ".join(map(str, path))
            raise InputError(
                where,
                field,
                f"{len(missing)} genes are not candidates of the dataset (the "
                f"screen's, as in {kernels}), e.g. {missing[:5]}: a file from another dataset or "
                "an older screen? rerun the rule that wrote it",
            )
    scored = score_models(
        screen,
        loaded,
        train_genes,
        test_genes,
        source=kernels,
        truth=read_truth(truth, screen.genes) if truth else None,
    )
    return {**scored, **keys}


def score_baselines(
    split: str,
    selection: str,
    baselines_out: str,
    dataset: str,
    strategy: str,
    run: str,
    cycle: int,
    perturbations_per_cycle: int,
    screen: str,
    kernels: str,
    truth: str | None = None,
) -> None:
    """Rule score_baselines (``gears.trainer: none``, no GEARS): the baselines of one run at one cycle, as
    train_gears scores them beside GEARS (:func:`baselines_record`): trained on the first ``cycle *
    perturbations_per_cycle`` picks of the one-shot ranking ``selection``, scored on the test perturbations of
    ``split``, written to the same file (``baselines_out``) with the same keys. ``screen`` is the processed screen's
    arrays (``screen.npz``), ``kernels`` the dataset's graph kernels, ``truth`` a SIMULATED screen's."""
    start = time.perf_counter()
    train_genes = cycle_picks(selection, int(cycle), int(perturbations_per_cycle))
    test_genes = read_json(split)["test"]
    record = baselines_record(
        ScreenArrays.load(screen),
        kernels,
        train_genes,
        test_genes,
        run_keys(dataset, strategy, run, cycle),
        truth=truth,
        split=split,
        selection=selection,
    )
    write_json(record, baselines_out)
    log.info(
        "baselines (%s) of %d training and %d test perturbations in %.2f s",
        ", ".join(record["models"]),
        len(train_genes),
        len(test_genes),
        time.perf_counter() - start,
    )
