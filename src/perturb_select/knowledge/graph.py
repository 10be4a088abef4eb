"""The GO knowledge graph as a sparse matrix: receptive fields, GEARS's SGC operator, subgraphs.

Conventions (kept the same everywhere in the package):

* Nodes are gene symbols, sorted, indexed 0..n-1 (``KnowledgeGraph.genes``).
* ``adjacency[s, t] = importance`` of the directed edge ``s -> t`` (``source, target, importance`` of
  GEARS's ``go_essential_*.csv``). GEARS's ``GeneSimNetwork`` turns the same table into
  ``edge_index = [source, target]`` and PyG aggregates messages at the target, so a node *receives*
  from its sources: for the Jaccard graph, the target's top-k most similar genes.
* Receptive field ``R_K(v)``: ``v`` plus every node with a directed path of length <= K into ``v``:
  the nodes whose perturbation embeddings reach ``v`` through K SGC layers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..io import InputError, load_container, read_tsv, save_container, write_tsv

EDGE_COLUMNS = ("source", "target", "importance")
GRAPH_NPZ_FORMAT = "perturb-select knowledge graph v1"


@dataclass(frozen=True)
class KnowledgeGraph:
    """A directed, weighted gene graph.

    Attributes
    ----------
    genes : numpy.ndarray of str, shape (n,)
        Node names, sorted and unique.
    adjacency : scipy.sparse.csr_matrix, shape (n, n), float32
        ``adjacency[s, t]`` is the weight of edge ``s -> t``; no self-loops.
    """

    genes: np.ndarray
    adjacency: sp.csr_matrix
    _index: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        n = len(self.genes)
        if self.adjacency.shape != (n, n):
            raise ValueError(f"adjacency shape {self.adjacency.shape} does not match {n} genes")
        object.__setattr__(self, "_index", {g: i for i, g in enumerate(self.genes)})

    @property
    def n_nodes(self) -> int:
        return len(self.genes)

    @property
    def n_edges(self) -> int:
        return int(self.adjacency.nnz)

    def __contains__(self, gene: str) -> bool:
        return gene in self._index

    def index_of(self, genes: Iterable[str]) -> np.ndarray:
        """Node indices (int64) of ``genes``, in the given order.

        Raises
        ------
        KeyError
            Listing every gene that is not a node.
        """
        genes = list(genes)
        missing = [g for g in genes if g not in self._index]
        if missing:
            raise KeyError(f"{len(missing)} genes are not nodes of the graph: {missing[:10]}")
        return np.fromiter((self._index[g] for g in genes), dtype=np.int64, count=len(genes))

    @classmethod
    def from_edges(cls, edges: pd.DataFrame, genes: Iterable[str] | None = None) -> "KnowledgeGraph":
        """Build from a ``source, target, importance`` table.

        ``genes`` adds isolated nodes (every endpoint is a node anyway). Self-loops are dropped (PyG's
        ``gcn_norm`` adds a weight-1 self-loop to every node, as GEARS relies on); duplicate edges
        raise ``ValueError``.
        """
        missing = [c for c in EDGE_COLUMNS if c not in edges.columns]
        if missing:
            raise ValueError(f"edge table lacks columns {missing}")
        edges = edges[edges["source"] != edges["target"]]
        names = set(edges["source"]).union(edges["target"])
        if genes is not None:
            names.update(genes)
        node_names = np.array(sorted(names), dtype=object)
        index = pd.Index(node_names)
        rows = index.get_indexer(edges["source"])
        cols = index.get_indexer(edges["target"])
        weights = edges["importance"].to_numpy(dtype=np.float32)
        n = len(node_names)
        adjacency = sp.csr_matrix((weights, (rows, cols)), shape=(n, n), dtype=np.float32)
        if adjacency.nnz != len(edges):
            raise ValueError("edge table has duplicate (source, target) pairs")
        adjacency.sort_indices()
        return cls(node_names, adjacency)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "KnowledgeGraph":
        """Read a tab-separated ``source, target, importance`` file (see ``write``), or a ``.npz`` (``save_npz``).

        Raises
        ------
        InputError
            If a column is missing or an importance is not a number in (0, 1].
        """
        if str(path).endswith(".npz"):
            return cls.read_npz(path)
        _check_complete_text(path)
        edges = read_tsv(path, dtype={"source": str, "target": str})
        for column in EDGE_COLUMNS:
            if column not in edges.columns:
                raise InputError(path, column, "column missing from the edge table")
        importance = pd.to_numeric(edges["importance"], errors="coerce")
        if importance.isna().any() or (importance <= 0).any() or (importance > 1).any():
            raise InputError(path, "importance", "every importance must be a number in (0, 1]")
        try:
            return cls.from_edges(edges)
        except ValueError as err:  # duplicate (source, target) pairs
            raise InputError(path, "source, target", str(err)) from None

    def to_edges(self) -> pd.DataFrame:
        """The ``source, target, importance`` table, sorted by target then source."""
        coo = self.adjacency.tocoo()
        order = np.lexsort((coo.row, coo.col))
        return pd.DataFrame(
            {
                "source": self.genes[coo.row[order]],
                "target": self.genes[coo.col[order]],
                "importance": coo.data[order].astype(np.float64),
            }
        )

    def write(self, path: str | os.PathLike) -> None:
        """Write the edge table as TSV, atomically (9 significant digits: float32 weights round-trip); a path
        ending in ``.npz`` gets the container (``save_npz``), as ``read`` reads it."""
        if str(path).endswith(".npz"):
            self.save_npz(path)
            return
        write_tsv(self.to_edges(), path, float_format="%.9g")

    def save_npz(self, path: str | os.PathLike) -> None:
        """Write the graph as a container (:func:`perturb_select.io.save_container`: genes and the CSR
        arrays, no pickles), atomically.

        Reading it (``read_npz``) takes milliseconds where parsing the 409,214-edge TSV takes ~0.6 s: the
        pipeline writes it once beside the TSV for the many jobs that read the graph.
        """
        adjacency = self.adjacency.tocsr()
        save_container(
            path,
            GRAPH_NPZ_FORMAT,
            {
                "genes": np.asarray(self.genes).astype(str),
                "data": adjacency.data.astype(np.float32),
                "indices": adjacency.indices.astype(np.int32),
                "indptr": adjacency.indptr.astype(np.int64),
            },
        )

    @classmethod
    def read_npz(cls, path: str | os.PathLike) -> "KnowledgeGraph":
        """Read a file written by ``save_npz``.

        Raises
        ------
        InputError
            If the file is not such a file or its arrays are inconsistent.
        """
        arrays, _ = load_container(path, GRAPH_NPZ_FORMAT, ("genes", "data", "indices", "indptr"))
        genes = arrays["genes"].astype(object)
        n = len(genes)
        _check_csr_arrays(path, n, arrays["data"], arrays["indices"], arrays["indptr"])
        try:
            adjacency = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n, n))
        except ValueError as err:
            raise InputError(path, None, f"unreadable graph file: {err}") from None
        if n and np.any(genes[1:] <= genes[:-1]):
            raise InputError(path, "genes", "node names must be sorted and unique")
        if adjacency.nnz and (adjacency.data.min() <= 0 or adjacency.data.max() > 1):
            raise InputError(path, "data", "every importance must be a number in (0, 1]")
        return cls(genes, adjacency)

    def subgraph(self, genes: Iterable[str]) -> "KnowledgeGraph":
        """The graph induced on ``genes`` (edges with both ends in ``genes``)."""
        idx = np.sort(self.index_of(set(genes)))
        adjacency = self.adjacency[idx][:, idx].tocsr()
        return KnowledgeGraph(self.genes[idx], adjacency)


def _check_csr_arrays(path, n: int, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> None:
    """The CSR arrays of an n x n graph are consistent, checked before scipy sees them (scipy trusts them:
    an index out of range or a decreasing ``indptr`` makes later operations read or write out of bounds)."""
    for name, array in (("indices", indices), ("indptr", indptr)):
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise InputError(path, name, f"must be a 1-d integer array, got {array.dtype} of shape {array.shape}")
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.number):
        raise InputError(path, "data", f"must be a 1-d numeric array, got {data.dtype} of shape {data.shape}")
    if len(indptr) != n + 1:
        raise InputError(path, "indptr", f"has {len(indptr)} entries for {n} nodes (needs {n + 1})")
    if len(indices) != len(data):
        raise InputError(path, "indices", f"has {len(indices)} entries but data has {len(data)}")
    if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        raise InputError(path, "indptr", f"must rise from 0 to {len(indices)} without decreasing")
    if len(indices) and (indices.min() < 0 or indices.max() >= n):
        raise InputError(path, "indices", f"node indices must lie in [0, {n}), got {indices.min()}..{indices.max()}")
    if not np.all(np.isfinite(data)):
        raise InputError(path, "data", "every importance must be a finite number")


def _check_complete_text(path) -> None:
    """A table written by ``write`` ends with a newline; one that does not was cut short (copy, disk full)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            if size == 0:
                raise InputError(path, None, "empty file")
            handle.seek(size - 1)
            last = handle.read(1)
    except OSError as err:
        raise InputError(path, None, f"cannot read the graph file: {err}") from None
    if last != b"\n":
        raise InputError(path, None, "truncated: the file does not end with a newline (an incomplete last row)")


