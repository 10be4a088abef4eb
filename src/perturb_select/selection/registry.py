"""The one-shot selectors by name: ``select`` runs one with the parameters of its config block
(``experiment.strategies.<name>``), as the ``select`` stage does."""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

from ..io import InputError
from ..knowledge.graph import KnowledgeGraph
from .base import Selection
from .facility import facility
from .graphreach import graphreach
from .maxspec import maxspec
from .random import random_selection

SELECTORS: dict[str, Callable[..., Selection]] = {
    "random": random_selection,
    "graphreach": graphreach,
    "maxspec": maxspec,
    "facility": facility,
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
        A key of ``SELECTORS``.
    graph : KnowledgeGraph
        Ignored by ``'random'``.
    candidates : sequence of str
    budget : int
    seed : int
        The experiment seed: random's draw, and the graph selectors' ``tie_break='seeded'`` order (they
        are otherwise deterministic and ignore it).
    params : dict, optional
        Keyword arguments of the selector (e.g. ``{'hops': 2}``), typically
        ``experiment.strategies.<strategy>`` of the config.
    source : str, optional
        Names the config block in ``InputError`` messages; default
        ``'config: experiment.strategies.<strategy>'``.

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
    if strategy not in SELECTORS:
        raise ValueError(f"unknown strategy {strategy!r}; known strategies: {sorted(SELECTORS)}")
    if source is None:
        source = f"config: experiment.strategies.{strategy}"
    function = SELECTORS[strategy]
    params = dict(params or {})
    keywords = {
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    accepted = keywords - _RESERVED
    for key in params:
        if key not in accepted:
            raise InputError(source, key, f"not a parameter of strategy '{strategy}' (it takes: {sorted(accepted)})")
    if "seed" in keywords:  # random's draw, and the graph selectors' seeded tie order
        params["seed"] = seed
    if strategy == "random":
        return function(candidates, budget, source=source, **params)
    return function(graph, candidates, budget, source=source, **params)
