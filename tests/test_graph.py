"""Tests of perturb_select.graph: receptive fields, GEARS's SGC operator, I/O, receptive-field subgraph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from perturb_select.io import InputError
from perturb_select.knowledge.graph import (
    KnowledgeGraph,
    in_neighbourhood,
    receptive_field_subgraph,
    receptive_fields,
    sgc_operator,
)

# Hand-made directed graph (edge s -> t: t receives from s), plus the isolated node f:
#
#   a --> b --> c --> d
#         |     ^     ^
#         |     e     |
#         +-----------+        (b -> d)
#
# R_0(v) = {v}
# R_1: a {a}  b {a,b}  c {b,c,e}  d {b,c,d}  e {e}  f {f}
# R_2: a {a}  b {a,b}  c {a,b,c,e}  d {a,b,c,d,e}  e {e}  f {f}
HAND_EDGES = pd.DataFrame(
    [("a", "b", 0.5), ("b", "c", 0.25), ("c", "d", 1.0), ("e", "c", 0.75), ("b", "d", 0.2)],
    columns=["source", "target", "importance"],
)
HAND_FIELDS = {
    0: {v: {v} for v in "abcdef"},
    1: {"a": {"a"}, "b": {"a", "b"}, "c": {"b", "c", "e"}, "d": {"b", "c", "d"}, "e": {"e"}, "f": {"f"}},
    2: {
        "a": {"a"},
        "b": {"a", "b"},
        "c": {"a", "b", "c", "e"},
        "d": {"a", "b", "c", "d", "e"},
        "e": {"e"},
        "f": {"f"},
    },
}


def hand_graph() -> KnowledgeGraph:
    return KnowledgeGraph.from_edges(HAND_EDGES, genes=["f"])


def random_graph(rng: np.random.Generator, n: int, p: float) -> KnowledgeGraph:
    """Random directed graph on nodes g000.. with edge probability p and weights in (0, 1]."""
    mask = rng.random((n, n)) < p
    np.fill_diagonal(mask, False)
    s, t = np.nonzero(mask)
    names = np.array([f"g{i:03d}" for i in range(n)], dtype=object)
    edges = pd.DataFrame({"source": names[s], "target": names[t], "importance": 1.0 - rng.random(len(s))})
    return KnowledgeGraph.from_edges(edges, genes=names)


def field_sets(graph: KnowledgeGraph, hops: int) -> dict[str, set[str]]:
    fields = receptive_fields(graph, np.arange(graph.n_nodes), hops)
    return {graph.genes[i]: set(graph.genes[fields[i].indices]) for i in range(graph.n_nodes)}


def test_hand_graph_nodes_and_edges():
    graph = hand_graph()
    assert list(graph.genes) == list("abcdef")
    assert graph.n_edges == 5
    assert graph.adjacency[graph.index_of(["e"])[0], graph.index_of(["c"])[0]] == pytest.approx(0.75)
    assert graph.adjacency.dtype == np.float32


@pytest.mark.parametrize("hops", [0, 1, 2])
def test_receptive_fields_hand_checked(hops):
    graph = hand_graph()
    fields = receptive_fields(graph, np.arange(6), hops)
    assert fields.shape == (6, 6) and fields.dtype == bool
    assert field_sets(graph, hops) == HAND_FIELDS[hops]


def test_receptive_fields_of_a_subset_keep_the_given_order():
    graph = hand_graph()
    nodes = graph.index_of(["d", "a", "d"])
    fields = receptive_fields(graph, nodes, 1)
    assert [set(graph.genes[fields[i].indices]) for i in range(3)] == [
        {"b", "c", "d"},
        {"a"},
        {"b", "c", "d"},
    ]


def test_receptive_fields_stop_growing_at_their_fixed_point():
    """`design --hops 100000` once ran 100,000 sparse products; past the graph's depth none adds a node."""
    import scipy.sparse as sp

    from perturb_select.knowledge.graph import _grow_fields, _receive_operator

    graph = hand_graph()
    start = sp.identity(6, dtype=np.int32, format="csr")
    grown, steps = _grow_fields(start, _receive_operator(graph.adjacency), 10**9)
    assert steps == 3  # two steps grow the fields (HAND_FIELDS), the third adds nothing
    assert field_sets(graph, 10**9) == field_sets(graph, steps) == field_sets(graph, 2)
    assert grown.astype(bool).toarray().tolist() == receptive_fields(graph, np.arange(6), 2).toarray().tolist()


def test_receptive_fields_reject_negative_hops():
    with pytest.raises(ValueError, match="hops"):
        receptive_fields(hand_graph(), np.arange(2), -1)


def test_receptive_fields_match_breadth_first_search_on_random_graphs():
    rng = np.random.default_rng(11)
    for _ in range(20):
        graph = random_graph(rng, int(rng.integers(2, 30)), float(rng.uniform(0.02, 0.3)))
        into = {v: set() for v in graph.genes}
        for s, t in zip(*graph.adjacency.nonzero()):
            into[graph.genes[t]].add(graph.genes[s])
        for hops in range(4):
            fields = field_sets(graph, hops)
            for v in graph.genes:
                reached, frontier = {v}, {v}
                for _ in range(hops):
                    frontier = set().union(*(into[u] for u in frontier)) - reached
                    reached |= frontier
                assert fields[v] == reached


