"""Facility location on the candidates' receptive-field overlap: picks that represent the candidates.

GraphReach covers the whole graph; the perturbations a model is later asked about are drawn from the
candidates, which cluster in a few regions of the GO graph. Facility location (Mirchandani & Francis
1990, "Discrete Location Theory"; Krause & Golovin 2014, "Submodular function maximization") instead
asks that every candidate have a pick whose receptive field overlaps its own: with ``F`` the candidates'
unit-length rows of GEARS's propagation operator ``P^K`` (the features of the ``sgc_ridge`` baseline,
``evaluation.baselines.sgc_kernel``), the similarity of candidates ``c`` and ``s`` is the cosine
``(F F^T)[c, s]`` of their propagated embeddings, and the selection maximises

    f(S) = sum over candidates c of max_{s in S} sim(c, s)      (f(empty) = 0).

One-shot: it reads the graph and the candidate list only, no model and no measurement.
"""

from __future__ import annotations

import heapq
from typing import Sequence

import numba
import numpy as np
import scipy.sparse as sp

from ..config.training import DEFAULT_HOPS
from ..io import InputError
from ..knowledge.graph import KnowledgeGraph, perturbation_propagation
from .base import Selection, sorted_candidates, starting_set

#: Similarities are stored as integers, ``round(sim * SCALE)`` (absolute error <= 2^-31 per entry): gains
#: are then exact integer sums, so the lazy and the plain greedy agree bit for bit and ties are exact
#: (broken by symbol, as GraphReach's).
SCALE = 2**30
#: Most similarity entries (pairs of candidates whose receptive fields share a node, facilities of the
#: screened start included) kept in memory: 12 bytes each (int64 value, int32 index), 600 MB at this
#: limit. The K562 list (1,085 candidates) holds 97,705 at K = 1 and 775,291 at K = 2 (66 % of all pairs);
#: a dense m x m matrix would be as large as the limit at m = 7,071.
MAX_SIMILARITY_ENTRIES = 50_000_000
# Rows of F F^T computed per sparse product (bounds the transient memory of one product).
_CHUNK_ENTRIES = 2**22