def _receive_operator(adjacency: sp.csr_matrix) -> sp.csr_matrix:
    """Boolean ``B`` (n, n) with ``B[v, u] = 1`` iff ``u -> v`` is an edge or ``u == v``."""
    n = adjacency.shape[0]
    pattern = (adjacency.T != 0).astype(np.int32) + sp.identity(n, dtype=np.int32, format="csr")
    return (pattern != 0).astype(np.int32).tocsr()


def receptive_fields(graph: KnowledgeGraph, nodes: np.ndarray, hops: int) -> sp.csr_matrix:
    """Receptive-field incidence of ``nodes``.

    Parameters
    ----------
    graph : KnowledgeGraph
    nodes : array of int, shape (m,)
        Node indices.
    hops : int
        K >= 0, GEARS's ``num_go_gnn_layers``.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (m, n), bool
        Row i holds ``R_K(nodes[i])``: ``nodes[i]`` and every node with a directed path of length
        <= K into it.
    """
    if hops < 0:
        raise ValueError(f"hops must be >= 0, got {hops}")
    nodes = np.asarray(nodes, dtype=np.int64)
    n = graph.n_nodes
    reach = sp.csr_matrix((np.ones(len(nodes), dtype=np.int32), (np.arange(len(nodes)), nodes)), shape=(len(nodes), n))
    if hops:
        reach, _ = _grow_fields(reach, _receive_operator(graph.adjacency), hops)
    reach = reach.astype(bool)
    reach.sort_indices()
    return reach