def test_in_neighbourhood_is_the_union_of_receptive_fields():
    rng = np.random.default_rng(5)
    for _ in range(30):
        graph = random_graph(rng, int(rng.integers(1, 40)), float(rng.uniform(0.0, 0.2)))
        nodes = rng.choice(graph.n_nodes, size=int(rng.integers(1, graph.n_nodes + 1)), replace=False)
        for hops in range(4):
            union = np.asarray(receptive_fields(graph, nodes, hops).sum(axis=0)).ravel() > 0
            np.testing.assert_array_equal(in_neighbourhood(graph, nodes, hops), union)


def test_in_neighbourhood_hand_checked():
    graph = hand_graph()
    mask = in_neighbourhood(graph, graph.index_of(["c", "f"]), 1)
    assert set(graph.genes[mask]) == {"b", "c", "e", "f"}


def test_sgc_operator_hand_checked():
    # d[t] = 1 + weighted in-degree: a 1, b 1.5, c 2.0, d 2.2, e 1, f 1; P[t, s] = w(s->t) / sqrt(d_t d_s)
    graph = hand_graph()
    P = sgc_operator(graph).toarray()
    i = {g: k for k, g in enumerate(graph.genes)}
    assert P[i["c"], i["e"]] == pytest.approx(0.75 / np.sqrt(2.0 * 1.0))
    assert P[i["d"], i["c"]] == pytest.approx(1.0 / np.sqrt(2.2 * 2.0))
    assert P[i["d"], i["d"]] == pytest.approx(1 / 2.2)
    assert P[i["c"], i["d"]] == 0.0  # c does not receive from d
    assert P[i["f"], i["f"]] == 1.0
    assert np.count_nonzero(P) == 5 + 6


def _dense_pyg_operator(graph: KnowledgeGraph) -> np.ndarray:
    """Dense P from PyG's gcn_norm: SGConv does out[target] += norm * x[source]."""
    torch = pytest.importorskip("torch")
    gcn_conv = pytest.importorskip("torch_geometric.nn.conv.gcn_conv")
    coo = graph.adjacency.tocoo()
    edge_index = torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    weight = torch.tensor(coo.data, dtype=torch.float64)
    index, norm = gcn_conv.gcn_norm(edge_index, weight, graph.n_nodes, add_self_loops=True)
    dense = np.zeros((graph.n_nodes, graph.n_nodes))
    np.add.at(dense, (index[1].numpy(), index[0].numpy()), norm.numpy())
    return dense


def test_sgc_operator_equals_pyg_gcn_norm():
    rng = np.random.default_rng(3)
    graphs = [hand_graph()] + [random_graph(rng, int(rng.integers(2, 40)), 0.15) for _ in range(10)]
    for graph in graphs:
        np.testing.assert_allclose(sgc_operator(graph).toarray(), _dense_pyg_operator(graph), rtol=1e-6)


def test_sgc_operator_propagates_like_pyg_sgconv():
    torch = pytest.importorskip("torch")
    conv_module = pytest.importorskip("torch_geometric.nn")
    graph = random_graph(np.random.default_rng(8), 25, 0.2)
    coo = graph.adjacency.tocoo()
    conv = conv_module.SGConv(3, 3, K=1, bias=False)
    with torch.no_grad():
        conv.lin.weight.copy_(torch.eye(3))
    x = np.random.default_rng(9).normal(size=(graph.n_nodes, 3))
    out = conv(
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.long),
        torch.tensor(coo.data, dtype=torch.float32),
    )
    np.testing.assert_allclose(out.detach().numpy(), sgc_operator(graph) @ x, rtol=1e-4, atol=1e-5)


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    graph = KnowledgeGraph.from_edges(random_graph(rng, 30, 0.1).to_edges())  # no isolated nodes
    path = tmp_path / "graph.tsv"
    graph.write(path)
    back = KnowledgeGraph.read(path)
    np.testing.assert_array_equal(back.genes, graph.genes)
    diff = back.adjacency - graph.adjacency
    assert diff.nnz == 0 or np.abs(diff.data).max() < 1e-6  # written with 6 significant digits
    assert back.adjacency.nnz == graph.adjacency.nnz
    table = pd.read_csv(path, sep="\t")
    assert list(table.columns) == ["source", "target", "importance"]
    # a .npz path gets the container, as read reads it: the same graph exactly
    graph.write(tmp_path / "graph.npz")
    same = KnowledgeGraph.read(tmp_path / "graph.npz")
    np.testing.assert_array_equal(same.genes, graph.genes)
    assert (same.adjacency != graph.adjacency).nnz == 0
    assert len(table) == graph.n_edges


def test_from_edges_drops_self_loops_and_rejects_duplicates():
    edges = pd.DataFrame([("a", "a", 1.0), ("a", "b", 0.5)], columns=["source", "target", "importance"])
    graph = KnowledgeGraph.from_edges(edges)
    assert graph.n_edges == 1
    duplicated = pd.concat([edges, edges.iloc[[1]]])
    with pytest.raises(ValueError, match="duplicate"):
        KnowledgeGraph.from_edges(duplicated)