def facility(
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    *,
    hops: int = DEFAULT_HOPS,
    lazy: bool = True,
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
    source: str = "budget",
) -> Selection:
    """Pick ``budget`` perturbations by greedy facility location on receptive-field overlap.

    With ``F`` the unit rows of ``P^K`` (:func:`perturb_select.knowledge.graph.perturbation_propagation`;
    ``P`` is GEARS's SGC operator, :func:`perturb_select.knowledge.graph.sgc_operator`) and
    ``sim(c, s) = max(0, F[c] . F[s])`` (cosine overlap of the receptive fields, 1 for ``c = s``, 0 for disjoint
    fields), the objective is
    ``f(S) = sum_{c in candidates} max_{s in S_0 + S} sim(c, s)``, with ``S_0`` the screened
    perturbations (``f`` of nothing is 0). Facility location with non-negative similarities is
    monotone submodular (Nemhauser, Wolsey & Fisher 1978; Krause & Golovin 2014), so the greedy order
    reaches at least ``1 - 1/e`` of the best value of its size at every prefix.

    Each step adds the candidate with the highest marginal gain ``sum_c max(0, sim(c, v) - best(c))``;
    ties go to the candidate first in the candidate list sorted by symbol (GraphReach's rule), so the
    input order never matters. Similarities are rounded to multiples of ``1 / SCALE`` first, which makes
    gains exact integers and ties exact. A gain of 0 (a candidate whose similarities are all matched
    already, e.g. one with the same propagated row as a pick) is a tie like any other.

    ``screened``: perturbations already measured are open facilities from the start (``best(c)`` is
    their largest similarity to ``c``); they are not candidates, so they are never picked and do not
    count in the sum. ``required``: candidates picked first, in their order; the greedy fills the rest.

    Memory: the similarities are kept sparse (only pairs whose receptive fields share a node), in
    chunks of rows; more than ``MAX_SIMILARITY_ENTRIES`` entries stops with an error before they are
    all built. On the K562 list (1,085 candidates, K = 1) 97,705 entries (8 % of the pairs; 1.2 MB).

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
        Perturbations, single genes or combinations ``'A+B'`` (feature: the sum of the genes' rows of
        ``P^K``, then scaled to unit length), each gene a node of ``graph``; order is irrelevant.
    budget : int
        Number of picks, ``1 <= budget <= m``.
    hops : int, default ``config.DEFAULT_HOPS`` (1, GEARS's number of GO-graph SGC layers)
        K >= 0, the number of SGC layers (GEARS's ``num_go_gnn_layers``). K = 0: every candidate is
        similar only to itself and the picks follow symbol order.
    lazy : bool, default True
        ``True``: CELF lazy greedy (Leskovec et al. 2007, "Cost-effective outbreak detection in
        networks"), compiled with numba: a heap of ``(-gain, position)`` whose stale gains are upper
        bounds of the current ones (submodularity; exact in integers), re-evaluated only when popped.
        ``False``: plain greedy, every gain re-evaluated at every step (``O(budget * nnz)``). Both give
        the same picks and gains.
    screened : sequence of str, optional
        Perturbations already screened (need not be candidates): open facilities from the start.
    required : sequence of str, optional
        Candidates picked first, in this order (at most ``budget``; none of them screened).
    source : str, default 'budget'
        Names the config key or file in ``InputError`` messages.

    Returns
    -------
    Selection
        ``strategy='facility'``; ``objective[i] = f(first i + 1 picks)``, ``gains[i]`` its increase
        (float64, >= 0, non-increasing after the required picks); ``params={'hops': K, 'lazy': lazy}``,
        plus ``screened``, ``required`` (counts) and ``start_objective`` (``f`` of the screened set alone)
        when a start is given.

    Raises
    ------
    InputError
        Budget out of range, repeated candidates, genes that are not graph nodes (field
        ``candidates``), a bad start (:func:`perturb_select.selection.base.starting_set`), or more than
        ``MAX_SIMILARITY_ENTRIES`` similarity entries (field ``candidates``).
    ValueError
        ``hops`` not an integer >= 0.
    """
    names = sorted_candidates(candidates, budget, source)
    screened, required_rows = starting_set(names, screened, required, budget, source)
    features = perturbation_propagation(graph, names + screened, hops, source=source)
    similarity = quantised_similarity(features[: len(names)], features, source)  # (m, m + s) csr int64
    m = len(names)
    best = np.zeros(m, dtype=np.int64)
    if screened:
        opened = similarity[:, m:].tocsr()  # rows: candidates, columns: screened
        if opened.nnz:
            best = np.asarray(opened.max(axis=1).todense(), dtype=np.int64).ravel()
    # sim(c, s) = F[c] . F[s] is symmetric: row s of the candidates' block lists sim(., s)
    block = similarity[:, :m].tocsr()
    block.sort_indices()
    start = int(best.sum())
    available = np.ones(m, dtype=bool)
    order, gains = [], []
    for row in required_rows:
        gains.append(_take(block.indptr, block.indices, block.data, best, int(row)))
        available[row] = False
        order.append(int(row))
    steps = budget - len(order)
    if steps:
        greedy = _lazy_facility if lazy else _plain_facility
        rest_order, rest_gains = greedy(block.indptr, block.indices, block.data, best, available, steps)
        order += rest_order.tolist()
        gains += rest_gains.tolist()
    gains = np.asarray(gains, dtype=np.int64)
    params = {"hops": int(hops), "lazy": bool(lazy)}
    if screened or required_rows.size:
        params.update(screened=len(screened), required=int(required_rows.size), start_objective=start / SCALE)
    return Selection("facility", [names[i] for i in order], gains / SCALE, (start + np.cumsum(gains)) / SCALE, params)


