"""A ranking of candidate perturbations by GraphReach (optionally weighted by the candidates), MaxSpec or
facility location, with the receptive-field coverage of the whole graph after every pick, and the baselines it
is plotted against (random orders, all candidates)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import DEFAULT_HOPS, DESIGN_METHODS
from ..io import InputError
from ..knowledge.graph import KnowledgeGraph, covered_by, perturbation_fields
from ..strategies import GRAPHREACH_WEIGHTS, MAXSPEC_OPERATORS, TIE_BREAKS, selector_option_problem

DESIGN_COLUMNS = ("rank", "gene", "query", "required", "gain", "covered_nodes", "coverage_fraction", "tie")


def coverage_curve(
    graph: KnowledgeGraph, genes: Sequence[str], hops: int, *, screened: Sequence[str] = ()
) -> np.ndarray:
    """Receptive-field coverage of every prefix of an ordered list of perturbations.

    Parameters
    ----------
    graph : KnowledgeGraph
    genes : sequence of str, length b
        Perturbations (graph genes or pairs ``'A+B'``), in pick order.
    hops : int
        K >= 0: ``R_K(v)`` is ``v`` and every node with a directed path of length <= K into ``v``.
    screened : sequence of str, optional
        Perturbations screened before: their coverage is counted from the start.

    Returns
    -------
    numpy.ndarray, int64, shape (b,)
        Entry i is ``|R_K(screened) | R_K(genes[0]) | ... | R_K(genes[i])|``, counted over the whole graph.
    """
    fields = perturbation_fields(graph, list(genes), hops)
    start = covered_by(perturbation_fields(graph, list(screened), hops), graph.n_nodes)
    return _prefix_coverage(fields, np.arange(fields.shape[0]), start)


def _prefix_coverage(fields, order: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Covered node count after each row of ``fields`` taken in ``order``, from the covered mask
    ``start`` (bool, shape (n,); not modified). Returns int64, shape (len(order),)."""
    covered = start.copy()
    counts = np.empty(len(order), dtype=np.int64)
    total = int(covered.sum())
    indptr, indices = fields.indptr, fields.indices
    for i, row in enumerate(order):
        reached = indices[indptr[row] : indptr[row + 1]]
        total += int(np.count_nonzero(~covered[reached]))
        covered[reached] = True
        counts[i] = total
    return counts


