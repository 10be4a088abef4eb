"""Stages of ``workflow/rules/select.smk``: the per-seed test split and the one-shot rankings (env
``envs/numeric.yaml``)."""

from __future__ import annotations

import logging
import time
from typing import Mapping

from ..experiment.splits import split_test_set as split
from ..io import read_json, write_json
from ..knowledge.graph import KnowledgeGraph
from ..screens.layout import read_candidates
from ..selection.base import write_selection
from ..selection.registry import select as run_selection
from ..strategies import VARIANT_KEY

log = logging.getLogger("perturb_select")


def split_test_set(candidates: str, output: str, seed: int, test_fraction: float) -> None:
    """Rule split_test_set: a fixed random test set per seed; the rest is the pool the strategies pick from.

    The split depends on the candidates, the seed and ``test_fraction`` alone, so adding a cycle or changing
    the perturbations per cycle does not redo it. Whether the plan fits the pool is checked before any job
    for a screen with a local file (``experiment.splits.check_plans_fit``), else by the first job that needs
    more picks than the pool holds (``experiment.splits.cycle_picks``, ``active.rules.choose_batch``).
    """
    write_json(split(read_candidates(candidates), test_fraction=test_fraction, seed=int(seed)), output)


def select(
    edges: str,
    split: str,
    output: str,
    strategy: str,
    seed: int,
    strategy_params: Mapping,
    perturbations_per_cycle: int,
) -> None:
    """Rule select: a one-shot strategy's ranking of the whole pool of the split.

    Cycle ``c`` trains on the first ``c * perturbations_per_cycle`` of the ranking, so adding a cycle reuses this file.
    The greedy selectors are prefix-consistent (the first ``b`` picks of a longer ranking are the picks
    of budget ``b``); ``random`` is a seeded permutation (``seed``: the run's initialisation seed).
    ``strategy_params`` is the strategy's block of ``experiment.strategies``.
    """
    graph = KnowledgeGraph.read(edges)
    pool = read_json(split)["pool"]
    start = time.perf_counter()
    params = dict(strategy_params)
    method = params.pop(VARIANT_KEY, strategy)  # a variant runs the strategy it names
    selection = run_selection(
        method,
        graph,
        pool,
        len(pool),
        seed=int(seed),
        params=params,
        source=f"config: experiment.strategies.{strategy}",
    )
    log.info("%s ranked the pool of %d in %.3f s", strategy, len(pool), time.perf_counter() - start)
    write_selection(selection, output, perturbations_per_cycle=int(perturbations_per_cycle))