def _grow_fields(reach: sp.csr_matrix, receive: sp.csr_matrix, hops: int) -> tuple[sp.csr_matrix, int]:
    """``reach`` grown by up to ``hops`` steps of ``receive`` (``[u, s] = 1`` iff ``s -> u`` or ``s == u``);
    returns it and the steps taken. A step that adds no node is a fixed point (the self-loop keeps every
    node), so growing stops there: a K beyond the graph's depth costs nothing more."""
    for step in range(1, hops + 1):
        grown = (reach @ receive).tocsr()
        grown.data[:] = 1  # path counts -> reachability (int32: counts reach degree^K)
        if grown.nnz == reach.nnz:
            return grown, step
        reach = grown
    return reach, hops


#: Joins the genes of a combinatorial perturbation, as in GEARS's conditions (``'CBL+CNN1'``).
PAIR_SEPARATOR = "+"


def perturbation_genes(perturbation: str) -> tuple[str, ...]:
    """The genes of a perturbation name: ``'A'`` -> ``('A',)``, ``'A+B'`` -> ``('A', 'B')``."""
    return tuple(str(perturbation).split(PAIR_SEPARATOR))


def perturbation_fields(
    graph: KnowledgeGraph, perturbations: Sequence[str], hops: int, source: str = "budget"
) -> sp.csr_matrix:
    """Receptive-field incidence of perturbations, single genes or combinations (``'A+B'``).

    A combination perturbs every one of its genes at once, so it trains the union of their receptive
    fields: ``R_K(A+B) = R_K(A) | R_K(B)``. GraphReach over such rows is still maximum coverage
    (monotone, submodular), now over experiments.

    Parameters
    ----------
    graph : KnowledgeGraph
    perturbations : sequence of str, length m
        Gene names joined by :data:`PAIR_SEPARATOR`; every gene a node of ``graph``.
    hops : int
        K >= 0.
    source : str
        Names the option or config key in ``InputError`` messages.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (m, graph.n_nodes), bool
        Row i is the union of ``R_K(g)`` over the genes ``g`` of ``perturbations[i]`` (sorted indices).

    Raises
    ------
    InputError
        Field ``candidates``: a gene that is not a node (or an empty gene name, e.g. ``'A+'``).
    """
    members = [perturbation_genes(p) for p in perturbations]
    genes = sorted({g for genes_of in members for g in genes_of})
    missing = [g for g in genes if g not in graph]
    if missing:
        raise InputError(
            source, "candidates", f"{len(missing)} perturbed genes are not nodes of the graph: {missing[:10]}"
        )
    if all(len(genes_of) == 1 for genes_of in members):  # singles: one row per node, in order
        return receptive_fields(graph, graph.index_of([g[0] for g in members]), hops)
    position = {g: i for i, g in enumerate(genes)}
    single = receptive_fields(graph, graph.index_of(genes), hops).astype(np.int32)
    rows = np.repeat(np.arange(len(members)), [len(genes_of) for genes_of in members])
    columns = np.array([position[g] for genes_of in members for g in genes_of], dtype=np.int64)
    membership = sp.csr_matrix((np.ones(rows.size, dtype=np.int32), (rows, columns)), shape=(len(members), len(genes)))
    fields = (membership @ single).astype(bool).tocsr()
    fields.sort_indices()
    return fields


