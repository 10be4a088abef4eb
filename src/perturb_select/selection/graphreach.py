"""GraphReach: greedy maximum coverage of the knowledge graph by receptive fields.

Panagopoulos et al. 2025 ("Efficient Data Selection for Training Genomic Perturbation Models"): a
perturbation ``v`` supervised through K SGC layers trains the embeddings of its receptive field
``R_K(v)``, so GraphReach picks the perturbations whose receptive fields together reach the most nodes.
"""

from __future__ import annotations

import heapq
from typing import Sequence

import numba
import numpy as np
import scipy.sparse as sp

from ..knowledge.graph import KnowledgeGraph, covered_by, perturbation_fields
from .base import Selection, sorted_candidates, starting_set


def graphreach(
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    *,
    hops: int = 1,
    lazy: bool = True,
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
    source: str = "budget",
) -> Selection:
    """Pick ``budget`` perturbations by greedy maximum coverage of receptive fields.

    Objective ``f(S) = |union_{v in S} R_K(v)|``, counted over every node of ``graph`` (not only the
    candidates). ``f`` is monotone submodular, so the greedy order reaches at least ``1 - 1/e`` of the
    best value for every prefix (Nemhauser, Wolsey & Fisher 1978).

    Each step adds the candidate with the highest marginal gain; ties go to the candidate that comes
    first in the candidate list sorted by symbol, so the input order never matters. Once everything
    reachable is covered the gains are 0 and picking continues by the same rule until ``budget``.

    Starting from earlier screens (``screened``): the nodes their receptive fields reach count as
    covered before the first pick, so the gains are the nodes newly covered beyond them; ``required``
    perturbations are picked first, in their order, and the greedy fills the rest of the budget. Both
    run the same greedy on the fields with the covered nodes removed, which is the greedy started
    from that coverage (the objective is still monotone submodular there).

    Parameters
    ----------
    graph : KnowledgeGraph
        The knowledge graph (``graph.py`` conventions: ``R_K(v)`` follows edges *into* ``v``).
    candidates : sequence of str, length m
        Perturbations, single genes or combinations ``'A+B'`` (receptive field = union of the genes'
        fields, :func:`perturbation_fields`), each gene a node of ``graph``; order is irrelevant.
    budget : int
        Number of picks, ``1 <= budget <= m``.
    hops : int, default 1
        K, the number of SGC layers (GEARS's ``num_go_gnn_layers``).
    lazy : bool, default True
        ``True``: CELF lazy greedy (Leskovec et al. 2007, "Cost-effective outbreak detection in
        networks") with a heap keyed ``(-gain, position)``: a stale gain is an upper bound of the
        current one (submodularity), so a popped entry whose gain is fresh for this step beats every
        other candidate, ties included. ``False``: plain greedy that re-evaluates every candidate at
        every step. Both return the same picks.
    screened : sequence of str, optional
        Perturbations already screened (need not be candidates); their coverage is the starting point.
    required : sequence of str, optional
        Candidates picked first, in this order (at most ``budget``; none of them screened).
    source : str, default 'budget'
        Names the config key or file in ``InputError`` messages (e.g. ``'config: strategies.graphreach'``).

    Returns
    -------
    Selection
        ``strategy='graphreach'``; ``gains`` are the number of newly covered nodes, ``objective`` the
        number covered after each pick, screened coverage included (float64);
        ``params={'hops': K, 'lazy': lazy}``, plus ``screened``, ``required`` (counts) and
        ``start_objective`` (nodes covered by the screened perturbations) when a start is given.

    Raises
    ------
    InputError
        Budget out of range, repeated candidates, genes that are not graph nodes, or a bad start
        (:func:`perturb_select.selection.base.starting_set`).
    """
    names = sorted_candidates(candidates, budget, source)
    screened, required_rows = starting_set(names, screened, required, budget, source)
    fields = perturbation_fields(graph, names, hops, source)  # (m, n) bool csr, row i = R_K(names[i])
    params = {"hops": int(hops), "lazy": bool(lazy)}
    if not screened and not required_rows.size:
        order, gains = greedy_max_coverage(fields, budget, lazy=lazy)
        gains = gains.astype(np.float64)
        return Selection("graphreach", [names[i] for i in order], gains, np.cumsum(gains), params)

    covered = covered_by(perturbation_fields(graph, screened, hops, source), graph.n_nodes)
    start = int(covered.sum())
    order, gains = [], []
    for row in required_rows:
        reached = fields.indices[fields.indptr[row] : fields.indptr[row + 1]]
        gains.append(int(np.count_nonzero(~covered[reached])))
        covered[reached] = True
        order.append(int(row))
    rest = np.setdiff1d(np.arange(len(names)), required_rows)  # sorted: ties still go by symbol
    residual = fields[rest].multiply(~covered[None, :]).tocsr()  # the same fields minus covered nodes
    residual.eliminate_zeros()
    rest_order, rest_gains = greedy_max_coverage(residual, budget - len(order), lazy=lazy)
    order += rest[rest_order].tolist()
    gains = np.concatenate([np.asarray(gains, dtype=np.float64), rest_gains.astype(np.float64)])
    params.update(screened=len(screened), required=int(required_rows.size), start_objective=float(start))
    return Selection("graphreach", [names[i] for i in order], gains, start + np.cumsum(gains), params)