def test_to_edges_round_trips_hand_graph():
    back = hand_graph().to_edges()
    merged = back.merge(HAND_EDGES, on=["source", "target"], suffixes=("", "_in"))
    assert len(merged) == len(HAND_EDGES) == len(back)
    np.testing.assert_allclose(merged["importance"], merged["importance_in"], rtol=1e-7)


def test_read_missing_column(tmp_path):
    path = tmp_path / "edges.tsv"
    path.write_text("source\ttarget\tweight\na\tb\t0.5\n")
    with pytest.raises(InputError) as error:
        KnowledgeGraph.read(path)
    assert error.value.field == "importance" and error.value.source == str(path)


@pytest.mark.parametrize("value", ["0", "1.5", "-0.1", "high"])
def test_read_importance_out_of_range(tmp_path, value):
    path = tmp_path / "edges.tsv"
    path.write_text(f"source\ttarget\timportance\na\tb\t0.5\nb\tc\t{value}\n")
    with pytest.raises(InputError) as error:
        KnowledgeGraph.read(path)
    assert error.value.field == "importance"


def test_receptive_field_subgraph_hand_checked():
    sub = receptive_field_subgraph(hand_graph(), ["d"], 1)
    # inside = R_1(d) = {b, c, d}; every edge into them is kept, bringing sources a and e along
    assert list(sub.genes) == ["a", "b", "c", "d", "e"]
    assert set(zip(sub.to_edges()["source"], sub.to_edges()["target"])) == {
        ("a", "b"),
        ("b", "c"),
        ("e", "c"),
        ("c", "d"),
        ("b", "d"),
    }
    sub0 = receptive_field_subgraph(hand_graph(), ["a", "f"], 0)
    assert list(sub0.genes) == ["a", "f"] and sub0.n_edges == 0


def test_receptive_field_subgraph_keeps_in_edges_and_sgc_embeddings():
    rng = np.random.default_rng(21)
    for _ in range(15):
        graph = random_graph(rng, int(rng.integers(5, 60)), float(rng.uniform(0.02, 0.15)))
        genes = list(rng.choice(graph.genes, size=int(rng.integers(1, 4)), replace=False))
        for hops in (1, 2, 3):
            sub = receptive_field_subgraph(graph, genes, hops)
            inside = graph.genes[in_neighbourhood(graph, graph.index_of(genes), hops)]
            whole_in = graph.adjacency.T.tocsr()
            sub_in = sub.adjacency.T.tocsr()
            for v in inside:  # same in-edges (hence same degree) for every node within K hops
                row_whole = whole_in[graph.index_of([v])[0]]
                row_sub = sub_in[sub.index_of([v])[0]]
                assert set(graph.genes[row_whole.indices]) == set(sub.genes[row_sub.indices])
                np.testing.assert_allclose(np.sort(row_whole.data), np.sort(row_sub.data))
            # K SGC layers give the genes the same embeddings on the subgraph as on the whole graph
            x_whole = rng.normal(size=(graph.n_nodes, 2))
            x_sub = x_whole[graph.index_of(sub.genes)]
            P, Q = sgc_operator(graph), sgc_operator(sub)
            for _ in range(hops):
                x_whole, x_sub = P @ x_whole, Q @ x_sub
            np.testing.assert_allclose(
                x_sub[sub.index_of(genes)], x_whole[graph.index_of(genes)], rtol=1e-10, atol=1e-12
            )


def test_subgraph_induces_edges():
    sub = hand_graph().subgraph(["b", "c", "d"])
    assert list(sub.genes) == ["b", "c", "d"]
    assert sub.n_edges == 3
    assert isinstance(sub.adjacency, sp.csr_matrix)


def test_read_names_the_file_for_duplicate_edges(tmp_path):
    path = tmp_path / "dup.tsv"
    path.write_text("source\ttarget\timportance\nA\tB\t0.5\nA\tB\t0.4\n")
    with pytest.raises(InputError, match=r"dup.tsv, field 'source, target': .*duplicate"):
        KnowledgeGraph.read(path)


def test_truncated_graph_file_is_an_error(tmp_path):
    from perturb_select.io import InputError

    graph = KnowledgeGraph.from_edges(
        pd.DataFrame({"source": ["A", "B", "C"], "target": ["B", "C", "A"], "importance": [0.5, 0.25, 0.75]})
    )
    path = tmp_path / "g.tsv"
    graph.write(path)
    assert KnowledgeGraph.read(path).n_edges == 3
    text = path.read_bytes()
    cut = tmp_path / "cut.tsv"
    cut.write_bytes(text[:-3])  # inside the last row: "0.7" parses, but the row is incomplete
    with pytest.raises(InputError, match="cut.tsv.*truncated"):
        KnowledgeGraph.read(cut)
    (tmp_path / "empty.tsv").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        KnowledgeGraph.read(tmp_path / "empty.tsv")
