"""Tests of the one-shot selectors (perturb_select.selection): GraphReach, MaxSpec, random, I/O."""

from __future__ import annotations

import gzip
import importlib
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perturb_select.io import InputError
from perturb_select.knowledge.graph import (
    KnowledgeGraph,
    in_neighbourhood,
    perturbation_fields,
    perturbation_propagation,
)
from perturb_select.selection.base import Selection, read_selection, write_selection
from perturb_select.selection.facility import facility, quantised_similarity
from perturb_select.selection.graphreach import candidate_weights, graphreach, greedy_max_coverage
from perturb_select.selection.maxspec import maxspec
from perturb_select.selection.random import random_selection
from perturb_select.selection.registry import SELECTORS as STRATEGIES
from perturb_select.selection.registry import select

# the package attribute `maxspec` is the function; the module holds DENSE_MAX_ROWS
maxspec_module = importlib.import_module("perturb_select.selection.maxspec")
facility_module = importlib.import_module("perturb_select.selection.facility")

from conftest import SHARED_DATA as DATA  # noqa: E402  (../shared/data beside the repository)


def edges_table(rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["source", "target", "importance"])


def coverage(graph: KnowledgeGraph, genes, hops: int) -> int:
    """f(S) = |union of R_K(v)|, by breadth-first search (independent of graphreach)."""
    return int(in_neighbourhood(graph, graph.index_of(list(genes)), hops).sum())


def dense_operator(graph: KnowledgeGraph) -> np.ndarray:
    """P = D^-1/2 (A^T + I) D^-1/2 built densely from the definition (d = row sums of A^T + I)."""
    adjacency = graph.adjacency.toarray().astype(np.float64)
    propagation = adjacency.T + np.eye(graph.n_nodes)
    scale = 1.0 / np.sqrt(propagation.sum(axis=1))
    return scale[:, None] * propagation * scale[None, :]


def dense_criterion(graph: KnowledgeGraph, dense_p: np.ndarray, genes, hops: int) -> float:
    """c(S) = ||P[R(S), R(S)]||_2 with a dense SVD."""
    if not genes:
        return 0.0
    reached = np.flatnonzero(in_neighbourhood(graph, graph.index_of(list(genes)), hops))
    return float(np.linalg.norm(dense_p[np.ix_(reached, reached)], 2))


# ----------------------------------------------------------------------------------------------
# GraphReach, hand-checked
#
#   a --> b --> c          d --> e <-- f          z (isolated, not a candidate)
#         ^                      ^
#         x                      g
#
# candidates b, c, e (sorted positions 0, 1, 2)
# K=1: R(b) = {a,b,x}    R(c) = {b,c}        R(e) = {d,e,f,g}
#      greedy: e (+4), then b (+3 > c's +2), then c (+1)          -> e, b, c ; 4, 7, 8
# K=2: R(b) = {a,b,x}    R(c) = {a,b,c,x}    R(e) = {d,e,f,g}
#      greedy: c and e tie at 4, c has the lower position; then e (+4), then b (+0)
#                                                                 -> c, e, b ; 4, 8, 8
HAND = edges_table(
    [("a", "b", 1.0), ("x", "b", 1.0), ("b", "c", 1.0), ("d", "e", 1.0), ("f", "e", 1.0), ("g", "e", 1.0)]
)


def hand_graph() -> KnowledgeGraph:
    return KnowledgeGraph.from_edges(HAND, genes=["z"])


@pytest.mark.parametrize("lazy", [True, False])
def test_graphreach_hand_checked_one_hop(lazy):
    sel = graphreach(hand_graph(), ["e", "c", "b"], 3, hops=1, lazy=lazy, tie_break="symbol")
    assert sel.strategy == "graphreach"
    assert sel.genes == ["e", "b", "c"]
    np.testing.assert_array_equal(sel.gains, [4.0, 3.0, 1.0])
    np.testing.assert_array_equal(sel.objective, [4.0, 7.0, 8.0])
    assert sel.gains.dtype == np.float64 and sel.objective.dtype == np.float64
    assert sel.params == {"hops": 1, "lazy": lazy, "weights": "uniform", "tie_break": "symbol", "ties": 0}


@pytest.mark.parametrize("lazy", [True, False])
def test_graphreach_hand_checked_two_hops_differs_and_breaks_ties_by_symbol(lazy):
    sel = graphreach(hand_graph(), ["e", "b", "c"], 3, hops=2, lazy=lazy)
    assert sel.genes == ["c", "e", "b"]
    np.testing.assert_array_equal(sel.gains, [4.0, 4.0, 0.0])  # picking continues at zero gain
    np.testing.assert_array_equal(sel.objective, [4.0, 8.0, 8.0])
    assert graphreach(hand_graph(), ["b", "c", "e"], 2, hops=1).genes == ["e", "b"]


@pytest.mark.parametrize("lazy", [True, False])
def test_greedy_max_coverage_by_hand(lazy):
    import scipy.sparse as sp

    # rows cover {0,1,2}, {2,3}, {3,4,5,6}, {0,6}: 2 first (+4), then 0 (+3), then 1 and 3 tie at 0
    # and the lower row wins
    rows = [[0, 1, 2], [2, 3], [3, 4, 5, 6], [0, 6]]
    dense = np.zeros((4, 7), dtype=bool)
    for i, cols in enumerate(rows):
        dense[i, cols] = True
    order, gains, tied = greedy_max_coverage(sp.csr_matrix(dense), 4, lazy=lazy)
    assert order.tolist() == [2, 0, 1, 3] and gains.tolist() == [4, 3, 0, 0]
    assert tied.tolist() == [False, False, True, False]  # 1 and 3 tie at 0; 3 is then alone
    assert order.dtype == np.int64 and gains.dtype == np.int64
    # a duplicated entry (non-canonical csr) is one column, not two
    doubled = sp.csr_matrix((np.ones(3, dtype=bool), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2))
    assert greedy_max_coverage(doubled, 2, lazy=lazy)[1].tolist() == [1, 1]
    assert greedy_max_coverage(sp.csr_matrix(dense), 0, lazy=lazy)[0].size == 0
    with pytest.raises(ValueError, match="budget"):
        greedy_max_coverage(sp.csr_matrix(dense), 5, lazy=lazy)


def test_graphreach_zero_hops_is_candidate_order():
    sel = graphreach(hand_graph(), ["e", "c", "b"], 3, hops=0, tie_break="symbol")
    assert sel.genes == ["b", "c", "e"]  # every field is the node itself: all gains 1, ties by symbol
    np.testing.assert_array_equal(sel.gains, [1.0, 1.0, 1.0])


def test_graphreach_input_order_does_not_matter():
    rng = np.random.default_rng(0)
    graph = random_graph(rng, 60, 0.05)
    candidates = list(graph.genes[:40])
    reference = graphreach(graph, candidates, 20, hops=2)
    for _ in range(5):
        shuffled = list(rng.permutation(candidates))
        assert graphreach(graph, shuffled, 20, hops=2).genes == reference.genes


# ----------------------------------------------------------------------------------------------
# GraphReach, properties on random graphs


def random_graph(rng: np.random.Generator, n: int, p: float) -> KnowledgeGraph:
    mask = rng.random((n, n)) < p
    np.fill_diagonal(mask, False)
    s, t = np.nonzero(mask)
    names = np.array([f"g{i:03d}" for i in range(n)], dtype=object)
    table = pd.DataFrame({"source": names[s], "target": names[t], "importance": 1.0 - rng.random(len(s))})
    return KnowledgeGraph.from_edges(table, genes=names)


