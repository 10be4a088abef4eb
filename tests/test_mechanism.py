"""evaluation.mechanism on a hand-made graph: receptive-field coverage and the unreached propagation weight
checked against values worked out by hand and against a dense numpy computation of GEARS's operator."""

import numpy as np
import pandas as pd
import pytest

from perturb_select.evaluation.mechanism import binned_by_share, field_coverage, reached_nodes, unreached_weight
from perturb_select.io import InputError
from perturb_select.knowledge.graph import KnowledgeGraph

# A -> B <- C (weight 0.5), D -> E <- F, E -> G: R_1(B) = {A, B, C}, R_1(E) = {D, E, F}, R_1(G) = {E, G},
# R_1 of a source is itself. Weighted in-degree + 1: B 2.5, E 3, G 2, the others 1.
EDGES = [("A", "B", 1.0), ("C", "B", 0.5), ("D", "E", 1.0), ("F", "E", 1.0), ("E", "G", 1.0)]


@pytest.fixture
def graph():
    return KnowledgeGraph.from_edges(pd.DataFrame(EDGES, columns=["source", "target", "importance"]))


def dense_operator(graph):
    """GEARS's SGC operator written out densely: D^-1/2 (A^T + I) D^-1/2, D the row sums of A^T + I."""
    a = graph.adjacency.toarray().astype(np.float64)
    m = a.T + np.eye(len(a))
    d = m.sum(axis=1)
    return m / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]


def test_reached_nodes_is_the_union_of_the_picks_fields(graph):
    names = lambda mask: sorted(graph.genes[mask].tolist())  # noqa: E731
    assert names(reached_nodes(graph, ["B"], 1)) == ["A", "B", "C"]
    assert names(reached_nodes(graph, ["B", "G"], 1)) == ["A", "B", "C", "E", "G"]
    assert names(reached_nodes(graph, ["G"], 2)) == ["D", "E", "F", "G"]
    assert names(reached_nodes(graph, ["B"], 0)) == ["B"]
    assert not reached_nodes(graph, [], 1).any()


def test_field_coverage_by_hand(graph):
    # picks {A}: B's field {A, B, C} has A trained -> 1/3; E's field {D, E, F} nothing -> 0; A itself -> 1
    np.testing.assert_allclose(field_coverage(graph, ["B", "E", "A"], ["A"], 1), [1 / 3, 0.0, 1.0])
    # picks {G}: U = {E, G}; E's field {D, E, F} -> 1/3 (its own node counts); B -> 0
    np.testing.assert_allclose(field_coverage(graph, ["E", "B"], ["G"], 1), [1 / 3, 0.0])
    # K = 2: R_2(G) = {D, E, F, G}; picks {E}: U = {D, E, F} -> 3/4
    np.testing.assert_allclose(field_coverage(graph, ["G"], ["E"], 2), [0.75])
    # a combination counts the union of its genes' fields: R_1(B + E) has 6 nodes, picks {A, D}: 2 of them
    np.testing.assert_allclose(field_coverage(graph, ["B+E"], ["A", "D"], 1), [2 / 6])
    np.testing.assert_allclose(field_coverage(graph, ["B", "E"], [], 1), [0.0, 0.0])
    assert field_coverage(graph, [], ["A"], 1).shape == (0,)


def test_unreached_weight_by_hand(graph):
    # row B of P: B 1/2.5, A 1/sqrt(2.5), C 0.5/sqrt(2.5); picks {A}: the weight of B and C is unreached
    b, a, c = 1 / 2.5, 1 / np.sqrt(2.5), 0.5 / np.sqrt(2.5)
    # row E of P: E 1/3, D and F 1/sqrt(3) each; picks {G}: U = {E, G}, D and F unreached
    e, d = 1 / 3, 1 / np.sqrt(3)
    got = unreached_weight(graph, ["B", "E", "A"], ["A", "G"], 1)
    np.testing.assert_allclose(got, [(b + c) / (a + b + c), 2 * d / (e + 2 * d), 0.0])
    np.testing.assert_allclose(unreached_weight(graph, ["B"], [], 1), [1.0])
    np.testing.assert_allclose(unreached_weight(graph, ["B"], ["B"], 1), [0.0])


def test_unreached_weight_equals_a_dense_matrix_power(graph):
    p = dense_operator(graph)
    genes = graph.genes.tolist()
    for hops in (0, 1, 2, 3):
        power = np.linalg.matrix_power(p, hops)
        for picks in (["A"], ["E"], ["B", "D"], []):
            reached = reached_nodes(graph, picks, hops)
            expected = power[:, ~reached].sum(axis=1) / power.sum(axis=1)
            np.testing.assert_allclose(unreached_weight(graph, genes, picks, hops), expected, atol=1e-12)
            # the support of a row of P^K is the receptive field: coverage counts the same nodes
            fields = power != 0
            np.testing.assert_allclose(
                field_coverage(graph, genes, picks, hops), (fields & reached).sum(axis=1) / fields.sum(axis=1)
            )
    # a combination weighs the sum of its genes' rows
    b, e = graph.index_of(["B", "E"])
    row = p[b] + p[e]
    reached = reached_nodes(graph, ["A", "G"], 1)
    np.testing.assert_allclose(unreached_weight(graph, ["B+E"], ["A", "G"], 1), [row[~reached].sum() / row.sum()])


def test_errors(graph):
    with pytest.raises(InputError, match="not nodes"):
        field_coverage(graph, ["Z"], ["A"], 1)
    with pytest.raises(InputError, match="not nodes"):
        unreached_weight(graph, ["B"], ["Z"], 1)
    with pytest.raises(InputError, match="not nodes"):
        unreached_weight(graph, ["Z"], ["A"], 1)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="hops"):
            field_coverage(graph, ["B"], [], bad)
        with pytest.raises(ValueError, match="hops"):
            unreached_weight(graph, ["B"], ["A"], bad)


def test_binned_by_share_counts_and_means():
    share = np.array([0.0, 0.1, 0.5, 1.0, 0.8, 0.79])
    errors = {"m1": np.array([1.0, 3.0, 5.0, 7.0, 9.0, np.nan]), "m2": np.arange(6.0)}
    table = binned_by_share(share, errors, share_name="coverage")
    assert table.columns.tolist() == ["coverage_from", "coverage_to", "n", "m1", "m2"]
    assert table["coverage_from"].tolist() == [0.0, 0.4, 0.6, 0.8]  # the empty bin [0.2, 0.4) is left out
    assert table["n"].tolist() == [2, 1, 1, 2]  # 1.0 falls in the closed last bin
    assert table["m1"].iloc[[0, 1, 3]].tolist() == [2.0, 5.0, 8.0]
    assert np.isnan(table["m1"].iloc[2])  # the only error of [0.6, 0.8) is NaN
    assert table["m2"].tolist() == [0.5, 2.0, 5.0, 3.5]
    with pytest.raises(ValueError, match="errors"):
        binned_by_share(share, {"m": np.zeros(3)})
    with pytest.raises(ValueError, match="outside"):
        binned_by_share(np.array([1.5]), {"m": np.zeros(1)})
    with pytest.raises(ValueError, match="increasing"):
        binned_by_share(share, errors, edges=(0.0, 0.5, 0.5, 1.0))
