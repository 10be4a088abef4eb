"""MaxSpec: greedy selection on the spectral norm of GEARS's propagation operator over the reached nodes.

Panagopoulos et al. 2025 name MaxSpec for maximising a spectral-norm criterion of the propagation
operator restricted to the nodes the selected perturbations reach, motivated by a generalisation bound
in that norm. Their eq. 5 is not recoverable from the text, so the criterion below is our reading and
the direction is a parameter (see ``maxspec``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..config.training import DEFAULT_HOPS
from ..io import InputError
from ..knowledge.graph import KnowledgeGraph, covered_by, perturbation_fields, sgc_operator
from ..strategies import MAXSPEC_DIRECTIONS, TIE_BREAKS, selector_option_problem
from .base import Selection, sorted_candidates, starting_set, tie_priority

DIRECTIONS = MAXSPEC_DIRECTIONS

# Restricted operators up to this many rows get an exact dense SVD; larger ones Lanczos on M^T M
# (``_lanczos_top``). Measured on GO-graph blocks (2 cores, busy): a sparse Lanczos solve (ARPACK)
# took 0.7 ms at 76 rows, 0.9 ms at 285, 2 ms at 926, 15 ms at 2,389; dense SVD 1 ms at 76 rows and
# 0.3 s at 285.
DENSE_MAX_ROWS = 32

# Criterion values closer than TIE_RTOL * max(|value|, 1) count as equal: the tie rule decides.
TIE_RTOL = 1e-9

# Default number of candidates whose criterion is computed exactly at each step (see ``maxspec``), and
# how many candidates (a multiple of it, at least PREFILTER_MIN) get the Ritz estimate that ranks them.
SHORTLIST = 8
PREFILTER_FACTOR = 8
PREFILTER_MIN = 64
# Dense receptive-field blocks up to this size are kept between steps (at most m * 128^2 * 8 B).
MAX_CACHED_FIELD = 128


def maxspec(
    graph: KnowledgeGraph,
    candidates: Sequence[str],
    budget: int,
    *,
    hops: int = DEFAULT_HOPS,
    direction: str = "maximize",
    shortlist: int | None = SHORTLIST,
    operator: str = "whole_graph",
    tie_break: str = TIE_BREAKS[0],
    seed: int = 0,
    screened: Sequence[str] = (),
    required: Sequence[str] = (),
    source: str = "budget",
) -> Selection:
    """Pick ``budget`` perturbations greedily on the spectral norm of the restricted SGC operator.

    With ``P = D^-1/2 (A^T + I) D^-1/2`` (``graph.sgc_operator``: GEARS's SGConv normalisation, degrees
    of the WHOLE graph) and ``R(S)`` the union of the receptive fields ``R_K(v)``, ``v in S``, the
    criterion is ``c(S) = ||P[R(S), R(S)]||_2`` (largest singular value), with ``c(empty) = 0``
    (``operator='whole_graph'``). ``operator='induced'`` reads the paper's words, "the subgraph induced
    by" the reached nodes: ``c(S) = ||D_R^-1/2 B[R, R] D_R^-1/2||_2`` with ``B = A^T + I`` and ``D_R``
    the weighted in-degrees *within* ``R(S)``. That operator is similar to the row-stochastic
    ``D_R^-1 B[R, R]``, so its spectral radius is 1 and its norm is >= 1, with equality when ``B[R, R]``
    is symmetric: on an undirected graph the induced criterion is 1 for every ``S`` (no information);
    on GEARS's directed k-nearest-neighbour graph it measures how far the reached subgraph is from
    balanced (docs/maxspec.md).
    Each step adds the candidate ``v`` that maximises (or minimises) ``c(S + {v})``; ties (values within
    a relative ``TIE_RTOL``, far above the solver's rounding error and far below real differences) go to
    the candidate that reaches the most new nodes (GraphReach's gain), then by ``tie_break``
    (``'symbol'``: first in the candidate list sorted by symbol; ``'seeded'``: first in a random order
    drawn from ``seed``; ``'lookahead'``: most new nodes in the (K+1)-hop fields, then symbol).

    Why ``'maximize'`` is the default: the method is named for maximising the spectral norm, and the
    norm of a principal submatrix never decreases when nodes are added, so maximising it favours the
    receptive fields that carry the strongest propagation through ``P`` (dense, highly weighted
    neighbourhoods). The paper's eq. 5 is not recoverable from its text, and its bound argument could
    also be read as asking for a small norm, so ``direction='minimize'`` (smallest increase first) is
    offered for comparison.

    Speed (``shortlist``): computing ``c(S + {v})`` exactly for every candidate at every step costs
    ``budget * m`` sparse singular-value problems (about 3 h for the 1,085 Replogle K562 candidates and
    budget 500 on 2 cores). Instead, each step ranks the candidates by two lower bounds of
    ``c(S + {v})`` built from the current top singular triplet ``(s, x, y)`` of ``P[R(S), R(S)]``
    (``x``, ``y`` padded with zeros), with ``N_v`` the nodes ``v`` adds:

    1. one power step, for all candidates at once:
       ``c(S + {v})^2 >= s^2 + max(||(P^T x)[N_v]||^2, ||(P y)[N_v]||^2)``, and ``c`` of ``v`` at any
       earlier step (``c`` never decreases);
    2. for the best ``max(PREFILTER_MIN, PREFILTER_FACTOR * shortlist)`` of them, the Rayleigh-Ritz
       value on the subspaces ``span{x} + e(N_v)`` and ``span{y} + e(N_v)``: the largest singular value
       of ``[[s, (P^T x)[N_v]^T], [(P y)[N_v], P[N_v, N_v]]]`` (a compression of the restricted
       operator, hence a lower bound that also sees the new nodes' own block);

    then computes ``c`` exactly (warm-started from the Ritz vector) for the best ``shortlist`` of
    them and picks among those by the rule above. ``shortlist=None``, or a pool no larger than
    ``shortlist``, evaluates every candidate exactly: the plain greedy. The first step is always
    exhaustive. On the Replogle K562 list (K = 1) the shortlisted greedy picks the same genes as the
    plain greedy for the first 40 picks (docs/benchmarks.md). The induced criterion is not monotone
    and has no such bounds: each step (after the first, exhaustive one) evaluates exactly the
    ``shortlist`` candidates that reach the most new nodes (a heuristic; docs/maxspec.md compares it with
    the plain greedy).

    Starting from earlier screens: ``screened`` perturbations form the starting set ``S_0`` (their
    nodes are reached and ``c(S_0)`` is the starting value; they are never picked), ``required``
    ones are added first, in their order, and the greedy fills the rest of the budget. A
    combination ``'A+B'`` is one experiment whose receptive field is the union of its genes' fields,
    so ``c`` is defined on it exactly as on a single gene.

    Parameters
    ----------
    graph : KnowledgeGraph
    candidates : sequence of str, length m
        Perturbations, single genes or combinations ``'A+B'``, each gene a node of ``graph``; order is
        irrelevant.
    budget : int
        Number of picks, ``1 <= budget <= m``.
    hops : int, default ``config.DEFAULT_HOPS`` (1, GEARS's number of GO-graph SGC layers)
        K, the number of SGC layers (receptive-field radius).
    direction : {'maximize', 'minimize'}, default 'maximize'
    shortlist : int or None, default ``SHORTLIST`` (8)
        Candidates evaluated exactly per step; ``None`` for all of them.
    operator : {'whole_graph', 'induced'}, default 'whole_graph'
        ``strategies.MAXSPEC_OPERATORS`` (above).
    tie_break : {'lookahead', 'symbol', 'seeded'}, default 'lookahead' (``strategies.TIE_BREAKS[0]``)
        How candidates equal on the criterion and on GraphReach's gain are ordered
        (``selection.base.tie_priority``).
    seed : int, default 0
        The experiment seed, for ``tie_break='seeded'``.
    screened : sequence of str, optional
        Perturbations already screened (need not be candidates): the starting set.
    required : sequence of str, optional
        Candidates picked first, in this order (at most ``budget``; none of them screened).
    source : str, default 'budget'
        Names the config key or file in ``InputError`` messages.

    Returns
    -------
    Selection
        ``strategy='maxspec'``; ``objective[i] = c(first i + 1 picks)``, ``gains[i] = objective[i] -
        objective[i - 1]`` (>= 0 up to rounding; ``objective[-1]`` before the first pick is 0, or
        ``c(S_0)`` with a screened start); ``tied[i]``: another candidate evaluated at pick ``i`` had the
        same criterion value (within ``TIE_RTOL``), or every candidate left reached nothing new, so the
        fall-back decided; ``params={'hops': K, 'direction': direction, 'shortlist': shortlist,
        'operator': operator, 'tie_break': tie_break, 'ties': number of tied picks}`` (plus ``seed``
        when seeded), plus ``screened``, ``required`` (counts) and ``start_objective`` (``c(S_0)``)
        when a start is given.

    Raises
    ------
    InputError
        Budget out of range, repeated candidates, genes that are not graph nodes, or a bad start
        (:func:`perturb_select.selection.base.starting_set`), an unknown ``operator`` or ``tie_break``.
    ValueError
        Unknown ``direction`` or ``shortlist < 1``.

    Notes
    -----
    A candidate whose receptive field is already covered leaves ``c`` unchanged and is not evaluated.
    The criterion behaves like a maximum over blocks of reached nodes rather than a sum: ``c(S)`` is at
    least the norm of every principal block, so a node whose in-edges are weak (``P[v, v]`` near 1)
    dominates it. Its top singular vector is localised on the densest block of reached nodes, which is
    why the two lower bounds above rank candidates well.
    """
    for option, value in (("direction", direction), ("operator", operator)):
        problem = selector_option_problem(option, value)
        if problem:
            raise InputError(source, option, problem)
    if shortlist is not None and (isinstance(shortlist, bool) or int(shortlist) != shortlist or shortlist < 1):
        raise ValueError(f"shortlist must be a positive integer or None, got {shortlist!r}")
    names = sorted_candidates(candidates, budget, source)
    priority = tie_priority(len(names), tie_break, seed, source)
    screened, required_rows = starting_set(names, screened, required, budget, source)
    state = _GreedyState.start(
        graph,
        names,
        screened,
        hops,
        source,
        sign=1.0 if direction == "maximize" else -1.0,
        shortlist=shortlist,
        operator=operator,
        priority=priority,
        lookahead=tie_break == "lookahead",
    )
    start_value = state.current
    for row in required_rows:
        state.take_required(int(row))
    for _ in range(len(state.order), budget):
        state.step()
    objective = np.asarray(state.objective, dtype=np.float64)
    tied = np.asarray(state.tied, dtype=bool)
    params = {
        "hops": int(hops),
        "direction": direction,
        "shortlist": shortlist,
        "operator": operator,
        "tie_break": tie_break,
    }
    if tie_break == "seeded":
        params["seed"] = int(seed)
    params["ties"] = int(tied.sum())
    if screened or required_rows.size:
        params.update(screened=len(screened), required=int(required_rows.size), start_objective=start_value)
    return Selection(
        strategy="maxspec",
        genes=[names[i] for i in state.order],
        gains=np.diff(objective, prepend=start_value),
        objective=objective,
        params=params,
        tied=tied,
    )


class _GreedyState:
    """The greedy's state: the reached nodes, the current criterion with its top singular triplet, the
    picks so far, and per candidate the best value seen (a lower bound of later values)."""

    def __init__(
        self,
        fields,
        operator,
        reached,
        sign,
        shortlist,
        propagation=None,
        priority=None,
        ahead=None,
        ahead_reached=None,
    ):
        self.fields = fields  # (m, r) bool csr over the universe of reachable nodes
        self.counts = fields.astype(np.float64)
        self.operator = operator
        self.operator_t = operator.T.tocsr()
        # induced reading: B = A^T + I over the universe, renormalised on every reached set (None: whole graph)
        self.propagation = propagation
        self.sign, self.shortlist = sign, shortlist
        m = fields.shape[0]
        # tie order: rank[row] = position of the row in the tie rule's order (symbol: the row itself)
        self.rank = np.empty(m, dtype=np.int64)
        self.rank[np.arange(m) if priority is None else priority] = np.arange(m)
        self.ahead = ahead  # lookahead: (m, n) (K+1)-hop fields as float counts, and what the picks' reach
        self.ahead_reached = ahead_reached
        self.tied = []
        self.prefilter = None if shortlist is None else max(PREFILTER_MIN, PREFILTER_FACTOR * int(shortlist))
        m, r = fields.shape
        self.available = np.ones(m, dtype=bool)
        self.seen = np.zeros(m)
        self.reached = reached
        self.current, self.left, self.right = self._triplet(np.flatnonzero(reached), None)
        self.blocks = {}  # candidate -> dense P[R(v), R(v)], for the Ritz step
        self.order, self.objective = [], []

    @classmethod
    def start(
        cls,
        graph,
        names,
        screened,
        hops,
        source,
        sign,
        shortlist,
        operator="whole_graph",
        priority=None,
        lookahead=False,
    ):
        """Fields of the candidates over the nodes some field reaches, started from the screened set."""
        fields = perturbation_fields(graph, names + screened, hops, source)  # (m + s, n) bool csr
        # Only nodes of some field ever enter c(S): restrict P to them once (the kept indices are sorted,
        # so every restricted matrix is the same as when slicing the whole operator).
        universe = np.flatnonzero(np.diff(fields.tocsc().indptr))
        fields = fields[:, universe].tocsr()
        start_reached = covered_by(fields[len(names) :], universe.size)
        whole = sgc_operator(graph)[universe][:, universe].tocsr()
        propagation = None
        if operator == "induced":
            a_t = graph.adjacency.T.astype(np.float64).tocsr()
            propagation = (a_t + sp.identity(graph.n_nodes, format="csr"))[universe][:, universe].tocsr()
        ahead = ahead_reached = None
        if lookahead:
            wide = perturbation_fields(graph, names + screened, hops + 1, source)
            ahead = wide[: len(names)].astype(np.float64).tocsr()
            ahead_reached = covered_by(wide[len(names) :], graph.n_nodes)
        return cls(
            fields[: len(names)], whole, start_reached, sign, shortlist, propagation, priority, ahead, ahead_reached
        )

    def _restricted(self, members: np.ndarray) -> sp.csr_matrix:
        """The operator whose norm is the criterion on the reached set ``members`` (universe indices)."""
        if self.propagation is None:
            return self.operator[members][:, members]
        block = self.propagation[members][:, members]
        degree = np.asarray(block.sum(axis=1)).ravel()  # in-degree within R, self-loop included (>= 1)
        scale = sp.diags(1.0 / np.sqrt(degree))
        return (scale @ block @ scale).tocsr()

    def _triplet(self, members: np.ndarray, start):
        """``(c, x, y)`` on ``members`` with vectors padded to the universe; ``(0, 0, 0)`` when empty."""
        r = self.fields.shape[1]
        left, right = np.zeros(r), np.zeros(r)
        if members.size == 0:
            return 0.0, left, right
        value, left[members], right[members] = _top_singular_triplet(self._restricted(members), start)
        return value, left, right

    def _reach(self, row: int) -> None:
        """Mark ``row``'s fields (and its lookahead field) reached."""
        self.reached[_new_nodes(self.fields, row, self.reached)] = True
        if self.ahead is not None:
            self.ahead_reached[self.ahead.indices[self.ahead.indptr[row] : self.ahead.indptr[row + 1]]] = True

    def _tie_order(self, pool: np.ndarray) -> np.ndarray:
        """``pool`` sorted by the tie rule: lookahead's new (K+1)-hop nodes first (descending), then rank."""
        if self.ahead is None:
            return pool[np.argsort(self.rank[pool], kind="stable")]
        ahead_new = self.ahead[pool] @ (~self.ahead_reached).astype(np.float64)
        return pool[np.lexsort((self.rank[pool], -np.rint(ahead_new)))]

    def take_required(self, row: int) -> None:
        self._reach(row)
        self.current, self.left, self.right = self._triplet(np.flatnonzero(self.reached), None)
        self.order.append(row)
        self.objective.append(self.current)
        self.tied.append(False)
        self.available[row] = False

    def step(self) -> None:
        """One greedy pick: shortlist by the two lower bounds, then the exact criterion on the shortlist."""
        unreached = (~self.reached).astype(np.float64)
        new = np.rint(self.counts @ unreached).astype(np.int64)
        pool = np.flatnonzero(self.available & (new > 0))
        if pool.size == 0:  # everything reachable is reached: c stays, the tie rule picks
            left = np.flatnonzero(self.available)
            best = int(self._tie_order(left)[0])
            self.order.append(best)
            self.objective.append(self.current)
            self.tied.append(left.size > 1)
            self.available[best] = False
            self._reach(best)
            return
        starts = {}
        if self.prefilter is not None and self.reached.any() and pool.size > self.shortlist:
            if self.propagation is None:
                pool, starts = self._shortlisted(pool, new, unreached)
            else:  # induced: no bound; the candidates that reach the most new nodes, in tie order
                ordered = self._tie_order(pool)
                pool = ordered[np.argsort(-new[ordered], kind="stable")][: self.shortlist]
        best, best_value, members, (_, left_sub, right_sub), tied = self._best_exact(pool, new, starts)
        self.order.append(best)
        self.objective.append(best_value)
        self.tied.append(tied)
        self.available[best] = False
        self._reach(best)
        self.current = best_value
        r = self.fields.shape[1]
        self.left, self.right = np.zeros(r), np.zeros(r)
        self.left[members], self.right[members] = left_sub, right_sub

    def _shortlisted(self, pool, new, unreached):
        """The ``shortlist`` best of ``pool`` by the power-step bound, then the Ritz value (with the Ritz
        vectors that warm-start the exact solves)."""
        fields, sign = self.fields, self.sign
        # 1. power-step bound for the whole pool, in two sparse products
        projected_left = self.operator_t @ self.left  # (P^T x)[j]: coupling of node j to the left vector
        projected_right = self.operator @ self.right
        along_left = projected_left**2 * unreached
        along_right = projected_right**2 * unreached
        pool_counts = self.counts[pool]
        bound = np.sqrt(self.current**2 + np.maximum(pool_counts @ along_left, pool_counts @ along_right))
        bound = np.maximum(bound, self.seen[pool])
        pool = pool[np.lexsort((self.rank[pool], -new[pool], -sign * bound))][: self.prefilter]
        # 2. Ritz value on the compressed operator
        ritz = np.empty(pool.size)
        starts = {}
        for i, position in enumerate(pool):
            field_nodes = fields.indices[fields.indptr[position] : fields.indptr[position + 1]]
            fresh = ~self.reached[field_nodes]
            added = field_nodes[fresh]
            block = self.blocks.get(position)
            if block is None:  # P[R(v), R(v)] dense; kept for small fields (K = 1: <= 21 nodes)
                block = self.operator[field_nodes][:, field_nodes].toarray()
                if field_nodes.size <= MAX_CACHED_FIELD:
                    self.blocks[position] = block
            ritz[i], starts[position] = _ritz(
                self.current,
                projected_left[added],
                projected_right[added],
                block[np.ix_(fresh, fresh)],
                self.right,
                added,
            )
        return pool[np.lexsort((self.rank[pool], -new[pool], -sign * ritz))][: self.shortlist], starts

    def _best_exact(self, pool, new, starts):
        """The candidate of ``pool`` with the best exact criterion (ties: reach gain, then the tie rule), and
        whether another candidate had the same criterion value."""
        best, best_value, best_new, best_triplet = -1, 0.0, -1, None
        values = []
        for position in (int(p) for p in self._tie_order(np.asarray(pool, dtype=np.int64))):
            union = self.reached.copy()
            union[_new_nodes(self.fields, position, self.reached)] = True
            members = np.flatnonzero(union)
            start = starts.get(position)
            triplet = _top_singular_triplet(self._restricted(members), None if start is None else start[members])
            value = triplet[0]
            values.append(value)
            self.seen[position] = max(self.seen[position], value)
            difference = self.sign * (value - best_value)
            tolerance = TIE_RTOL * max(abs(best_value), 1.0)
            new_nodes = int(new[position])
            if best < 0 or difference > tolerance or (abs(difference) <= tolerance and new_nodes > best_new):
                best, best_value, best_new, best_triplet = position, value, new_nodes, (members, triplet)
        members, triplet = best_triplet
        tolerance = TIE_RTOL * max(abs(best_value), 1.0)
        tied = int(np.sum(np.abs(np.asarray(values) - best_value) <= tolerance)) > 1
        return best, best_value, members, triplet, tied


def _new_nodes(fields: sp.csr_matrix, position: int, reached: np.ndarray) -> np.ndarray:
    """Universe indices in candidate ``position``'s receptive field that are not reached yet (sorted)."""
    field_nodes = fields.indices[fields.indptr[position] : fields.indptr[position + 1]]
    return field_nodes[~reached[field_nodes]]


def _ritz(current, left_coupling, right_coupling, block, right, added):
    """Largest singular value of ``[[s, left_coupling^T], [right_coupling, block]]`` and the padded
    right Ritz vector (``right`` scaled plus the new-node part), to warm-start the exact solve."""
    size = added.size
    compressed = np.empty((size + 1, size + 1))
    compressed[0, 0] = current
    compressed[0, 1:] = left_coupling
    compressed[1:, 0] = right_coupling
    compressed[1:, 1:] = block
    _, values, vt = np.linalg.svd(compressed)
    start = right * vt[0, 0]
    start[added] = vt[0, 1:]
    return float(values[0]), start


def _top_singular_triplet(matrix: sp.csr_matrix, start: np.ndarray | None):
    """``(s, x, y)``: largest singular value of square ``matrix`` with unit left/right vectors.

    Dense LAPACK SVD up to ``DENSE_MAX_ROWS`` rows, else Lanczos on ``M^T M`` (``_lanczos_top``) started
    from ``start`` (a right-vector guess) mixed with the constant vector, or from the constant vector
    alone. Vectors are signed so that the right one sums to >= 0 (deterministic output).
    """
    rows = matrix.shape[0]
    if rows <= DENSE_MAX_ROWS:
        u, values, vt = np.linalg.svd(matrix.toarray())
        value, x, y = float(values[0]), u[:, 0], vt[0]
    else:
        matrix_t = matrix.T.tocsr()
        # The constant part keeps the start from being (nearly) orthogonal to the top vector when the
        # guess sits on another block with an almost equal norm (P >= 0: the top vectors are >= 0).
        v0 = np.full(rows, 1.0 / np.sqrt(rows))
        if start is not None and np.any(start):
            v0 = start / np.linalg.norm(start) + 0.1 * v0
        eigenvalue, y = _lanczos_top(lambda v: matrix_t @ (matrix @ v), v0)
        value = float(np.sqrt(max(eigenvalue, 0.0)))
        x = matrix @ y / value if value > 0 else np.zeros(rows)
    if y.sum() < 0:
        x, y = -x, -y
    return value, x, y


def _lanczos_top(matvec, v0: np.ndarray, *, rtol: float = 1e-12, max_steps: int = 300):
    """Largest eigenvalue and unit eigenvector of a symmetric positive semi-definite operator.

    Lanczos with full reorthogonalisation (Golub & Van Loan, "Matrix Computations", section 10.1),
    stopped when the residual ``||H y - theta y||`` (``beta_j * |s_j|``) is below ``rtol * theta``: the
    eigenvalue error is then at most ``residual^2 / gap``. Replaces ARPACK here because ARPACK's fixed
    setup (20 Lanczos vectors, restarts, Ritz-vector extraction) dominated these small warm-started
    problems: 4 ms per call in ``dseupd`` alone.
    """
    n = v0.size
    steps = min(max_steps, n)
    basis = np.empty((steps, n))
    alphas, betas = [], []
    basis[0] = v0 / np.linalg.norm(v0)
    theta, ritz, scale = 0.0, np.ones(1), 0.0
    for j in range(steps):
        w = matvec(basis[j])
        alpha = float(basis[j] @ w)
        # full reorthogonalisation, twice ("twice is enough", Parlett)
        for _ in range(2):
            w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(np.linalg.norm(w))
        alphas.append(alpha)
        scale = max(scale, abs(alpha), beta)
        # beta ~ 0: the Krylov space is invariant and its Ritz values are exact eigenvalues
        last = beta <= 1e-12 * scale or j + 1 == steps
        if j % 3 == 2 or last:  # the tridiagonal solve costs more than a step: check every third
            values, vectors = sla.eigh_tridiagonal(np.asarray(alphas), np.asarray(betas))
            theta, ritz = float(values[-1]), vectors[:, -1]
            if beta * abs(ritz[-1]) <= rtol * max(theta, 1e-300) or last:
                break
        betas.append(beta)
        basis[j + 1] = w / beta
    vector = basis[: len(alphas)].T @ ritz
    return theta, vector / np.linalg.norm(vector)
