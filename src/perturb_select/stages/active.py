"""Stage of ``workflow/rules/active.smk``: one cycle's batch of an active strategy (env
``envs/torch-bmdal.yaml``: TypiClust's k-means, ACS-FW through bmdal-reg on torch, GraphReach's numba)."""

from __future__ import annotations

import logging
import time
from typing import Mapping, Sequence

from ..active.picks import read_picks, write_picks
from ..active.rules import choose_batch
from ..gears.results import PoolScores
from ..io import read_json
from ..knowledge.graph import KnowledgeGraph
from . import as_paths

log = logging.getLogger("perturb_select")


def select_active(
    split: str,
    output: str,
    strategy: str,
    strategy_params: Mapping,
    cycle: int,
    perturbations_per_cycle: int,
    seed: int,
    picks: str | Sequence[str] = (),
    pool_scores: str | None = None,
    edges: str | None = None,
) -> None:
    """Rule select_active: the batch of cycle ``cycle`` of an active strategy (``active.rules.choose_batch``).

    Parameters
    ----------
    strategy_params : mapping
        The strategy's block of ``experiment.strategies``.
    picks : str or sequence of str
        The pick files of cycles 1..cycle-1, in order (one file: its path).
    pool_scores : str, optional
        The training job of cycle ``cycle - 1``'s view of the pool (cycles after the first or warm-up).
    edges : str, optional
        The graph, for a hybrid's GraphReach warm-up cycles.
    seed : int
        The run's initialisation seed.
    """
    cycle = int(cycle)
    picks = as_paths(picks)
    if len(picks) != cycle - 1:
        raise ValueError(f"cycle {cycle} needs the picks of {cycle - 1} earlier cycles, got {len(picks)}")
    scores = None
    if pool_scores:
        scores = PoolScores.load(pool_scores)
        scores.info["path"] = pool_scores
    start = time.perf_counter()
    genes, values, method = choose_batch(
        strategy,
        dict(strategy_params),
        read_json(split)["pool"],
        read_picks(picks, int(perturbations_per_cycle)),
        cycle,
        int(perturbations_per_cycle),
        seed=int(seed),
        scores=scores,
        graph=KnowledgeGraph.read(edges) if edges else None,
        source=picks[-1] if picks else split,
    )
    log.info("%s cycle %d: %s picked %s in %.3f s", strategy, cycle, method, genes, time.perf_counter() - start)
    write_picks(genes, values, cycle=cycle, method=method, path=output)