def covered_by(fields: sp.csr_matrix, n_nodes: int) -> np.ndarray:
    """Boolean mask (n_nodes,) of the union of the rows of ``fields``."""
    mask = np.zeros(n_nodes, dtype=bool)
    mask[fields.indices] = True
    return mask


def in_neighbourhood(graph: KnowledgeGraph, nodes: np.ndarray, hops: int) -> np.ndarray:
    """Boolean mask (n,) of the union of ``R_K(v)`` over ``nodes`` (breadth-first, O(edges))."""
    receive = graph.adjacency.T.tocsr()  # row v lists the sources of edges into v
    mask = np.zeros(graph.n_nodes, dtype=bool)
    frontier = np.unique(np.asarray(nodes, dtype=np.int64))
    mask[frontier] = True
    for _ in range(hops):
        if frontier.size == 0:
            break
        sources = np.unique(receive[frontier].indices)
        frontier = sources[~mask[sources]]
        mask[frontier] = True
    return mask


def sgc_operator(graph: KnowledgeGraph) -> sp.csr_matrix:
    """GEARS's propagation operator ``P = D^-1/2 (A^T + I) D^-1/2`` (float64, shape (n, n)).

    ``(P x)[t] = sum_s P[t, s] x[s]``, with ``d[t] = 1 + sum_s adjacency[s, t]`` (weighted in-degree
    plus the self-loop). This is PyG's ``gcn_norm`` with ``add_self_loops=True`` as used by the
    ``SGConv(hidden, hidden, K=1)`` layers of GEARS's GO-graph GNN (``gears/model.py``).
    """
    n = graph.n_nodes
    a_t = graph.adjacency.T.astype(np.float64).tocsr()
    propagation = a_t + sp.identity(n, dtype=np.float64, format="csr")
    degree = np.asarray(propagation.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(degree))
    return (scale @ propagation @ scale).tocsr()


