"""Stages of ``workflow/rules/baselines.smk``: the models every GEARS score is reported beside, trained on the
same picks and scored on the same split (env ``envs/numeric.yaml``; no torch)."""

from __future__ import annotations

import logging
import time
from typing import Sequence

from ..evaluation.baselines import BETAS, diffusion_kernels, load_kernels, save_kernels, score_baselines
from ..experiment.splits import cycle_picks
from ..io import read_json, write_json
from ..knowledge.graph import KnowledgeGraph
from ..screens.arrays import ScreenArrays
from ..screens.layout import read_candidates

log = logging.getLogger("perturb_select")


def graph_kernel(edges: str, candidates: str, output: str) -> None:
    """Rule graph_kernel: diffusion kernels between every candidate of a dataset, once per dataset
    (``evaluation.baselines.diffusion_kernels`` at ``BETAS``)."""
    genes = read_candidates(candidates)
    start = time.perf_counter()
    kernels = diffusion_kernels(KnowledgeGraph.read(edges), genes, BETAS)
    log.info("diffusion kernels of %d candidates at beta %s in %.2f s", len(genes), BETAS, time.perf_counter() - start)
    save_kernels(output, genes, BETAS, kernels)


def baselines(screen: str, kernels: str, split: str, selection: str | Sequence[str], output: str, dataset: str,
              strategy: str, seed: int, cycle: int, per_cycle: int) -> None:
    """Rule baselines: ``no_change``, ``train_mean`` and ``go_kernel_ridge`` trained on the cycle's picks and
    scored on the split's test perturbations (``evaluation.baselines.score_baselines``). No GEARS, no GPU.

    ``selection``: a one-shot ranking, or the pick files of cycles 1..cycle of an active strategy. Writes
    JSON: the run's keys, ``n_train_perturbations``, ``models`` and ``kernel_ridge``.
    """
    train_genes = cycle_picks(selection, int(cycle), int(per_cycle))
    kernel_genes, betas, kernel_values = load_kernels(kernels)
    record = score_baselines(ScreenArrays.load(screen), kernel_genes, betas, kernel_values, train_genes,
                             read_json(split)["test"], source=kernels)
    record.update(dataset=dataset, strategy=strategy, seed=int(seed), cycle=int(cycle))
    write_json(record, output)
