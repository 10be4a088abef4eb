"""Bookkeeping of a simulated screen: the per-seed test split and the perturbations of each cycle.

Each seed holds out a test set of perturbations (never selected, used to evaluate every cycle) and leaves
the rest as the pool the selectors pick from; cycle ``c`` trains on the first ``c * batch_size`` picks of
the one-shot ordering.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .io import InputError


def split_test_set(
    candidates: Sequence[str],
    *,
    test_fraction: float = 0.1,
    seed: int,
    source: str = "candidates",
) -> dict:
    """Hold out a random test set of perturbations.

    ``n_test = max(1, round(test_fraction * n))`` with Python's ``round`` (halves go to the even
    integer: 25 candidates at 0.1 give 2), capped at ``n - 1`` so the pool is never empty. The test
    perturbations are ``numpy.random.default_rng(seed).permutation(n)[:n_test]`` over the candidates
    sorted by symbol, so the split depends only on the candidate set, the fraction and the seed.

    Parameters
    ----------
    candidates : sequence of str, length n >= 2
        Perturbations with data; order is irrelevant.
    test_fraction : float, default 0.1
        Fraction held out, in (0, 1).
    seed : int
    source : str, default 'candidates'
        Names the file or config key in ``InputError`` messages.

    Returns
    -------
    dict
        ``{'seed': seed, 'test_fraction': test_fraction, 'test': [...], 'pool': [...]}``; ``test`` and
        ``pool`` are sorted, disjoint, and together the candidates.

    Raises
    ------
    InputError
        Fewer than 2 candidates, a repeated candidate (field ``candidates``), or ``test_fraction``
        outside (0, 1) (field ``test_fraction``).
    """
    names = [str(c) for c in candidates]
    ordered = sorted(set(names))
    if len(ordered) != len(names):
        raise InputError(source, "candidates", "a candidate is listed more than once")
    n = len(ordered)
    if n < 2:
        raise InputError(source, "candidates", f"need at least 2 candidates to hold out a test set, got {n}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise InputError(source, "test_fraction", f"must be in (0, 1), got {test_fraction!r}")
    n_test = min(n - 1, max(1, round(test_fraction * n)))
    held_out = np.random.default_rng(seed).permutation(n)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[held_out] = True
    return {
        "seed": int(seed),
        "test_fraction": float(test_fraction),
        "test": [g for g, t in zip(ordered, is_test) if t],
        "pool": [g for g, t in zip(ordered, is_test) if not t],
    }


def cycle_perturbations(selection_genes: Sequence[str], cycle: int, batch_size: int) -> list[str]:
    """The perturbations trained on in ``cycle``: the first ``cycle * batch_size`` picks.

    Parameters
    ----------
    selection_genes : sequence of str
        A selector's picks, in order (``Selection.genes``).
    cycle : int
        1-based cycle number.
    batch_size : int
        Perturbations added per cycle.

    Returns
    -------
    list of str, length cycle * batch_size

    Raises
    ------
    ValueError
        ``cycle < 1``, ``batch_size < 1``, or fewer than ``cycle * batch_size`` picks.
    """
    if cycle < 1 or batch_size < 1:
        raise ValueError(f"cycle and batch_size must be >= 1, got cycle={cycle}, batch_size={batch_size}")
    needed = cycle * batch_size
    if needed > len(selection_genes):
        raise ValueError(
            f"cycle {cycle} with batch size {batch_size} needs {needed} picks, "
            f"the selection has {len(selection_genes)}"
        )
    return list(selection_genes[:needed])


def check_budget(pool_size: int, n_cycles: int, batch_size: int, source: str) -> int:
    """Check that ``n_cycles`` cycles of ``batch_size`` perturbations fit in the pool.

    Returns
    -------
    int
        The selection budget, ``n_cycles * batch_size``.

    Raises
    ------
    InputError
        Field ``n_cycles`` if ``n_cycles * batch_size > pool_size``; field ``n_cycles`` or
        ``batch_size`` if either is below 1.
    """
    if n_cycles < 1:
        raise InputError(source, "n_cycles", f"must be >= 1, got {n_cycles}")
    if batch_size < 1:
        raise InputError(source, "batch_size", f"must be >= 1, got {batch_size}")
    budget = n_cycles * batch_size
    if budget > pool_size:
        raise InputError(
            source,
            "n_cycles",
            f"budget of {n_cycles} cycles x batch size {batch_size} = {budget} perturbations "
            f"exceeds the pool of {pool_size}",
        )
    return budget