def propagation_rows(graph: KnowledgeGraph, genes: Iterable[str], hops: int, unit: bool = True) -> sp.csr_matrix:
    """The rows of ``P^K`` of ``genes`` (:func:`sgc_operator`): how GEARS's K SGC layers weight every node's
    embedding in each gene's propagated embedding.

    Parameters
    ----------
    graph : KnowledgeGraph
    genes : iterable of str, length m
        Nodes of ``graph``.
    hops : int
        K >= 0 (GEARS's ``num_go_gnn_layers``).
    unit : bool, default True
        Scale every row to unit Euclidean length (then ``rows @ rows.T`` has a unit diagonal).

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (m, graph.n_nodes)
        Row i is non-zero exactly on ``R_K(genes[i])`` (:func:`receptive_fields`), sorted indices.

    Raises
    ------
    KeyError
        A gene that is not a node.
    ValueError
        ``hops`` not an integer >= 0.
    """
    if isinstance(hops, bool) or not isinstance(hops, (int, np.integer)) or hops < 0:
        raise ValueError(f"hops must be an integer >= 0, got {hops!r}")
    idx = graph.index_of([str(g) for g in genes])
    rows = sp.csr_matrix((np.ones(len(idx)), (np.arange(len(idx)), idx)), shape=(len(idx), graph.n_nodes))
    if hops:
        operator = sgc_operator(graph)
        for _ in range(int(hops)):
            rows = (rows @ operator).tocsr()
    if unit:
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        rows = (sp.diags(1.0 / norms) @ rows).tocsr()
    rows.sort_indices()
    return rows


def perturbation_propagation(
    graph: KnowledgeGraph, perturbations: Sequence[str], hops: int, unit: bool = True, source: str = "budget"
) -> sp.csr_matrix:
    """Propagated rows of perturbations, single genes or combinations ``'A+B'``: how GEARS's K SGC layers weight
    every node's embedding in each perturbation's (a combination sums its genes' embeddings).

    Parameters
    ----------
    graph : KnowledgeGraph
    perturbations : sequence of str, length m
        Gene names joined by :data:`PAIR_SEPARATOR`; every gene a node of ``graph``.
    hops : int
        K >= 0.
    unit : bool, default True
        Scale every row to unit length (the ``sgc_ridge`` and ``facility`` features); False: the rows of
        ``P^K`` themselves (their sums for combinations).
    source : str
        Names the option or config key in ``InputError`` messages.

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (m, graph.n_nodes)
        A single gene's row is its row of :func:`propagation_rows`; a combination's row is the sum of its genes'
        rows of ``P^K`` (then scaled, with ``unit``). Non-zero exactly on the receptive field ``R_K`` (union for a
        combination) when the edge weights are positive; sorted indices.

    Raises
    ------
    InputError
        Field ``candidates``: a gene that is not a node (or an empty gene name, e.g. ``'A+'``).
    ValueError
        ``hops`` not an integer >= 0.
    """
    members = [perturbation_genes(p) for p in perturbations]
    genes = sorted({g for genes_of in members for g in genes_of})
    missing = [g for g in genes if g not in graph]
    if missing:
        raise InputError(
            source, "candidates", f"{len(missing)} perturbed genes are not nodes of the graph: {missing[:10]}"
        )
    if all(len(genes_of) == 1 for genes_of in members):
        return propagation_rows(graph, [g[0] for g in members], hops, unit=unit)
    position = {g: i for i, g in enumerate(genes)}
    rows = propagation_rows(graph, genes, hops, unit=False)
    pairs = np.repeat(np.arange(len(members)), [len(genes_of) for genes_of in members])
    columns = np.array([position[g] for genes_of in members for g in genes_of], dtype=np.int64)
    membership = sp.csr_matrix((np.ones(pairs.size), (pairs, columns)), shape=(len(members), len(genes)))
    summed = (membership @ rows).tocsr()
    if unit:
        norms = np.sqrt(np.asarray(summed.multiply(summed).sum(axis=1)).ravel())
        summed = (sp.diags(1.0 / norms) @ summed).tocsr()
    summed.sort_indices()
    return summed