def quantised_similarity(rows: sp.csr_matrix, columns: sp.csr_matrix, source: str = "budget") -> sp.csr_matrix:
    """``round(max(0, rows @ columns.T) * SCALE)`` as a sparse int64 matrix, built in chunks of rows.

    Parameters
    ----------
    rows : scipy.sparse.csr_matrix, shape (m, n)
    columns : scipy.sparse.csr_matrix, shape (k, n)
    source : str
        Names the option or config key in the ``InputError``.

    Returns
    -------
    scipy.sparse.csr_matrix of int64, shape (m, k)
        Zeros (disjoint supports, or values below ``0.5 / SCALE``) are not stored.

    Raises
    ------
    InputError
        Field ``candidates``: more than ``MAX_SIMILARITY_ENTRIES`` non-zero entries (raised as soon as
        the chunks built so far exceed it).
    """
    m, k = rows.shape[0], columns.shape[0]
    transposed = columns.T.tocsc()
    step = max(1, _CHUNK_ENTRIES // max(k, 1))
    blocks, stored = [], 0
    for first in range(0, m, step):
        block = (rows[first : first + step] @ transposed).tocsr()
        block.data = np.rint(np.maximum(block.data, 0.0) * SCALE)
        block = block.astype(np.int64)
        block.eliminate_zeros()
        stored += block.nnz
        if stored > MAX_SIMILARITY_ENTRIES:
            raise InputError(
                source,
                "candidates",
                f"facility: the receptive fields of {m} candidates overlap in more than {MAX_SIMILARITY_ENTRIES:,} "
                f"pairs (about {12 * stored / 1e9:.1f} GB of similarities kept in memory); use fewer candidates or "
                "a smaller hops, or graphreach",
            )
        blocks.append(block)
    if not blocks:
        return sp.csr_matrix((m, k), dtype=np.int64)
    return sp.vstack(blocks, format="csr", dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _gain(indptr, indices, values, best, row):  # pragma: no cover - compiled; tested via facility
    """``sum_c max(0, sim(c, row) - best[c])`` over row ``row`` of the symmetric similarity."""
    total = np.int64(0)
    for k in range(indptr[row], indptr[row + 1]):
        difference = values[k] - best[indices[k]]
        if difference > 0:
            total += difference
    return total


@numba.njit(cache=True, nogil=True)
def _take(indptr, indices, values, best, row):  # pragma: no cover - compiled; tested via facility
    """Open facility ``row``: its gain, with ``best`` updated in place."""
    total = np.int64(0)
    for k in range(indptr[row], indptr[row + 1]):
        c = indices[k]
        if values[k] > best[c]:
            total += values[k] - best[c]
            best[c] = values[k]
    return total


@numba.njit(cache=True, nogil=True)
def _lazy_facility(indptr, indices, values, best, available, budget):  # pragma: no cover - compiled
    """CELF: heap of ``(-gain, row)``; a popped gain computed at this step is the maximum (stale gains are
    upper bounds), ties to the lower row. ``best`` is updated in place."""
    m = indptr.size - 1
    fresh_at = np.zeros(m, dtype=np.int64)
    heap = [(np.int64(0), np.int64(0))] * 0
    for row in range(m):
        if available[row]:
            heap.append((-_gain(indptr, indices, values, best, row), np.int64(row)))
    heapq.heapify(heap)
    order = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget, dtype=np.int64)
    step = 0
    while step < budget:
        negative, row = heapq.heappop(heap)
        if fresh_at[row] != step:
            fresh_at[row] = step
            heapq.heappush(heap, (-_gain(indptr, indices, values, best, row), row))
            continue
        order[step] = row
        gains[step] = _take(indptr, indices, values, best, row)
        step += 1
    return order, gains


def _plain_facility(indptr, indices, values, best, available, budget):
    """Reference: every step, every available row's gain (numpy), the first maximum wins."""
    m = indptr.size - 1
    available = available.copy()
    owner = np.repeat(np.arange(m), np.diff(indptr))
    order = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget, dtype=np.int64)
    for step in range(budget):
        gain = np.zeros(m, dtype=np.int64)
        np.add.at(gain, owner, np.maximum(values - best[indices], 0))
        gain[~available] = -1
        row = int(np.argmax(gain))
        order[step] = row
        gains[step] = _take(indptr, indices, values, best, row)
        available[row] = False
    return order, gains
