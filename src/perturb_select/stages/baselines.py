"""Stage of ``workflow/rules/baselines.smk``: the graph kernels of the GO kernel ridge and SGC ridge baselines,
once per dataset (env ``envs/numeric.yaml``; no torch). The baselines themselves are scored in the training
jobs (``stages.train``), on the same picks and split as GEARS."""

from __future__ import annotations

import logging
import time

from ..evaluation.baselines import BETAS, graph_kernels, save_kernels
from ..knowledge.graph import KnowledgeGraph
from ..screens.layout import read_candidates

log = logging.getLogger("perturb_select")


def graph_kernel(edges: str, candidates: str, output: str, hops: int) -> None:
    """Rule graph_kernel: the kernels between every candidate of a dataset, once per dataset
    (``evaluation.baselines.graph_kernels``: diffusion kernels at ``BETAS`` and the SGC ridge's kernel at
    ``hops`` = ``gears.num_go_gnn_layers``)."""
    genes = read_candidates(candidates)
    start = time.perf_counter()
    kernels = graph_kernels(KnowledgeGraph.read(edges), genes, int(hops), BETAS)
    log.info("graph kernels of %d candidates (diffusion at beta %s, SGC at K = %d) in %.2f s", len(genes), BETAS,
             int(hops), time.perf_counter() - start)
    save_kernels(output, kernels)