def compact_receptive_field(
    graph: KnowledgeGraph, genes: Iterable[str], hops: int
) -> tuple[KnowledgeGraph, np.ndarray]:
    """The receptive field of ``genes`` alone, with each boundary node's degree carried by a self-loop.

    ``receptive_field_subgraph`` keeps, for the nodes exactly ``hops`` away, every edge into them, only so
    that their degrees (which enter the SGC normalisation of their messages) stay right; the sources of
    those edges are nodes too, whose embeddings are computed and never used. Here those edges are
    dropped and each such boundary node ``s`` gets instead a self-loop of weight
    ``1 + sum of the dropped in-weights``. PyG's ``gcn_norm`` (``add_remaining_self_loops``) keeps an
    existing self-loop's weight instead of adding one of weight 1, so ``s``'s degree, and every
    message into the nodes within ``hops - 1`` of ``genes``, are those of the whole graph: the K-layer
    embeddings of ``genes`` are identical (tested on GEARS's model). Only the boundary nodes' own outputs
    change, and those are never used.

    Parameters
    ----------
    graph : KnowledgeGraph
    genes : iterable of str
        Perturbed genes (nodes).
    hops : int
        K >= 1, GEARS's ``num_go_gnn_layers``.

    Returns
    -------
    sub : KnowledgeGraph
        The nodes of ``R_K(genes)``, with the edges into nodes within ``hops - 1`` of ``genes``.
    self_loop : numpy.ndarray, shape (sub.n_nodes,), float32
        Self-loop weight to give each node (1.0 = PyG's default self-loop).
    """
    if hops < 1:
        raise ValueError(f"hops must be >= 1, got {hops}")
    idx = graph.index_of(genes)
    inside = in_neighbourhood(graph, idx, hops)
    interior = in_neighbourhood(graph, idx, hops - 1)
    nodes = np.flatnonzero(inside)
    remap = np.full(graph.n_nodes, -1, dtype=np.int64)
    remap[nodes] = np.arange(len(nodes))
    coo = graph.adjacency.tocoo()
    keep = interior[coo.col]  # every edge into an interior node starts within K hops
    adjacency = sp.csr_matrix(
        (coo.data[keep], (remap[coo.row[keep]], remap[coo.col[keep]])),
        shape=(len(nodes), len(nodes)),
        dtype=np.float32,
    )
    adjacency.sort_indices()
    in_weight = np.asarray(graph.adjacency.sum(axis=0), dtype=np.float64).ravel()
    self_loop = np.ones(len(nodes), dtype=np.float32)
    boundary = ~interior[nodes]
    self_loop[boundary] = (1.0 + in_weight[nodes[boundary]]).astype(np.float32)
    return KnowledgeGraph(graph.genes[nodes], adjacency), self_loop


def receptive_field_subgraph(graph: KnowledgeGraph, genes: Iterable[str], hops: int) -> KnowledgeGraph:
    """The smallest subgraph on which K SGC layers give ``genes`` the same embeddings as the whole graph.

    Keeps every edge whose target lies within ``hops`` of a gene in ``genes`` (inside the union of their
    receptive fields), so every node whose degree enters the computation keeps its whole in-degree
    (``sgc_operator``); the sources of those edges come along as nodes. Nodes outside cannot influence
    the embeddings of ``genes`` (tests/test_gears_cell_gears.py checks this on GEARS itself).
    """
    idx = graph.index_of(genes)
    inside = in_neighbourhood(graph, idx, hops)
    coo = graph.adjacency.tocoo()
    keep = inside[coo.col]
    rows, cols, data = coo.row[keep], coo.col[keep], coo.data[keep]
    nodes = np.union1d(np.flatnonzero(inside), rows)
    remap = np.full(graph.n_nodes, -1, dtype=np.int64)
    remap[nodes] = np.arange(len(nodes))
    adjacency = sp.csr_matrix((data, (remap[rows], remap[cols])), shape=(len(nodes), len(nodes)), dtype=np.float32)
    adjacency.sort_indices()
    return KnowledgeGraph(graph.genes[nodes], adjacency)
