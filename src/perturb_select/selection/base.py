"""The result of a one-shot selector, its TSV form, and the checks every selector shares.

A one-shot selector orders ``budget`` perturbations of the candidate pool once, up front; cycle ``c`` of
the screen then trains on the first ``c * perturbations_per_cycle`` picks (``experiment.splits.cycle_perturbations``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..io import InputError, read_tsv, write_tsv
from ..strategies import selector_option_problem

SELECTION_COLUMNS = ("rank", "gene", "cycle", "gain", "objective")


@dataclass
class Selection:
    """An ordered one-shot selection of perturbations.

    Attributes
    ----------
    strategy : str
        Name of the selector (``'random'``, ``'graphreach'``, ``'maxspec'``, ``'facility'``).
    genes : list of str, length budget
        Perturbed genes in the order they were picked.
    gains : numpy.ndarray, float64, shape (budget,)
        Marginal gain of each pick, ``objective[i] - objective[i - 1]`` (objective before the first
        pick is 0).
    objective : numpy.ndarray, float64, shape (budget,)
        Value of the selector's objective after each pick.
    params : dict
        The selector's parameters (e.g. ``{'hops': 1, 'lazy': True}``), for provenance.
    tied : numpy.ndarray of bool, shape (budget,), or None
        Per pick, whether another candidate had the same value of the selector's criterion, so that the
        tie rule (``tie_break``) decided it; None for a selector without a criterion (random).
    """

    strategy: str
    genes: list[str]
    gains: np.ndarray
    objective: np.ndarray
    params: dict = field(default_factory=dict)
    tied: np.ndarray | None = None

    def __post_init__(self):
        self.genes = [str(g) for g in self.genes]
        self.gains = np.asarray(self.gains, dtype=np.float64)
        self.objective = np.asarray(self.objective, dtype=np.float64)
        n = len(self.genes)
        if self.gains.shape != (n,) or self.objective.shape != (n,):
            raise ValueError(
                f"{n} genes but gains of shape {self.gains.shape} and objective of shape {self.objective.shape}"
            )
        if self.tied is not None:
            self.tied = np.asarray(self.tied, dtype=bool)
            if self.tied.shape != (n,):
                raise ValueError(f"{n} genes but tied of shape {self.tied.shape}")

    @property
    def ties(self) -> int:
        """How many picks the tie rule decided (0 without ``tied``)."""
        return 0 if self.tied is None else int(self.tied.sum())

    def __len__(self) -> int:
        return len(self.genes)

    def to_frame(self, perturbations_per_cycle: int) -> pd.DataFrame:
        """The selection as a table, one row per pick.

        Parameters
        ----------
        perturbations_per_cycle : int
            Perturbations added per cycle (>= 1).

        Returns
        -------
        pandas.DataFrame
            Columns ``rank`` (int, 1-based), ``gene`` (str), ``cycle`` (int,
            ``(rank - 1) // perturbations_per_cycle + 1``: the first cycle that trains on this pick), ``gain`` and
            ``objective`` (float64), and ``tie`` (int 0/1: the tie rule decided this pick) when the
            selector reports ties.

        Raises
        ------
        ValueError
            If ``perturbations_per_cycle < 1``.
        """
        if perturbations_per_cycle < 1:
            raise ValueError(f"perturbations_per_cycle must be >= 1, got {perturbations_per_cycle}")
        rank = np.arange(1, len(self.genes) + 1, dtype=np.int64)
        frame = pd.DataFrame(
            {
                "rank": rank,
                "gene": self.genes,
                "cycle": (rank - 1) // perturbations_per_cycle + 1,
                "gain": self.gains,
                "objective": self.objective,
            }
        )
        if self.tied is not None:
            frame["tie"] = self.tied.astype(np.int64)
        return frame


def write_selection(selection: Selection, path: str | os.PathLike, perturbations_per_cycle: int) -> None:
    """Write ``selection.to_frame(perturbations_per_cycle)`` as TSV, atomically (floats with 17 significant digits,
    so ``read_selection`` gives back the same values bit for bit)."""
    write_tsv(selection.to_frame(perturbations_per_cycle), path, float_format="%.17g")


def read_selection(path: str | os.PathLike, strategy: str | None = None) -> Selection:
    """Read a selection written by ``write_selection``.

    Parameters
    ----------
    path : path-like
        TSV with columns ``rank, gene, cycle, gain, objective``.
    strategy : str, optional
        Strategy name to record in the returned ``Selection`` (the file does not hold it); defaults to
        the name of the file's parent directory (``results/select/{dataset}/{strategy}/seed{seed}.tsv``).

    Returns
    -------
    Selection
        ``params`` is empty (the file does not hold them).

    Raises
    ------
    InputError
        If a column is missing, ranks are not 1..n in order, a gene is empty or repeated, cycles do
        not follow one number of perturbations per cycle, or a gain/objective is not a number.
    """
    path = os.fspath(path)
    frame = read_tsv(path, dtype={"gene": str}, keep_default_na=False, float_precision="round_trip")
    for column in SELECTION_COLUMNS:
        if column not in frame.columns:
            raise InputError(path, column, "column missing from the selection table")
    n = len(frame)
    rank = pd.to_numeric(frame["rank"], errors="coerce")
    if not np.array_equal(rank.to_numpy(), np.arange(1, n + 1)):
        raise InputError(path, "rank", "ranks must be 1, 2, ..., n in order")
    genes = frame["gene"].astype(str)
    if (genes.str.strip() == "").any():
        raise InputError(path, "gene", "empty gene symbol")
    if genes.duplicated().any():
        raise InputError(path, "gene", f"genes picked twice: {sorted(set(genes[genes.duplicated()]))[:10]}")
    cycle = pd.to_numeric(frame["cycle"], errors="coerce")
    if n:
        perturbations_per_cycle = int((cycle == 1).sum())
        expected = (np.arange(n) // max(perturbations_per_cycle, 1)) + 1
        if perturbations_per_cycle < 1 or not np.array_equal(cycle.to_numpy(), expected):
            raise InputError(
                path,
                "cycle",
                "cycles must be (rank - 1) // perturbations_per_cycle + 1, one perturbations_per_cycle for all",
            )
    values = {}
    for column in ("gain", "objective"):
        values[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values[column]).any():
            raise InputError(path, column, "every value must be a number")
    tied = None
    if "tie" in frame.columns:
        tie = pd.to_numeric(frame["tie"], errors="coerce")
        if not tie.isin([0, 1]).all():
            raise InputError(path, "tie", "every value must be 0 or 1")
        tied = tie.to_numpy() == 1
    if strategy is None:
        strategy = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return Selection(strategy, genes.tolist(), values["gain"], values["objective"], {}, tied=tied)


def tie_priority(m: int, tie_break: str, seed: int = 0, source: str = "budget") -> np.ndarray:
    """The order in which a greedy's ties are decided, over candidates sorted by symbol.

    Parameters
    ----------
    m : int
        Number of candidates (rows in symbol order, :func:`sorted_candidates`).
    tie_break : {'symbol', 'lookahead', 'seeded'}
        ``strategies.TIE_BREAKS``. ``'symbol'`` and ``'lookahead'`` (whose own second gain comes first;
        the selector adds it) fall back to symbol order; ``'seeded'`` draws a random order from ``seed``.
    seed : int
        The experiment seed (``numpy.random.default_rng(seed).permutation``).
    source : str
        Names the config key or file in ``InputError`` messages.

    Returns
    -------
    numpy.ndarray, int64, shape (m,)
        A permutation of ``0..m-1``: among tied candidates, the one listed first wins.

    Raises
    ------
    InputError
        (field ``tie_break``) an unknown rule.
    """
    problem = selector_option_problem("tie_break", tie_break)
    if problem:
        raise InputError(source, "tie_break", problem)
    if tie_break == "seeded":
        return np.random.default_rng(int(seed)).permutation(m).astype(np.int64)
    return np.arange(m, dtype=np.int64)


def validate_budget(budget: int, n_candidates: int, source: str = "budget") -> None:
    """Raise ``InputError(source, 'budget', ...)`` unless ``1 <= budget <= n_candidates``."""
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise InputError(source, "budget", f"budget must be an integer, got {budget!r}")
    if budget < 1 or budget > n_candidates:
        raise InputError(
            source,
            "budget",
            f"budget is {budget} but must be between 1 and the number of candidates ({n_candidates})",
        )


def sorted_candidates(candidates: Sequence[str], budget: int, source: str = "budget") -> list[str]:
    """Candidates sorted by symbol (the position used to break ties), after the budget check.

    Raises
    ------
    InputError
        If a candidate is repeated (field ``candidates``) or the budget is out of range.
    """
    names = [str(c) for c in candidates]
    ordered = sorted(set(names))
    if len(ordered) != len(names):
        repeated = sorted(c for c, count in Counter(names).items() if count > 1)
        raise InputError(source, "candidates", f"candidates listed more than once: {repeated[:10]}")
    validate_budget(budget, len(ordered), source)
    return ordered


def starting_set(
    names: Sequence[str], screened: Sequence[str], required: Sequence[str], budget: int, source: str = "budget"
) -> tuple[list[str], np.ndarray]:
    """Check the perturbations a selection starts from; return them and the rows of the required ones.

    Parameters
    ----------
    names : sequence of str, length m
        The candidates, sorted (:func:`sorted_candidates`).
    screened : sequence of str
        Perturbations already screened: they are the starting set and never picked.
    required : sequence of str
        Candidates picked first, in this order.
    budget : int

    Returns
    -------
    screened : list of str
        Unique, in the given order.
    required_rows : numpy.ndarray, int64, shape (r,)
        Positions of ``required`` in ``names``, in the given order.

    Raises
    ------
    InputError
        Field ``required``: a repeated required perturbation, one that is not a candidate, one that was
        screened, or more required perturbations than the budget.
    """
    screened = list(dict.fromkeys(str(s) for s in screened))
    required = [str(r) for r in required]
    repeated = sorted(r for r, count in Counter(required).items() if count > 1)
    if repeated:
        raise InputError(source, "required", f"required perturbations listed more than once: {repeated[:10]}")
    if len(required) > budget:
        raise InputError(source, "required", f"{len(required)} required perturbations but the budget is {budget}")
    done = sorted(set(required) & set(screened))
    if done:
        raise InputError(
            source, "required", f"required perturbations already screened (never picked again): {done[:10]}"
        )
    position = {name: i for i, name in enumerate(names)}
    outside = [r for r in required if r not in position]
    if outside:
        raise InputError(source, "required", f"required perturbations that are not candidates: {outside[:10]}")
    return screened, np.array([position[r] for r in required], dtype=np.int64)
