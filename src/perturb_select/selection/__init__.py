"""One-shot selectors: each orders ``budget`` perturbations of the candidate pool up front.

``select`` dispatches by strategy name, as the pipeline's ``select`` rule does from
``config['strategies'][strategy]``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

from ..graph import KnowledgeGraph
from ..io import InputError
from .base import Selection, read_selection, validate_budget, write_selection
from .graphreach import graphreach, greedy_max_coverage
from .maxspec import maxspec, spectral_norm
from .random import random_selection

STRATEGIES: dict[str, Callable[..., Selection]] = {
    "random": random_selection,
    "graphreach": graphreach,
    "maxspec": maxspec,
}

# keyword arguments that ``select`` itself fills in; the rest may come from ``params``
_RESERVED = {"seed", "source"}


def select(
    strategy: str,
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    *,
    seed: int,
    params: dict | None = None,
    source: str | None = None,
) -> Selection:
    """Run the one-shot selector ``strategy``.

    Parameters
    ----------
    strategy : str
        A key of ``STRATEGIES``.
    graph : KnowledgeGraph
        Ignored by ``'random'``.
    candidates : sequence of str
    budget : int
    seed : int
        Used by ``'random'``; the graph selectors are deterministic and ignore it.
    params : dict, optional
        Keyword arguments of the selector (e.g. ``{'hops': 2}``), typically
        ``config['strategies'][strategy]``.
    source : str, optional
        Names the config block in ``InputError`` messages; default ``'config: strategies.<strategy>'``.

    Returns
    -------
    Selection

    Raises
    ------
    ValueError
        Unknown strategy (the message lists the known ones).
    InputError
        A key of ``params`` that the selector does not take, or the selector's own input errors.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known strategies: {sorted(STRATEGIES)}")
    if source is None:
        source = f"config: strategies.{strategy}"
    function = STRATEGIES[strategy]
    params = dict(params or {})
    accepted = {
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    } - _RESERVED
    for key in params:
        if key not in accepted:
            raise InputError(
                source, key, f"not a parameter of strategy '{strategy}' (it takes: {sorted(accepted)})"
            )
    if strategy == "random":
        return function(candidates, budget, seed=seed, source=source, **params)
    return function(graph, candidates, budget, source=source, **params)


__all__ = [
    "STRATEGIES",
    "Selection",
    "graphreach",
    "greedy_max_coverage",
    "maxspec",
    "random_selection",
    "read_selection",
    "select",
    "spectral_norm",
    "validate_budget",
    "write_selection",
]
