"""Random selection: the baseline every one-shot selector is compared with."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Selection, sorted_candidates


def random_selection(candidates: Sequence[str], budget: int, *, seed: int, source: str = "budget") -> Selection:
    """Pick ``budget`` perturbations uniformly at random, in a random order.

    The order is ``numpy.random.default_rng(seed).permutation`` of the candidates sorted by symbol,
    truncated to ``budget``, so it depends only on the candidate set and the seed.

    Parameters
    ----------
    candidates : sequence of str, length m
        Perturbable genes; order is irrelevant.
    budget : int
        Number of picks, ``1 <= budget <= m``.
    seed : int
        Seed of the generator.
    source : str, default 'budget'
        Names the config key or file in ``InputError`` messages.

    Returns
    -------
    Selection
        ``strategy='random'``; ``gains`` all 1.0, ``objective`` the number of picks so far (float64);
        ``params={'seed': seed}``.

    Raises
    ------
    InputError
        Budget out of range or repeated candidates.
    """
    names = sorted_candidates(candidates, budget, source)
    order = np.random.default_rng(seed).permutation(len(names))[:budget]
    return Selection(
        strategy="random",
        genes=[names[i] for i in order],
        gains=np.ones(budget, dtype=np.float64),
        objective=np.arange(1, budget + 1, dtype=np.float64),
        params={"seed": int(seed)},
    )