@st.composite
def small_graphs(draw, max_nodes: int = 10):
    """(graph, candidates, hops): up to max_nodes nodes, any candidate subset, K in 0..3."""
    n = draw(st.integers(1, max_nodes))
    names = [f"g{i}" for i in range(n)]
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n, unique=True))
    weights = draw(st.lists(st.floats(0.05, 1.0), min_size=len(pairs), max_size=len(pairs)))
    rows = [(names[s], names[t], w) for (s, t), w in zip(pairs, weights) if s != t]
    graph = KnowledgeGraph.from_edges(edges_table(rows), genes=names)
    candidates = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    hops = draw(st.integers(0, 3))
    return graph, candidates, hops


@settings(max_examples=150, deadline=None)
@given(small_graphs(), st.data())
def test_coverage_is_monotone_and_submodular(case, data):
    graph, candidates, hops = case
    t_set = data.draw(st.lists(st.sampled_from(candidates), unique=True))
    s_set = data.draw(st.lists(st.sampled_from(t_set), unique=True)) if t_set else []
    v = data.draw(st.sampled_from(candidates))
    f = lambda genes: coverage(graph, genes, hops)  # noqa: E731
    assert f(s_set) <= f(t_set)  # monotone
    gain_s = f(s_set + [v]) - f(s_set)
    gain_t = f(t_set + [v]) - f(t_set)
    assert gain_s >= gain_t >= 0  # diminishing returns


@settings(max_examples=150, deadline=None)
@given(small_graphs(), st.data())
def test_graphreach_lazy_equals_plain_and_tracks_coverage(case, data):
    graph, candidates, hops = case
    budget = data.draw(st.integers(1, len(candidates)))
    lazy = graphreach(graph, candidates, budget, hops=hops, lazy=True)
    plain = graphreach(graph, candidates, budget, hops=hops, lazy=False)
    assert lazy.genes == plain.genes
    np.testing.assert_array_equal(lazy.gains, plain.gains)
    for i in range(budget):
        assert lazy.objective[i] == coverage(graph, lazy.genes[: i + 1], hops)
    assert np.all(np.diff(lazy.gains) <= 0)  # greedy gains of a submodular function never increase


@settings(max_examples=150, deadline=None)
@given(small_graphs(), st.data())
def test_graphreach_within_1_minus_1_over_e_of_brute_force(case, data):
    graph, candidates, hops = case
    budget = data.draw(st.integers(1, min(3, len(candidates))))
    sel = graphreach(graph, candidates, budget, hops=hops)
    for k in range(1, budget + 1):
        best = max(coverage(graph, combo, hops) for combo in itertools.combinations(candidates, k))
        assert sel.objective[k - 1] >= (1 - 1 / math.e) * best
        if k == 1:
            assert sel.objective[0] == best  # the first greedy step is exact


def test_graphreach_lazy_equals_plain_on_larger_random_graphs():
    rng = np.random.default_rng(2024)
    for trial in range(12):
        n = int(rng.integers(50, 300))
        graph = random_graph(rng, n, float(rng.uniform(0.002, 0.03)))
        candidates = list(rng.choice(graph.genes, size=int(rng.integers(5, n)), replace=False))
        hops = trial % 3 + 1
        budget = len(candidates)  # run into zero gains, where ties decide everything
        lazy = graphreach(graph, candidates, budget, hops=hops, lazy=True)
        plain = graphreach(graph, candidates, budget, hops=hops, lazy=False)
        assert lazy.genes == plain.genes
        np.testing.assert_array_equal(lazy.objective, plain.objective)
        assert lazy.objective[-1] == coverage(graph, candidates, hops)


# ----------------------------------------------------------------------------------------------
# GraphReach weighted by the candidates (weights='candidates')
#
# Hand graph, K = 1, candidates b, c, e: R(b) = {a,b,x}, R(c) = {b,c}, R(e) = {d,e,f,g}
# w: b 2 (in R(b) and R(c)), every other reached node 1, z 0
# gains: b 4, c 3, e 4 -> b (tie with e, symbol order), then e (+4) against c (+1), then c (+1)


def weighted_coverage(graph: KnowledgeGraph, genes, hops: int, weights: np.ndarray) -> int:
    """sum of w over the union of R_K(v), by breadth-first search (independent of graphreach)."""
    return int(weights[in_neighbourhood(graph, graph.index_of(list(genes)), hops)].sum())


def bfs_candidate_weights(graph: KnowledgeGraph, candidates, hops: int) -> np.ndarray:
    """w(u) = number of candidates whose R_K holds u, by breadth-first search."""
    return sum(in_neighbourhood(graph, graph.index_of([c]), hops).astype(np.int64) for c in candidates)


@pytest.mark.parametrize("lazy", [True, False])
def test_graphreach_candidate_weights_by_hand(lazy):
    graph = hand_graph()
    sel = graphreach(graph, ["e", "c", "b"], 3, hops=1, tie_break="symbol", lazy=lazy, weights="candidates")
    assert sel.genes == ["b", "e", "c"]  # uniform: e, b, c
    assert sel.gains.tolist() == [4.0, 4.0, 1.0] and sel.objective.tolist() == [4.0, 8.0, 9.0]
    # b and e both gain 4 at the first pick: a tie, decided by symbol
    assert sel.params == {"hops": 1, "lazy": lazy, "weights": "candidates", "tie_break": "symbol", "ties": 1}
    assert sel.tied.tolist() == [True, False, False]
    weights = candidate_weights(perturbation_fields(graph, ["b", "c", "e"], 1))
    assert dict(zip(graph.genes, weights.tolist())) == dict(a=1, b=2, c=1, d=1, e=1, f=1, g=1, x=1, z=0)
    # the weights count the candidates only: screened e reaches {d,e,f,g}, which no candidate does (w 0)
    sel = graphreach(graph, ["b", "c"], 2, hops=1, tie_break="symbol", lazy=lazy, weights="candidates", screened=["e"])
    assert sel.genes == ["b", "c"] and sel.gains.tolist() == [4.0, 1.0] and sel.params["start_objective"] == 0.0
    # required c first (+3: b twice, c), then b adds a and x (+2), then e (+4)
    sel = graphreach(
        graph, ["b", "c", "e"], 3, hops=1, tie_break="symbol", lazy=lazy, weights="candidates", required=["c"]
    )
    assert sel.genes == ["c", "e", "b"] and sel.gains.tolist() == [3.0, 4.0, 2.0]


def test_graphreach_rejects_unknown_weights():
    with pytest.raises(InputError) as error:
        graphreach(hand_graph(), ["b", "c"], 1, weights="degree", source="test")
    assert error.value.field == "weights" and error.value.source == "test" and "uniform, candidates" in str(error.value)