def greedy_max_coverage(fields: sp.csr_matrix, budget: int, *, lazy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Greedy maximum coverage: ``budget`` rows of ``fields`` that together cover the most columns.

    Step ``t`` picks the row with the most columns not covered by the rows picked before it; ties go to
    the lowest row index. Both modes return exactly this sequence.

    Parameters
    ----------
    fields : scipy.sparse.csr_matrix, shape (m, n), bool
        Incidence matrix: row ``i`` lists the columns (graph nodes) that item ``i`` covers.
    budget : int
        Number of rows to pick, ``0 <= budget <= m``.
    lazy : bool, default True
        ``True``: lazy greedy in the spirit of CELF (Leskovec et al. 2007), compiled with numba: a binary
        heap keyed ``(-gain, row)`` whose stale keys are refreshed only when popped, with every row's
        gain kept exact by decrementing it when one of its columns gets covered (through the
        transposed incidence). Costs ``O(nnz)`` in all plus ``O(log m)`` per heap operation.
        ``False``: plain greedy, one sparse matrix-vector product ``fields @ uncovered`` per step
        (``O(budget * nnz)``), the reference implementation.

    Returns
    -------
    order : numpy.ndarray, int64, shape (budget,)
        Picked row indices in pick order.
    gains : numpy.ndarray, int64, shape (budget,)
        Newly covered columns at each pick (non-increasing).

    Raises
    ------
    ValueError
        ``budget`` outside ``[0, m]``.
    """
    fields = sp.csr_matrix(fields)
    m, n = fields.shape
    if not 0 <= budget <= m:
        raise ValueError(f"budget must be in [0, {m}], got {budget}")
    if not fields.has_canonical_format:
        fields = fields.copy()
        fields.sum_duplicates()  # a duplicated column index would be counted twice
    if m == 0 or budget == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    indptr, indices = fields.indptr, fields.indices
    if lazy:
        return _lazy_greedy(indptr, indices, n, int(budget))
    return _plain_greedy(fields, int(budget))


def _plain_greedy(fields: sp.csr_matrix, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Every step: gains of all rows as ``fields @ uncovered``, first maximum wins."""
    m, n = fields.shape
    uncovered = np.ones(n, dtype=np.int64)
    available = np.ones(m, dtype=bool)
    counts = fields.astype(np.int64)
    order = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget, dtype=np.int64)
    for step in range(budget):
        gain = counts @ uncovered
        gain[~available] = -1
        best = int(np.argmax(gain))  # argmax returns the first maximum: lowest row index
        order[step], gains[step] = best, gain[best]
        available[best] = False
        uncovered[fields.indices[fields.indptr[best] : fields.indptr[best + 1]]] = 0
    return order, gains


@numba.njit(cache=True, nogil=True)
def _lazy_greedy(indptr, indices, n_columns, budget):  # pragma: no cover - compiled; tested via graphreach
    """Lazy greedy with exact gains kept up to date through the transposed incidence.

    Covering column ``c`` decrements the gain of every row that contains ``c`` (``O(nnz)`` over the whole
    run, against CELF's re-scan of a row's every column at each re-evaluation: 2.95 M against 13.7 M
    entries at K = 2 on the human GO graph). The heap holds one int64 key per row, ``-gain * m + row``
    (gain descending, then row ascending); a popped key whose gain is out of date is pushed back with
    the current gain, so, gains only ever decreasing, the first up-to-date key popped is the maximum.
    """
    m = indptr.size - 1
    nnz = indices.size
    stride = np.int64(m)
    # rows_of[column_ptr[c]:column_ptr[c + 1]]: the rows containing column c, ascending
    column_ptr = np.zeros(n_columns + 1, dtype=np.int64)
    for k in range(nnz):
        column_ptr[indices[k] + 1] += 1
    for c in range(n_columns):
        column_ptr[c + 1] += column_ptr[c]
    fill = column_ptr[:-1].copy()
    rows_of = np.empty(nnz, dtype=np.int32)
    gain = np.empty(m, dtype=np.int64)
    for row in range(m):
        gain[row] = indptr[row + 1] - indptr[row]
        for k in range(indptr[row], indptr[row + 1]):
            rows_of[fill[indices[k]]] = row
            fill[indices[k]] += 1
    heap = [np.int64(0)] * 0
    for row in range(m):
        heap.append(-gain[row] * stride + row)
    heapq.heapify(heap)
    covered = np.zeros(n_columns, dtype=np.bool_)
    order = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget, dtype=np.int64)
    step = 0
    while step < budget:
        key = heapq.heappop(heap)
        row = key % stride  # Python-style modulo: non-negative for stride > 0
        if -(key - row) // stride != gain[row]:
            heapq.heappush(heap, -gain[row] * stride + row)
            continue
        order[step] = row
        gains[step] = gain[row]
        for k in range(indptr[row], indptr[row + 1]):
            c = indices[k]
            if not covered[c]:
                covered[c] = True
                for j in range(column_ptr[c], column_ptr[c + 1]):
                    gain[rows_of[j]] -= 1
        step += 1
    return order, gains
