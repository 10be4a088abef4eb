"""Stage of ``workflow/rules/baselines.smk``: the GO diffusion kernels of the kernel ridge baseline, once per
dataset (env ``envs/numeric.yaml``; no torch). The baselines themselves are scored in the training jobs
(``stages.train``), on the same picks and split as GEARS."""

from __future__ import annotations

import logging
import time

from ..evaluation.baselines import BETAS, diffusion_kernels, save_kernels
from ..knowledge.graph import KnowledgeGraph
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