@pytest.mark.parametrize("lazy", [True, False])
def test_unit_weights_give_graphreach_ranking_exactly(lazy):
    """The weighted greedy with unit weights is GraphReach: same picks and gains, on random graphs up to
    the whole pool (zero gains, where ties decide everything); and candidate weights on disjoint fields
    are unit weights."""
    rng = np.random.default_rng(28)
    for trial in range(10):
        n = int(rng.integers(40, 200))
        graph = random_graph(rng, n, float(rng.uniform(0.005, 0.04)))
        candidates = sorted(rng.choice(graph.genes, size=int(rng.integers(5, n // 2)), replace=False))
        hops = trial % 3
        fields = perturbation_fields(graph, candidates, hops)
        plain = greedy_max_coverage(fields, len(candidates), lazy=lazy)
        unit = greedy_max_coverage(fields, len(candidates), lazy=lazy, weights=np.ones(n, dtype=np.int32))
        np.testing.assert_array_equal(plain[0], unit[0])
        np.testing.assert_array_equal(plain[1], unit[1])
        assert [candidates[i] for i in plain[0]] == graphreach(
            graph, candidates, len(candidates), hops=hops, tie_break="symbol"
        ).genes
    # disjoint receptive fields: every reached node is worth 1 candidate
    for budget in (1, 2):
        uniform = graphreach(hand_graph(), ["b", "e"], budget, hops=1, lazy=lazy)
        weighted = graphreach(hand_graph(), ["b", "e"], budget, hops=1, lazy=lazy, weights="candidates")
        assert weighted.genes == uniform.genes and weighted.gains.tolist() == uniform.gains.tolist()


def test_greedy_max_coverage_rejects_bad_weights():
    import scipy.sparse as sp

    fields = sp.csr_matrix(np.eye(3, dtype=bool))
    for weights in (np.ones(2, dtype=np.int64), -np.ones(3, dtype=np.int64), np.ones(3)):
        with pytest.raises(ValueError, match="weights"):
            greedy_max_coverage(fields, 1, weights=weights)


def _weighted_greedy(graph, candidates, budget, hops, start=()):
    """Reference: plain greedy on f(S) = w(R(start) | R(S)), w counting the candidates, ties by symbol."""
    weights = bfs_candidate_weights(graph, candidates, hops)
    chosen: list[str] = []
    for _ in range(budget):
        base = weighted_coverage(graph, list(start) + chosen, hops, weights)
        gains = {
            v: weighted_coverage(graph, list(start) + chosen + [v], hops, weights) - base
            for v in sorted(candidates)
            if v not in chosen
        }
        best = max(gains.values())
        chosen.append(next(v for v, gain in gains.items() if gain == best))
    return chosen


@settings(max_examples=150, deadline=None)
@given(small_graphs(), st.data())
def test_candidate_weighted_graphreach_is_the_weighted_greedy(case, data):
    graph, candidates, hops = case
    others = [g for g in graph.genes if g not in candidates]
    screened = data.draw(st.lists(st.sampled_from(others), unique=True, max_size=2)) if others else []
    budget = data.draw(st.integers(1, len(candidates)))
    lazy = graphreach(graph, candidates, budget, hops=hops, weights="candidates", screened=screened, tie_break="symbol")
    plain = graphreach(
        graph, candidates, budget, hops=hops, weights="candidates", screened=screened, tie_break="symbol", lazy=False
    )
    assert lazy.genes == plain.genes == _weighted_greedy(graph, candidates, budget, hops, screened)
    np.testing.assert_array_equal(lazy.gains, plain.gains)
    weights = bfs_candidate_weights(graph, candidates, hops)
    for i in range(budget):
        assert lazy.objective[i] == weighted_coverage(graph, screened + lazy.genes[: i + 1], hops, weights)
    assert np.all(np.diff(lazy.gains) <= 0)


@settings(max_examples=100, deadline=None)
@given(small_graphs(), st.data())
def test_candidate_weighted_graphreach_within_1_minus_1_over_e_of_brute_force(case, data):
    graph, candidates, hops = case
    budget = data.draw(st.integers(1, min(3, len(candidates))))
    sel = graphreach(graph, candidates, budget, hops=hops, weights="candidates")
    weights = bfs_candidate_weights(graph, candidates, hops)
    for k in range(1, budget + 1):
        best = max(weighted_coverage(graph, combo, hops, weights) for combo in itertools.combinations(candidates, k))
        assert sel.objective[k - 1] >= (1 - 1 / math.e) * best
        if k == 1:
            assert sel.objective[0] == best


# ----------------------------------------------------------------------------------------------
# MaxSpec
#
# Three disconnected pieces, all weights 1, K = 1:
#   h <-- s1, s2, s3    (hub: d_h = 4, d_s = 1)     block [[1/4, 1/2, 1/2, 1/2], e1, e2, e3]
#   p <-- q             (pair: d_p = 2, d_q = 1)    block [[1/2, 1/sqrt 2], [0, 1]]
#   i                   (isolated)                  block [[1]]
# Singular values by hand (M^T M on the symmetric subspace):
#   hub:  sigma^2 = (29/16 + sqrt((29/16)^2 - 1/4)) / 2         -> sigma ~ 1.3332
#   pair: sigma^2 = (7/4 + sqrt((7/4)^2 - 1)) / 2               -> sigma ~ 1.2622
#   iso:  sigma = 1
# Disjoint fields give a block-diagonal restriction, so c(S) = max of the blocks' norms.
HUB = math.sqrt((29 / 16 + math.sqrt((29 / 16) ** 2 - 1 / 4)) / 2)
PAIR = math.sqrt((7 / 4 + math.sqrt((7 / 4) ** 2 - 1)) / 2)
BLOCKS = edges_table([("s1", "h", 1.0), ("s2", "h", 1.0), ("s3", "h", 1.0), ("q", "p", 1.0)])


def blocks_graph() -> KnowledgeGraph:
    return KnowledgeGraph.from_edges(BLOCKS, genes=["i"])


def test_maxspec_hand_checked_maximize():
    sel = maxspec(blocks_graph(), ["p", "i", "h"], 3, hops=1, tie_break="symbol")
    # hub first; then i and p both leave c at HUB (tie): p reaches two new nodes (p, q), i one
    assert sel.genes == ["h", "p", "i"]
    np.testing.assert_allclose(sel.objective, [HUB, HUB, HUB], rtol=1e-12)
    np.testing.assert_allclose(sel.gains, [HUB, 0.0, 0.0], atol=1e-12)
    assert sel.params == {
        "hops": 1,
        "direction": "maximize",
        "shortlist": maxspec_module.SHORTLIST,
        "operator": "whole_graph",
        "tie_break": "symbol",
        "ties": 1,
    }
    assert sel.tied.tolist() == [False, True, False]


def test_maxspec_hand_checked_minimize_differs():
    sel = maxspec(blocks_graph(), ["p", "i", "h"], 3, hops=1, direction="minimize")
    assert sel.genes == ["i", "p", "h"]
    np.testing.assert_allclose(sel.objective, [1.0, PAIR, HUB], rtol=1e-12)
    np.testing.assert_allclose(sel.gains, [1.0, PAIR - 1.0, HUB - PAIR], rtol=1e-12)


def test_maxspec_zero_hops_uses_diagonal():
    # K = 0: R(v) = {v}; P[v, v] = 1 / d_v, so c({h}) = 1/4, c({p}) = 1/2, c({i}) = 1
    sel = maxspec(blocks_graph(), ["h", "p", "i"], 3, hops=0, direction="minimize")
    assert sel.genes == ["h", "p", "i"]
    np.testing.assert_allclose(sel.objective, [0.25, 0.5, 1.0], rtol=1e-12)


def test_maxspec_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        maxspec(blocks_graph(), ["h"], 1, direction="up")


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_maxspec_criterion_equals_dense_computation_on_random_graphs(direction):
    rng = np.random.default_rng(7)
    for trial in range(8):
        graph = random_graph(rng, int(rng.integers(8, 40)), 0.1)
        dense_p = dense_operator(graph)
        candidates = list(rng.choice(graph.genes, size=6, replace=False))
        hops = trial % 3
        sel = maxspec(graph, candidates, 4, hops=hops, direction=direction)
        for i in range(4):
            expected = dense_criterion(graph, dense_p, sel.genes[: i + 1], hops)
            assert sel.objective[i] == pytest.approx(expected, rel=1e-10)
        # each pick is the best single addition (checked densely), up to the documented tie tolerance
        chosen: list[str] = []
        for pick in sel.genes:
            values = {v: dense_criterion(graph, dense_p, chosen + [v], hops) for v in candidates if v not in chosen}
            best = max(values.values()) if direction == "maximize" else min(values.values())
            assert values[pick] == pytest.approx(best, rel=1e-9)
            chosen.append(pick)
        assert np.all(sel.gains >= -1e-12)  # the norm of a principal submatrix grows with the node set


def test_maxspec_sparse_svd_branch_matches_dense(monkeypatch):
    rng = np.random.default_rng(12)
    graph = random_graph(rng, 80, 0.06)
    dense_p = dense_operator(graph)
    candidates = list(graph.genes[::4])
    monkeypatch.setattr(maxspec_module, "DENSE_MAX_ROWS", 1)  # every restriction of > 1 row uses Lanczos
    sel = maxspec(graph, candidates, 6, hops=2)
    for i in range(6):
        expected = dense_criterion(graph, dense_p, sel.genes[: i + 1], 2)
        assert sel.objective[i] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_maxspec_shortlist_keeps_the_criterion_exact(monkeypatch, direction):
    # Pools far larger than the shortlist, Lanczos for every restriction of > 1 row: whatever the
    # shortlist picks, the criterion of every prefix is exact; a shortlist as large as the pool is
    # the plain (exhaustive) greedy.
    monkeypatch.setattr(maxspec_module, "DENSE_MAX_ROWS", 1)
    monkeypatch.setattr(maxspec_module, "PREFILTER_MIN", 4)
    rng = np.random.default_rng(31)
    for trial in range(6):
        graph = random_graph(rng, int(rng.integers(60, 120)), 0.03)
        dense_p = dense_operator(graph)
        candidates = list(rng.choice(graph.genes, size=30, replace=False))
        hops = 1 + trial % 2
        short = maxspec(graph, candidates, 12, hops=hops, direction=direction, shortlist=2)
        assert short.params["shortlist"] == 2
        for i in range(12):
            expected = dense_criterion(graph, dense_p, short.genes[: i + 1], hops)
            assert short.objective[i] == pytest.approx(expected, rel=1e-10)
        plain = maxspec(graph, candidates, 12, hops=hops, direction=direction, shortlist=None)
        whole = maxspec(graph, candidates, 12, hops=hops, direction=direction, shortlist=30)
        assert whole.genes == plain.genes
        np.testing.assert_array_equal(whole.objective, plain.objective)


@pytest.mark.parametrize("shortlist", [0, -1, 2.5, True])
def test_maxspec_rejects_bad_shortlist(shortlist):
    with pytest.raises(ValueError, match="shortlist"):
        maxspec(blocks_graph(), ["h"], 1, shortlist=shortlist)


def test_lanczos_top_matches_dense_eigh():
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 40, 200):
        factor = rng.random((n, n)) * (rng.random((n, n)) < 0.2)
        gram = factor.T @ factor
        value, vector = maxspec_module._lanczos_top(lambda v: gram @ v, rng.random(n))
        expected = np.linalg.eigvalsh(gram)[-1]
        assert value == pytest.approx(expected, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(gram @ vector, value * vector, atol=1e-6 * max(expected, 1e-12))
    # an invariant start (an eigenvector of a diagonal matrix) ends the recursion at once: beta = 0
    diagonal = np.diag([3.0, 1.0, 2.0])
    value, vector = maxspec_module._lanczos_top(lambda v: diagonal @ v, np.array([1.0, 0.0, 0.0]))
    assert value == pytest.approx(3.0, rel=1e-14)
    np.testing.assert_allclose(np.abs(vector), [1.0, 0.0, 0.0], atol=1e-14)
    # the constant start finds the top of a block-diagonal operator whose blocks have close norms
    blocks = np.zeros((6, 6))
    blocks[:3, :3], blocks[3:, 3:] = np.full((3, 3), 1.0), np.full((3, 3), 1.0001)
    value, _ = maxspec_module._lanczos_top(lambda v: blocks @ v, np.ones(6))
    assert value == pytest.approx(3.0003, rel=1e-12)


def test_maxspec_is_deterministic_and_order_free():
    rng = np.random.default_rng(4)
    graph = random_graph(rng, 150, 0.03)
    candidates = list(graph.genes[:30])
    first = maxspec(graph, candidates, 10, hops=1)
    second = maxspec(graph, list(reversed(candidates)), 10, hops=1)
    assert first.genes == second.genes
    np.testing.assert_array_equal(first.objective, second.objective)


# ----------------------------------------------------------------------------------------------
# Facility location on receptive-field overlap
#
# Star, K = 1, all weights 1: h -> a, h -> b, h -> c (h feeds a, b and c). d_a = d_b = d_c = 2, d_h = 1.
# Rows of P: a = (P[a,a], P[a,h]) = (1/2, 1/sqrt 2) -> unit (1/sqrt 3, sqrt(2/3)); h = e_h.
# sim(a, b) = 2/3 (they share h), sim(a, h) = sqrt(2/3), sim(v, v) = 1.
# f({h}) = 1 + 3 sqrt(2/3) = 3.449 > f({a}) = 1 + 2 (2/3) + sqrt(2/3) = 3.150: h first; then a, b, c each
# gain 1 - sqrt(2/3) (their own term; 2/3 < sqrt(2/3) for the others) and tie: symbol order.
# GraphReach picks a first (|R(a)| = |{a, h}| = 2 > |R(h)| = 1).
STAR = edges_table([("h", "a", 1.0), ("h", "b", 1.0), ("h", "c", 1.0)])


def star_graph() -> KnowledgeGraph:
    return KnowledgeGraph.from_edges(STAR)


def dense_similarity(graph: KnowledgeGraph, perturbations, hops: int) -> np.ndarray:
    """max(0, cosine) of the perturbations' rows of P^K (a pair: the sum of its genes' rows), densely."""
    power = np.linalg.matrix_power(dense_operator(graph), hops)
    rows = np.array([sum(power[graph.index_of([g])[0]] for g in p.split("+")) for p in perturbations])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return np.maximum(rows @ rows.T, 0.0)


def facility_value(sim: np.ndarray, clients: int, chosen) -> float:
    """sum over the first `clients` rows of the max over the chosen columns (0 with none chosen)."""
    chosen = list(chosen)
    return float(sim[:clients][:, chosen].max(axis=1).sum()) if chosen else 0.0


@pytest.mark.parametrize("lazy", [True, False])
def test_facility_hand_checked_star(lazy):
    sel = facility(star_graph(), ["c", "a", "h", "b"], 4, hops=1, lazy=lazy)
    assert sel.strategy == "facility" and sel.genes == ["h", "a", "b", "c"]
    root = math.sqrt(2 / 3)
    np.testing.assert_allclose(sel.gains, [1 + 3 * root, 1 - root, 1 - root, 1 - root], atol=1e-8)
    np.testing.assert_allclose(sel.objective, np.cumsum(sel.gains), rtol=1e-15)
    assert sel.objective[-1] == 4.0  # every candidate picked: each matched with similarity 1
    assert sel.params == {"hops": 1, "lazy": lazy}
    assert graphreach(star_graph(), ["a", "b", "c", "h"], 1, hops=1).genes == ["a"]
    # K = 0: every candidate is similar to itself only; all gains 1, symbol order
    sel = facility(hand_graph(), ["e", "c", "b"], 3, hops=0, lazy=lazy)
    assert sel.genes == ["b", "c", "e"] and sel.gains.tolist() == [1.0, 1.0, 1.0]


def test_facility_similarity_is_the_sgc_ridge_kernel():
    from perturb_select.evaluation.baselines import sgc_kernel

    rng = np.random.default_rng(8)
    graph = random_graph(rng, 60, 0.06)
    genes = sorted(rng.choice(graph.genes, size=20, replace=False))
    for hops in (0, 1, 2):
        features = perturbation_propagation(graph, genes, hops)
        quantised = quantised_similarity(features, features).toarray() / facility_module.SCALE
        np.testing.assert_allclose(quantised, sgc_kernel(graph, genes, hops), atol=2**-30)
        np.testing.assert_allclose(quantised, dense_similarity(graph, genes, hops), atol=2**-30)


@st.composite
def facility_cases(draw):
    """(graph, candidates, hops): up to 10 nodes, 1 to 8 candidates, K in 0..3."""
    graph, candidates, hops = draw(small_graphs())
    return graph, candidates[:8], hops


@settings(max_examples=150, deadline=None)
@given(facility_cases(), st.data())
def test_facility_against_brute_force(case, data):
    """First pick = the best single; every prefix of size <= 3 within (1 - 1/e) of the best subset of its
    size; objective = the dense facility value; lazy = plain, picks and gains bit for bit."""
    graph, candidates, hops = case
    budget = data.draw(st.integers(1, len(candidates)))
    sel = facility(graph, candidates, budget, hops=hops)
    plain = facility(graph, candidates, budget, hops=hops, lazy=False)
    assert sel.genes == plain.genes
    np.testing.assert_array_equal(sel.gains, plain.gains)
    names = sorted(candidates)
    sim = dense_similarity(graph, names, hops)
    column = {name: i for i, name in enumerate(names)}
    tolerance = len(names) * 2**-30
    for k in range(1, budget + 1):
        value = facility_value(sim, len(names), [column[g] for g in sel.genes[:k]])
        assert sel.objective[k - 1] == pytest.approx(value, abs=tolerance)
        if k <= 3:
            best = max(facility_value(sim, len(names), combo) for combo in itertools.combinations(range(len(names)), k))
            assert value >= (1 - 1 / math.e) * best - tolerance
            if k == 1:
                assert value == pytest.approx(best, abs=tolerance)  # the first greedy step is exact
    assert np.all(np.diff(sel.gains) <= 0)


def test_facility_is_the_dense_greedy_with_ties_by_symbol_on_larger_graphs():
    rng = np.random.default_rng(2807)
    for trial in range(8):
        n = int(rng.integers(40, 200))
        graph = random_graph(rng, n, float(rng.uniform(0.005, 0.04)))
        candidates = list(rng.choice(graph.genes, size=int(rng.integers(5, min(n, 60))), replace=False))
        hops = trial % 3
        sel = facility(graph, candidates, len(candidates), hops=hops)
        plain = facility(graph, candidates, len(candidates), hops=hops, lazy=False)
        assert sel.genes == plain.genes
        np.testing.assert_array_equal(sel.gains, plain.gains)
        names = sorted(candidates)
        sim = dense_similarity(graph, names, hops)
        column = {name: i for i, name in enumerate(names)}
        chosen: list[int] = []
        for pick in sel.genes:
            base = facility_value(sim, len(names), chosen)
            gains = {
                i: facility_value(sim, len(names), chosen + [i]) - base for i in range(len(names)) if i not in chosen
            }
            top = max(gains.values())
            # the pick has the largest gain, and every candidate before it in symbol order a smaller one
            # (a tie goes to the first symbol)
            assert gains[column[pick]] == pytest.approx(top, abs=1e-6)
            assert all(gains[i] < gains[column[pick]] - 1e-12 for i in gains if i < column[pick])
            chosen.append(column[pick])
        assert sel.objective[-1] == pytest.approx(len(names), abs=1e-6)


def test_facility_from_screened_and_required_equals_dense_greedy():
    rng = np.random.default_rng(12)
    for trial in range(6):
        graph = random_graph(rng, int(rng.integers(15, 50)), 0.08)
        drawn = list(rng.choice(graph.genes, size=11, replace=False))
        screened, required, candidates = drawn[:2], drawn[2:3], drawn[2:]
        hops = trial % 2 + 1
        sel = facility(graph, candidates, 5, hops=hops, screened=screened, required=required)
        names = sorted(candidates)
        sim = dense_similarity(graph, names + screened, hops)
        start = [len(names), len(names) + 1]
        assert sel.params["start_objective"] == pytest.approx(facility_value(sim, len(names), start), abs=1e-7)
        assert sel.params["screened"] == 2 and sel.params["required"] == 1 and sel.genes[0] == required[0]
        column = {name: i for i, name in enumerate(names)}
        chosen = start + [column[required[0]]]
        for pick in sel.genes[1:]:
            base = facility_value(sim, len(names), chosen)
            gains = {
                i: facility_value(sim, len(names), chosen + [i]) - base for i in range(len(names)) if i not in chosen
            }
            assert gains[column[pick]] == pytest.approx(max(gains.values()), abs=1e-6)
            chosen.append(column[pick])
        for k in range(5):
            expected = facility_value(sim, len(names), start + [column[g] for g in sel.genes[: k + 1]])
            assert sel.objective[k] == pytest.approx(expected, abs=1e-6)
        np.testing.assert_allclose(np.diff(sel.objective, prepend=sel.params["start_objective"]), sel.gains, atol=1e-12)
        assert set(sel.genes).isdisjoint(screened)


def test_facility_on_pairs_sums_the_genes_rows():
    rng = np.random.default_rng(6)
    graph = random_graph(rng, 30, 0.1)
    genes = list(rng.choice(graph.genes, size=10, replace=False))
    pairs = sorted(f"{a}+{b}" for a, b in zip(genes[::2], genes[1::2]))
    sim = dense_similarity(graph, pairs, 1)
    sel = facility(graph, pairs, 3, hops=1)
    column = {name: i for i, name in enumerate(pairs)}
    for k in range(3):
        expected = facility_value(sim, len(pairs), [column[p] for p in sel.genes[: k + 1]])
        assert sel.objective[k] == pytest.approx(expected, abs=1e-7)
    singles = facility(graph, genes, 2, hops=1)  # singles and pairs go through the same features
    assert set(singles.genes) <= set(genes)


def test_facility_is_order_free_and_chunk_free(monkeypatch):
    rng = np.random.default_rng(9)
    graph = random_graph(rng, 120, 0.03)
    candidates = list(graph.genes[:50])
    first = facility(graph, candidates, 20, hops=2)
    assert facility(graph, list(reversed(candidates)), 20, hops=2).genes == first.genes
    monkeypatch.setattr(facility_module, "_CHUNK_ENTRIES", 7)  # one row per sparse product
    chunked = facility(graph, candidates, 20, hops=2)
    assert chunked.genes == first.genes
    np.testing.assert_array_equal(chunked.objective, first.objective)


def test_facility_refuses_too_many_similarities(monkeypatch):
    rng = np.random.default_rng(10)
    graph = random_graph(rng, 60, 0.05)
    candidates = list(graph.genes[:40])
    monkeypatch.setattr(facility_module, "MAX_SIMILARITY_ENTRIES", 50)
    with pytest.raises(InputError) as error:
        facility(graph, candidates, 5, hops=2, source="--budget")
    assert error.value.field == "candidates" and error.value.source == "--budget"
    assert "facility" in str(error.value) and "more than 50 pairs" in str(error.value)


# ----------------------------------------------------------------------------------------------
# Random selection, budget and candidate checks, dispatch


def test_random_selection_is_a_seeded_permutation_prefix():
    candidates = [f"G{i}" for i in range(25)]
    sel = random_selection(list(reversed(candidates)), 10, seed=3)
    expected = [sorted(candidates)[i] for i in np.random.default_rng(3).permutation(25)[:10]]
    assert sel.genes == expected
    np.testing.assert_array_equal(sel.gains, np.ones(10))
    np.testing.assert_array_equal(sel.objective, np.arange(1, 11))
    assert sel.params == {"seed": 3}
    assert random_selection(candidates, 10, seed=3).genes == sel.genes
    assert random_selection(candidates, 10, seed=4).genes != sel.genes
    assert len(set(sel.genes)) == 10 and set(sel.genes) <= set(candidates)


@pytest.mark.parametrize("budget", [0, -1, 4])
def test_budget_out_of_range(budget):
    with pytest.raises(InputError) as error:
        select("graphreach", hand_graph(), ["b", "c", "e"], budget, seed=0)
    assert error.value.field == "budget"
    assert error.value.source == "config: experiment.strategies.graphreach"
    assert str(budget) in str(error.value) and "3" in str(error.value)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_checks_budget_and_candidates(strategy):
    graph = hand_graph()
    with pytest.raises(InputError, match="between 1 and the number of candidates \\(2\\)"):
        select(strategy, graph, ["b", "c"], 3, seed=0)
    with pytest.raises(InputError) as error:
        select(strategy, graph, ["b", "b", "c"], 1, seed=0)
    assert error.value.field == "candidates"


@pytest.mark.parametrize("strategy", ["graphreach", "maxspec", "facility"])
def test_graph_strategies_reject_candidates_outside_the_graph(strategy):
    with pytest.raises(InputError) as error:
        select(strategy, hand_graph(), ["b", "NOTAGENE"], 1, seed=0)
    assert error.value.field == "candidates" and "NOTAGENE" in str(error.value)


def test_select_dispatches_with_params():
    graph = hand_graph()
    assert select("graphreach", graph, ["b", "c", "e"], 3, seed=0, params={"hops": 2}).genes == [
        "c",
        "e",
        "b",
    ]
    assert select("maxspec", blocks_graph(), ["h", "i", "p"], 3, seed=5, params={"direction": "minimize"}).genes == [
        "i",
        "p",
        "h",
    ]
    assert select("facility", star_graph(), ["a", "b", "c", "h"], 2, seed=0, params={"hops": 0}).genes == ["a", "b"]
    assert select("facility", star_graph(), ["a", "b", "c", "h"], 2, seed=0).genes == ["h", "a"]
    # graph selectors ignore the seed; random uses it
    assert select("graphreach", graph, ["b", "c", "e"], 3, seed=1).genes == graphreach(graph, ["b", "c", "e"], 3).genes
    assert (
        select("random", graph, list("abcdefg"), 7, seed=9).genes == random_selection(list("abcdefg"), 7, seed=9).genes
    )


def test_select_rejects_unknown_strategy_and_params():
    with pytest.raises(ValueError, match="facility.*graphreach.*maxspec.*random"):
        select("typiclust", hand_graph(), ["b"], 1, seed=0)
    with pytest.raises(InputError) as error:
        select("random", hand_graph(), ["b"], 1, seed=0, params={"hops": 1})
    assert error.value.field == "hops" and error.value.source == "config: experiment.strategies.random"


# ----------------------------------------------------------------------------------------------
# Selection table and file


def test_to_frame_cycles():
    sel = Selection("random", list("abcdefg"), np.ones(7), np.arange(1.0, 8.0), {})
    frame = sel.to_frame(perturbations_per_cycle=3)
    assert list(frame.columns) == ["rank", "gene", "cycle", "gain", "objective"]
    assert frame["rank"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert frame["cycle"].tolist() == [1, 1, 1, 2, 2, 2, 3]
    assert frame["gene"].tolist() == list("abcdefg")
    with pytest.raises(ValueError):
        sel.to_frame(0)


def test_selection_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        Selection("x", ["a", "b"], np.ones(3), np.ones(2))


def test_write_read_round_trip_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    graph = random_graph(rng, 40, 0.1)
    sel = maxspec(graph, list(graph.genes[:12]), 9, hops=1)
    path = tmp_path / "maxspec" / "seed0.tsv"
    write_selection(sel, path, perturbations_per_cycle=4)
    back = read_selection(path)
    assert back.strategy == "maxspec"
    assert back.genes == sel.genes
    np.testing.assert_array_equal(back.gains, sel.gains)
    np.testing.assert_array_equal(back.objective, sel.objective)
    assert pd.read_csv(path, sep="\t")["cycle"].tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 3]
    assert [p.name for p in path.parent.iterdir()] == ["seed0.tsv"]  # no temporary left behind


@pytest.mark.parametrize(
    "text, field",
    [
        ("rank\tgene\tcycle\tgain\n1\tA\t1\t1\n", "objective"),
        ("rank\tgene\tcycle\tgain\tobjective\n1\tA\t1\t1\t1\n3\tB\t1\t1\t2\n", "rank"),
        ("rank\tgene\tcycle\tgain\tobjective\n1\tA\t1\t1\t1\n2\tA\t1\t1\t2\n", "gene"),
        ("rank\tgene\tcycle\tgain\tobjective\n1\tA\t1\t1\t1\n2\tB\t1\t1\t2\n3\tC\t3\t1\t3\n", "cycle"),
        ("rank\tgene\tcycle\tgain\tobjective\n1\tA\t1\tx\t1\n", "gain"),
    ],
)
def test_read_selection_errors(tmp_path, text, field):
    path = tmp_path / "sel.tsv"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        read_selection(path)
    assert error.value.field == field and error.value.source == str(path)


# ----------------------------------------------------------------------------------------------
# Real data: the Papalexi 2021 THP-1 screen on a GO Jaccard graph over the screen's genes
#
# GEARS builds its GO graph over the dataset's gene set when default_pert_graph=False
# (gears/utils.py::make_GO + get_similarity_network): for each target gene, the top-20 other genes by
# Jaccard similarity of GO term sets, keeping similarity > 0.1. The fixture builds that graph from the
# real annotations for the 299 measured genes plus the 25 perturbed genes.


def _resolve(symbols, info: pd.DataFrame) -> dict[str, str]:
    """Symbol -> official symbol: official as is, else a synonym of exactly one gene."""
    official = set(info["Symbol"])
    synonyms = info.assign(alias=info["Synonyms"].str.split("|")).explode("alias")
    owners = synonyms.groupby("alias")["Symbol"].unique()
    resolved = {}
    for symbol in symbols:
        if symbol in official:
            resolved[symbol] = symbol
        elif symbol in owners.index and len(owners[symbol]) == 1:
            resolved[symbol] = owners[symbol][0]
    return resolved


@pytest.fixture(scope="module")
def screen():
    paths = [
        DATA / "go" / "gene2go_human.gz",
        DATA / "go" / "Homo_sapiens.gene_info.gz",
        DATA / "perturbseq" / "papalexi2021_thp1.h5ad",
    ]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"real data not found (expected ../shared/data beside the repository): {missing}")
    anndata = pytest.importorskip("anndata")
    adata = anndata.read_h5ad(paths[2], backed="r")
    targets = sorted(set(adata.obs["perturbation"].astype(str)) - {"non-targeting"})
    measured = list(adata.var_names)
    adata.file.close()
    info = pd.read_csv(paths[1], sep="\t", usecols=["GeneID", "Symbol", "Synonyms"], dtype=str)
    with gzip.open(paths[0], "rt") as handle:
        gene2go = pd.read_csv(handle, sep="\t", usecols=["GeneID", "GO_ID"], dtype=str)
    resolved = _resolve(set(targets) | set(measured), info)
    terms = (
        gene2go.assign(symbol=gene2go["GeneID"].map(dict(zip(info["GeneID"], info["Symbol"]))))
        .dropna()
        .groupby("symbol")["GO_ID"]
        .apply(frozenset)
    )
    universe = sorted({s for s in resolved.values() if s in terms.index})
    rows = []
    for target in universe:
        scores = [
            (len(terms[target] & terms[other]) / len(terms[target] | terms[other]), other)
            for other in universe
            if other != target
        ]
        top = sorted(scores, key=lambda pair: (-pair[0], pair[1]))[:20]
        rows += [(other, target, score) for score, other in top if score > 0.1]
    graph = KnowledgeGraph.from_edges(edges_table(rows), genes=universe)
    candidates = sorted({resolved[t] for t in targets if t in resolved and resolved[t] in graph})
    return graph, candidates, targets


def test_real_screen_graph_places_every_target(screen):
    graph, candidates, targets = screen
    assert len(targets) == 25
    assert "MARCHF8" in candidates and "MARCH8" not in candidates  # resolved through gene_info
    assert len(candidates) == 25
    assert graph.n_nodes > 250
    in_degree = np.diff(graph.adjacency.tocsc().indptr)
    assert in_degree.max() <= 20


@pytest.mark.parametrize("hops", [1, 2])
def test_graphreach_real_screen(screen, hops):
    graph, candidates, _ = screen
    sel = graphreach(graph, candidates, 25, hops=hops, tie_break="symbol")
    assert sel.genes == graphreach(graph, candidates, 25, hops=hops, tie_break="symbol", lazy=False).genes
    assert sorted(sel.genes) == candidates
    for i in range(25):
        assert sel.objective[i] == coverage(graph, sel.genes[: i + 1], hops)
    sizes = {v: coverage(graph, [v], hops) for v in candidates}
    assert sel.genes[0] == min(v for v in candidates if sizes[v] == max(sizes.values()))
    assert np.all(np.diff(sel.gains) <= 0)
    best3 = max(coverage(graph, combo, hops) for combo in itertools.combinations(candidates, 3))
    assert sel.objective[2] >= (1 - 1 / math.e) * best3
    assert sel.objective[-1] == coverage(graph, candidates, hops)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_maxspec_real_screen(screen, direction):
    graph, candidates, _ = screen
    dense_p = dense_operator(graph)
    sel = maxspec(graph, candidates, 25, hops=1, direction=direction)
    assert sorted(sel.genes) == candidates
    for i in range(25):
        assert sel.objective[i] == pytest.approx(dense_criterion(graph, dense_p, sel.genes[: i + 1], 1), rel=1e-9)
    singles = {v: dense_criterion(graph, dense_p, [v], 1) for v in candidates}
    best = max(singles.values()) if direction == "maximize" else min(singles.values())
    assert singles[sel.genes[0]] == pytest.approx(best, rel=1e-9)
    assert np.all(sel.gains >= -1e-12)
    # the full set reaches the same nodes whatever the order: same final criterion both ways
    assert sel.objective[-1] == pytest.approx(dense_criterion(graph, dense_p, candidates, 1), rel=1e-9)


def test_maxspec_directions_differ_on_real_screen(screen):
    graph, candidates, _ = screen
    up = maxspec(graph, candidates, 5, hops=1)
    down = maxspec(graph, candidates, 5, hops=1, direction="minimize")
    assert up.genes[0] != down.genes[0]
    assert up.objective[0] > down.objective[0]


# ----------------------------------------------------------------------------------------------
# Genome scale: the Replogle 2022 K562 essential-gene list on the whole human GO graph


@pytest.fixture(scope="module")
def replogle(human_graph):
    from perturb_select.knowledge.symbols import SymbolResolver

    resolver = SymbolResolver.from_gene_info(
        DATA / "go" / "Homo_sapiens.gene_info.gz", universe=set(human_graph.genes), taxid=9606
    )
    path = DATA / "genelists" / "replogle2022_k562_essential_1092_genes.txt"
    symbols = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return sorted({r.symbol for r in map(resolver.resolve, symbols) if r.ok})


@pytest.mark.slow
def test_graphreach_genome_scale_matches_plain_greedy(human_graph, replogle):
    assert len(replogle) == 1085
    for hops in (1, 2):
        lazy = graphreach(human_graph, replogle, 500, hops=hops)
        plain = graphreach(human_graph, replogle, 500, hops=hops, lazy=False)
        assert lazy.genes == plain.genes
        np.testing.assert_array_equal(lazy.objective, plain.objective)
        assert lazy.objective[-1] == coverage(human_graph, lazy.genes, hops)
        lazy = graphreach(human_graph, replogle, 500, hops=hops, weights="candidates")
        plain = graphreach(human_graph, replogle, 500, hops=hops, weights="candidates", lazy=False)
        assert lazy.genes == plain.genes
        np.testing.assert_array_equal(lazy.objective, plain.objective)


@pytest.mark.slow
def test_facility_genome_scale_matches_plain_greedy(human_graph, replogle):
    lazy = facility(human_graph, replogle, 500, hops=1)
    plain = facility(human_graph, replogle, 500, hops=1, lazy=False)
    assert lazy.genes == plain.genes
    np.testing.assert_array_equal(lazy.objective, plain.objective)
    assert np.all(np.diff(lazy.gains) <= 0) and lazy.objective[-1] < len(replogle)


@pytest.mark.slow
def test_maxspec_shortlist_matches_plain_greedy_on_replogle(human_graph, replogle):
    # measured: the first 40 picks agree (docs/benchmarks.md); 10 keep the test near 20 s
    short = maxspec(human_graph, replogle, 10, hops=1)
    plain = maxspec(human_graph, replogle, 10, hops=1, shortlist=None)
    assert short.genes == plain.genes
    np.testing.assert_allclose(short.objective, plain.objective, rtol=1e-12)
    assert np.all(np.diff(short.objective) > 0)


# ----------------------------------------------------------------------------------------------
# Starting from earlier screens (screened, required) and double perturbations (A+B)
#
# On the hand graph with K = 1: R(b) = {a,b,x}, R(c) = {b,c}, R(e) = {d,e,f,g}.


def test_perturbation_fields_of_a_pair_is_the_union():
    from perturb_select.knowledge.graph import perturbation_fields

    graph = hand_graph()
    fields = perturbation_fields(graph, ["b+e", "c", "b+c"], 1).toarray()
    names = lambda row: {graph.genes[i] for i in np.flatnonzero(row)}  # noqa: E731
    assert names(fields[0]) == set("abxdefg")
    assert names(fields[1]) == set("bc")
    assert names(fields[2]) == set("abcx")
    with pytest.raises(InputError, match="not nodes of the graph: \\['q'\\]"):
        perturbation_fields(graph, ["b+q"], 1)


@pytest.mark.parametrize("lazy", [True, False])
def test_graphreach_screened_start_by_hand(lazy):
    # screened e: {d,e,f,g} covered from the start (4 nodes); then b (+3), c (+1)
    sel = graphreach(hand_graph(), ["b", "c"], 2, hops=1, lazy=lazy, screened=["e"])
    assert sel.genes == ["b", "c"]
    assert sel.gains.tolist() == [3.0, 1.0]
    assert sel.objective.tolist() == [7.0, 8.0]
    assert sel.params["start_objective"] == 4.0 and sel.params["screened"] == 1
    # screened c covers {b, c}: b now adds only {a, x} (2) and e adds 4 -> e first
    sel = graphreach(hand_graph(), ["b", "e"], 2, hops=1, lazy=lazy, screened=["c"])
    assert sel.genes == ["e", "b"] and sel.gains.tolist() == [4.0, 2.0] and sel.objective.tolist() == [6.0, 8.0]


@pytest.mark.parametrize("lazy", [True, False])
def test_graphreach_required_first_in_their_order(lazy):
    # c forced first (+2), then the greedy: e (+4), then b adds only {a, x} (+2)
    sel = graphreach(hand_graph(), ["b", "c", "e"], 3, hops=1, lazy=lazy, required=["c"])
    assert sel.genes == ["c", "e", "b"] and sel.gains.tolist() == [2.0, 4.0, 2.0]
    # required in the given order, not by gain; the budget can be all required
    sel = graphreach(hand_graph(), ["b", "c", "e"], 2, hops=1, lazy=lazy, required=["c", "b"])
    assert sel.genes == ["c", "b"] and sel.gains.tolist() == [2.0, 2.0]


def test_graphreach_on_pairs_is_max_coverage_over_experiments():
    # b+e reaches 7 nodes alone; c+e 6; then c adds {c} (+1): the union decides, not single fields
    sel = graphreach(hand_graph(), ["b+e", "c+e", "c"], 2, hops=1)
    assert sel.genes == ["b+e", "c"] and sel.gains.tolist() == [7.0, 1.0]


def test_start_errors_name_the_field():
    graph = hand_graph()
    cases = [
        ({"required": ["b", "b"]}, "listed more than once"),
        ({"required": ["b", "c", "e"]}, "3 required perturbations but the budget is 2"),
        ({"required": ["z"]}, "not candidates: \\['z'\\]"),
        ({"required": ["c"], "screened": ["c"]}, "already screened"),
    ]
    for selector in (graphreach, maxspec, facility):
        for kwargs, message in cases:
            with pytest.raises(InputError, match=message) as err:
                selector(graph, ["b", "c", "e"], 2, hops=1, source="test", **kwargs)
            assert err.value.field == "required" and err.value.source == "test"


def _greedy_from(graph, candidates, budget, hops, start):
    """Reference: plain greedy on f(S) = |R(start) | R(S)|, by breadth-first coverage, ties by symbol."""
    chosen: list[str] = []
    for _ in range(budget):
        base = coverage(graph, start + chosen, hops)
        gains = {v: coverage(graph, start + chosen + [v], hops) - base for v in sorted(candidates) if v not in chosen}
        best = max(gains.values())
        chosen.append(next(v for v, gain in gains.items() if gain == best))
    return chosen


@settings(max_examples=150, deadline=None)
@given(small_graphs(), st.data())
def test_graphreach_from_screened_equals_plain_greedy_from_their_coverage(case, data):
    graph, candidates, hops = case
    others = [g for g in graph.genes if g not in candidates]
    screened = data.draw(st.lists(st.sampled_from(others), unique=True)) if others else []
    budget = data.draw(st.integers(1, len(candidates)))
    lazy = graphreach(graph, candidates, budget, hops=hops, screened=screened, tie_break="symbol")
    plain = graphreach(graph, candidates, budget, hops=hops, screened=screened, tie_break="symbol", lazy=False)
    assert lazy.genes == plain.genes == _greedy_from(graph, candidates, budget, hops, screened)
    for i in range(budget):
        assert lazy.objective[i] == coverage(graph, screened + lazy.genes[: i + 1], hops)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_maxspec_from_screened_and_required_equals_dense_greedy(direction):
    rng = np.random.default_rng(11)
    for trial in range(6):
        graph = random_graph(rng, int(rng.integers(10, 40)), 0.1)
        dense_p = dense_operator(graph)
        drawn = list(rng.choice(graph.genes, size=9, replace=False))
        screened, required, candidates = drawn[:2], drawn[2:3], drawn[2:]
        hops = trial % 2 + 1
        sel = maxspec(graph, candidates, 4, hops=hops, direction=direction, screened=screened, required=required)
        assert sel.params["start_objective"] == pytest.approx(
            dense_criterion(graph, dense_p, screened, hops), rel=1e-10
        )
        assert sel.genes[0] == required[0]
        chosen = list(required)
        for pick in sel.genes[1:]:
            # candidates that reach no new node leave c unchanged and are not evaluated (maxspec docs)
            reached = coverage(graph, screened + chosen, hops)
            values = {
                v: dense_criterion(graph, dense_p, screened + chosen + [v], hops)
                for v in candidates
                if v not in chosen and coverage(graph, screened + chosen + [v], hops) > reached
            }
            if not values:
                break
            best = max(values.values()) if direction == "maximize" else min(values.values())
            assert values[pick] == pytest.approx(best, rel=1e-9)
            chosen.append(pick)
        for i in range(4):
            expected = dense_criterion(graph, dense_p, screened + sel.genes[: i + 1], hops)
            assert sel.objective[i] == pytest.approx(expected, rel=1e-10)
        np.testing.assert_allclose(np.diff(sel.objective, prepend=sel.params["start_objective"]), sel.gains)


def test_maxspec_on_pairs_uses_the_union_of_fields():
    rng = np.random.default_rng(5)
    graph = random_graph(rng, 30, 0.1)
    dense_p = dense_operator(graph)
    genes = list(rng.choice(graph.genes, size=8, replace=False))
    pairs = [f"{a}+{b}" for a, b in zip(genes[::2], genes[1::2])]
    sel = maxspec(graph, pairs, 2, hops=1)
    union = [g for pair in sel.genes[:1] for g in pair.split("+")]
    assert sel.objective[0] == pytest.approx(dense_criterion(graph, dense_p, union, 1), rel=1e-10)
    values = {p: dense_criterion(graph, dense_p, p.split("+"), 1) for p in pairs}
    assert values[sel.genes[0]] == pytest.approx(max(values.values()), rel=1e-9)