def rank_perturbations(
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    *,
    method: str = "graphreach",
    hops: int = DEFAULT_HOPS,
    weights: str = GRAPHREACH_WEIGHTS[0],
    tie_break: str = TIE_BREAKS[0],
    operator: str = MAXSPEC_OPERATORS[0],
    seed: int = 0,
    queries: Mapping[str, str] | None = None,
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
    perturbations_per_cycle: int | None = None,
    source: str = "budget",
) -> pd.DataFrame:
    """Rank ``budget`` perturbations of the candidates with GraphReach, MaxSpec or facility, with their coverage.

    Calls :func:`perturb_select.selection.graphreach.graphreach`, :func:`perturb_select.selection.maxspec.maxspec`
    (Panagopoulos et al. 2025) or :func:`perturb_select.selection.facility.facility` unchanged; the coverage
    columns are computed for every method from the same receptive fields ``R_K`` that GraphReach maximises
    (for a pair ``A+B``, the union of both fields).

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
        Unique perturbations, graph genes or pairs ``'A+B'`` (e.g. from
        :func:`perturb_select.design.resolve.resolve_candidates`); order is irrelevant to the picks. Must hold
        every ``required`` perturbation.
    budget : int
        Number of perturbations to pick, ``1 <= budget <= m``.
    method : {'graphreach', 'maxspec', 'facility'}
    hops : int
        K >= 0, the receptive-field radius (GEARS's number of GO-graph SGC layers).
    weights : {'uniform', 'candidates'}, default 'uniform'
        GraphReach's node weights (``'candidates'``: a node counts the candidates whose receptive field
        holds it); the other methods take only ``'uniform'``.
    tie_break : {'symbol', 'lookahead', 'seeded'}, default 'symbol'
        How GraphReach's and MaxSpec's equal gains are decided (``strategies.TIE_BREAKS``; ``'seeded'``
        draws its order from ``seed``); facility takes only the default.
    operator : {'whole_graph', 'induced'}, default 'whole_graph'
        MaxSpec's operator (``strategies.MAXSPEC_OPERATORS``); the other methods take only the default.
    seed : int, default 0
        The order of ``tie_break='seeded'``.
    queries : mapping of str to str, optional
        Perturbation -> symbol as written in the user's list (for the ``query`` column); default: itself.
    screened : sequence of str, optional
        Perturbations screened before: the selection starts from their coverage (GraphReach), from
        them as the starting set (MaxSpec) or as open facilities (facility); they should not be candidates.
    required : sequence of str, optional
        Candidates picked first, in this order.
    perturbations_per_cycle : int, optional
        Perturbations per cycle: adds the column ``cycle`` (``(rank - 1) // perturbations_per_cycle + 1``).
    source : str
        Names the option or config key of the budget in ``InputError`` messages (e.g. ``'--budget'``).

    Returns
    -------
    pandas.DataFrame
        ``budget`` rows in pick order, columns ``rank`` (int64, 1-based), ``cycle`` (int64, only with
        ``perturbations_per_cycle``), ``gene`` (str, graph node or pair), ``query`` (str), ``required`` (bool), ``gain``
        (float64: nodes newly covered for GraphReach, their weight with ``weights='candidates'``; increase
        of the restricted spectral norm for MaxSpec; of the facility-location objective for facility),
        ``covered_nodes`` (int64: nodes in the union of the receptive fields of the screened
        perturbations and the picks so far, over the whole graph) and ``coverage_fraction`` (float64,
        ``covered_nodes / graph.n_nodes``), ``tie`` (bool: another candidate had the same gain, so the tie
        rule decided; always False for facility).

    Raises
    ------
    InputError
        Field ``'budget'`` (source ``source``): budget below 1 or above the number of candidates
        (the message gives both counts). Field ``'method'``: an unknown method. Field ``'weights'``:
        unknown weights, or weights other than ``'uniform'`` for a method other than GraphReach. Field
        ``'candidates'``: repeated candidates or genes that are not graph nodes. Field
        ``'required'``: see :func:`perturb_select.selection.base.starting_set`.
    """
    from ..selection.facility import facility
    from ..selection.graphreach import graphreach
    from ..selection.maxspec import maxspec

    if method not in DESIGN_METHODS:
        raise InputError(source, "method", f"unknown method {method!r}; choose one of {', '.join(DESIGN_METHODS)}")
    for option, value in (("weights", weights), ("tie_break", tie_break), ("operator", operator)):
        problem = selector_option_problem(option, value, method)
        if problem:
            raise InputError(source, option, problem)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise InputError(source, "budget", f"budget must be an integer, got {budget!r}")
    if not candidates:
        raise InputError(source, "budget", "no candidate gene resolved to a graph node: nothing to pick from")
    if not 1 <= budget <= len(candidates):
        raise InputError(
            source,
            "budget",
            f"budget is {budget} but {len(candidates)} candidate perturbations resolved to graph nodes; "
            f"choose a budget between 1 and {len(candidates)}",
        )
    if int(hops) != hops or hops < 0:
        raise InputError(source, "hops", f"hops must be an integer >= 0, got {hops!r}")
    select = {"graphreach": graphreach, "maxspec": maxspec, "facility": facility}[method]
    options = {
        "graphreach": {"weights": weights, "tie_break": tie_break, "seed": int(seed)},
        "maxspec": {"operator": operator, "tie_break": tie_break, "seed": int(seed)},
    }.get(method, {})
    selection = select(
        graph,
        list(candidates),
        int(budget),
        hops=int(hops),
        source=source,
        screened=list(screened),
        required=list(required),
        **options,
    )
    covered = coverage_curve(graph, selection.genes, int(hops), screened=screened)
    queries = queries or {}
    rank = np.arange(1, len(selection.genes) + 1, dtype=np.int64)
    table = {"rank": rank}
    if perturbations_per_cycle is not None:
        table["cycle"] = (rank - 1) // int(perturbations_per_cycle) + 1
    required_set = set(required)
    table.update(
        {
            "gene": selection.genes,
            "query": [queries.get(g, g) for g in selection.genes],
            "required": [g in required_set for g in selection.genes],
            "gain": selection.gains,
            "covered_nodes": covered,
            "coverage_fraction": covered / float(graph.n_nodes),
            "tie": np.zeros(len(rank), dtype=bool) if selection.tied is None else selection.tied,
        }
    )
    return pd.DataFrame(table)


def random_coverage(
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    hops: int,
    *,
    seed: int = 0,
    n_orders: int = 20,
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
) -> np.ndarray:
    """Coverage of the same candidates picked in random orders (the baseline a selector must beat).

    Each order starts, like the selection, from the screened coverage and with the required
    perturbations in their order; the rest of the candidates follow in a random permutation.

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
        Holds every ``required`` perturbation.
    budget : int
        Prefix length, ``len(required) <= budget <= m``.
    hops : int
    seed : int
        Seeds ``numpy.random.default_rng``; the same seed gives the same orders.
    n_orders : int
        Number of random orders.
    screened, required : sequence of str, optional
        As given to :func:`rank_perturbations`.

    Returns
    -------
    numpy.ndarray, int64, shape (n_orders, budget)
        Covered node count after each pick, one row per random order.
    """
    candidates = list(candidates)
    fields = perturbation_fields(graph, candidates, hops)
    start = covered_by(perturbation_fields(graph, list(screened), hops), graph.n_nodes)
    position = {c: i for i, c in enumerate(candidates)}
    first = np.array([position[r] for r in required], dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(candidates)), first)
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            _prefix_coverage(fields, np.concatenate([first, rng.permutation(rest)])[:budget], start)
            for _ in range(n_orders)
        ]
    )


def reachable_nodes(
    graph: KnowledgeGraph, candidates: Sequence[str], hops: int, *, screened: Sequence[str] = ()
) -> int:
    """Nodes covered when every candidate (and every screened perturbation) is perturbed: the
    ceiling of any selection's coverage (int)."""
    fields = perturbation_fields(graph, list(candidates) + list(screened), hops)
    return int(np.unique(fields.indices).size)
