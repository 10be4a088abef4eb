"""The experiment's bookkeeping: the per-seed test split and the perturbations of each cycle.

Each seed holds out a test set of perturbations (never selected, used to evaluate every cycle) and leaves
the rest as the pool the strategies pick from; cycle ``c`` trains on the first ``c * perturbations_per_cycle``
picks: of a one-shot ranking, or of an active strategy's pick files of cycles 1..c (:func:`cycle_picks`).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..config import TEST_FRACTION
from ..io import InputError


def split_test_set(
    candidates: Sequence[str],
    *,
    test_fraction: float = TEST_FRACTION,
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
    n_test = held_out_count(n, test_fraction)
    held_out = np.random.default_rng(seed).permutation(n)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[held_out] = True
    return {
        "seed": int(seed),
        "test_fraction": float(test_fraction),
        "test": [g for g, t in zip(ordered, is_test) if t],
        "pool": [g for g, t in zip(ordered, is_test) if not t],
    }


def held_out_count(n: int, test_fraction: float) -> int:
    """Perturbations held out of ``n`` candidates (n >= 2): ``min(n - 1, max(1, round(test_fraction * n)))``
    (:func:`split_test_set`)."""
    return min(n - 1, max(1, round(test_fraction * n)))


def check_plans_fit(config) -> None:
    """Refuse, before any job, a plan that no dataset's candidates could hold.

    For every dataset whose file gives a bound on its candidates (``screens.bounds.candidate_bound``), the
    budget ``experiment.cycles x perturbations_per_cycle`` must fit in the pool the bound leaves after the
    test set (:func:`held_out_count`). The split stage checks the real pool later (:func:`check_budget`).

    Parameters
    ----------
    config : perturb_select.config.Config

    Raises
    ------
    InputError
        Source ``config``, field ``datasets.<name>``: the budget, the bound, the file and the keys to change.
    """
    from ..screens.bounds import candidate_bound

    experiment = config.experiment
    for name, dataset in config.datasets.items():
        bound = candidate_bound(dataset)
        if bound is None:
            continue
        n, where = bound
        perturbations_per_cycle = config.perturbations_per_cycle_of(name)
        budget = experiment.cycles * perturbations_per_cycle
        pool = n - held_out_count(n, experiment.test_fraction) if n >= 2 else 0
        if budget > pool:
            raise InputError(
                "config",
                f"datasets.{name}",
                f"{experiment.cycles} cycles x {perturbations_per_cycle} perturbations per cycle = {budget}, "
                f"but {where} has at "
                f"most {n} perturbations, {pool} left to pick from after the test set (test_fraction "
                f"{experiment.test_fraction}): lower experiment.cycles or perturbations_per_cycle",
            )


def cycle_perturbations(selection_genes: Sequence[str], cycle: int, perturbations_per_cycle: int) -> list[str]:
    """The perturbations trained on in ``cycle``: the first ``cycle * perturbations_per_cycle`` picks.

    Parameters
    ----------
    selection_genes : sequence of str
        A selector's picks, in order (``Selection.genes``).
    cycle : int
        1-based cycle number.
    perturbations_per_cycle : int
        Perturbations added per cycle.

    Returns
    -------
    list of str, length cycle * perturbations_per_cycle

    Raises
    ------
    ValueError
        ``cycle < 1``, ``perturbations_per_cycle < 1``, or fewer than ``cycle * perturbations_per_cycle`` picks.
    """
    if cycle < 1 or perturbations_per_cycle < 1:
        raise ValueError(
            f"cycle and perturbations_per_cycle must be >= 1, got cycle={cycle}, "
            f"perturbations_per_cycle={perturbations_per_cycle}"
        )
    needed = cycle * perturbations_per_cycle
    if needed > len(selection_genes):
        raise ValueError(
            f"cycle {cycle} with {perturbations_per_cycle} perturbations per cycle needs {needed} picks, "
            f"the selection has {len(selection_genes)}"
        )
    return list(selection_genes[:needed])


def cycle_picks(
    selection: str | os.PathLike | Sequence[str | os.PathLike], cycle: int, perturbations_per_cycle: int
) -> list[str]:
    """The perturbations of cycle ``cycle``, read from the strategy's files.

    Parameters
    ----------
    selection : path, or sequence of paths
        A one-shot ranking (one TSV, ``selection.base.read_selection``): its first ``cycle * perturbations_per_cycle``
        picks; or an active strategy's pick files of cycles 1..cycle (``active.picks.read_picks``).

    Raises
    ------
    InputError
        A file that is not a ranking or pick file (naming it); ValueError for a wrong number of files.
    """
    if isinstance(selection, (str, os.PathLike)):
        from ..selection.base import read_selection

        return cycle_perturbations(read_selection(selection).genes, int(cycle), int(perturbations_per_cycle))
    from ..active.picks import read_picks

    if len(selection) != int(cycle):
        raise ValueError(f"cycle {cycle} trains on the picks of {cycle} cycles, got {len(selection)} files")
    return read_picks(selection, int(perturbations_per_cycle))


def check_budget(pool_size: int, n_cycles: int, perturbations_per_cycle: int, source: str) -> int:
    """Check that ``n_cycles`` cycles of ``perturbations_per_cycle`` perturbations fit in the pool.

    Returns
    -------
    int
        The selection budget, ``n_cycles * perturbations_per_cycle``.

    Raises
    ------
    InputError
        Field ``cycles`` if ``n_cycles * perturbations_per_cycle > pool_size``; field ``cycles`` or
        ``perturbations_per_cycle`` if either is below 1.
    """
    if n_cycles < 1:
        raise InputError(source, "cycles", f"must be >= 1, got {n_cycles}")
    if perturbations_per_cycle < 1:
        raise InputError(source, "perturbations_per_cycle", f"must be >= 1, got {perturbations_per_cycle}")
    budget = n_cycles * perturbations_per_cycle
    if budget > pool_size:
        raise InputError(
            source,
            "cycles",
            f"budget of {n_cycles} cycles x {perturbations_per_cycle} perturbations per cycle = {budget} perturbations "
            f"exceeds the pool of {pool_size}",
        )
    return budget
