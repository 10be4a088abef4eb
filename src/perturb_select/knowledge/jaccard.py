"""GEARS's GO graph computed sparsely: each gene's top-k most similar genes by Jaccard of GO terms.

:func:`jaccard_topk_edges` follows ``gears/utils.py::make_GO`` (same edges and weights, 162x faster on 2,000
genes, docs/benchmarks.md); :func:`graph_stats` summarises the table for ``go_jaccard.stats.json``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import GRAPH_K, GRAPH_THRESHOLD


def _term_matrix(gene_terms: Mapping[str, Iterable[str]], genes: Iterable[str] | None):
    """Sorted gene symbols and their gene x term binary csr matrix (int32)."""
    if genes is None:
        wanted = gene_terms.keys()
    else:
        wanted = {g for g in genes if g in gene_terms}
    sets = {}
    for gene in wanted:
        terms = gene_terms[gene]
        terms = {terms} if isinstance(terms, str) else set(terms)
        if terms:  # a gene without terms has no Jaccard similarity (0/0): never a node
            sets[gene] = terms
    symbols = sorted(sets)
    vocabulary: dict[str, int] = {}
    indptr = np.zeros(len(symbols) + 1, dtype=np.int64)
    indices = []
    for i, gene in enumerate(symbols):
        indices.extend(vocabulary.setdefault(t, len(vocabulary)) for t in sets[gene])
        indptr[i + 1] = len(indices)
    matrix = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.int32), np.asarray(indices, dtype=np.int32), indptr),
        shape=(len(symbols), len(vocabulary)),
    )
    return np.asarray(symbols, dtype=object), matrix


def jaccard_topk_edges(
    gene_terms: Mapping[str, Iterable[str]],
    *,
    k: int = GRAPH_K,
    threshold: float = GRAPH_THRESHOLD,
    genes: Iterable[str] | None = None,
    chunk_size: int = 512,
) -> pd.DataFrame:
    """GEARS's GO graph: each gene's top-k most similar other genes by Jaccard similarity of GO terms.

    Follows ``gears/utils.py::make_GO`` (``get_GO_edge_list``: Jaccard ``|a & b| / |a | b|`` of the
    GO-term sets, kept when ``> 0.1``) and ``get_similarity_network`` (per target, the
    ``nlargest(k + 1)`` edges, which there include the self-loop of weight 1). Here the gene itself is
    excluded and its k best *other* genes are kept; ties at the k-th place go to the source symbol
    that sorts first, so the table does not depend on input order.

    Computed sparsely, ``chunk_size`` target genes at a time: with ``M`` the gene x term binary
    matrix, ``M[chunk] @ M.T`` gives the integer intersections, unions are ``|a| + |b| - inter``, and
    Jaccard is their float64 quotient, bit-identical to Python's ``len(a & b) / len(a | b)``.

    Parameters
    ----------
    gene_terms : mapping of str to iterable of str
        Gene symbol -> GO IDs (e.g. from :func:`read_gene2go_symbols`). Genes without terms are
        ignored.
    k : int
        Sources kept per target (GEARS: ``num_similar_genes_go_graph=20``).
    threshold : float
        Keep similarities strictly above this (GEARS: 0.1), in [0, 1).
    genes : iterable of str, optional
        Restrict the universe to these genes (those without terms are ignored).
    chunk_size : int
        Target genes per sparse product; bounds memory (about ``chunk_size * n_genes * 20`` bytes
        at worst). The result does not depend on it. 256-512 was fastest on the human graph
        (20,728 genes: ~9 s CPU, ~250 MiB over the input; 2048: ~13 s, ~700 MiB).

    Returns
    -------
    pandas.DataFrame
        Columns ``source`` (str), ``target`` (str), ``importance`` (float64, in ``(threshold, 1]``);
        one row per edge ``source -> target``; sorted by target, importance descending, source.
        At most ``k`` rows per target; no self edges; genes without any edge do not appear.

    Raises
    ------
    ValueError
        ``k < 1``, ``threshold`` outside [0, 1) or ``chunk_size < 1``.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    k, threshold, chunk_size = int(k), float(threshold), int(chunk_size)
    symbols, matrix = _term_matrix(gene_terms, genes)
    matrix.sort_indices()
    n = len(symbols)
    sizes = np.diff(matrix.indptr).astype(np.int32)
    # J > t needs |a & b| > t * max(|a|, |b|) (the union is at least either set), i.e.
    # |a & b| >= alpha[a] and >= alpha[b]. The 1e-9 margin keeps the bound below the true one
    # despite rounding, so the exact float test further down decides every borderline pair.
    alpha = (np.floor(threshold * sizes * (1.0 - 1e-9)) + 1).astype(np.int32)
    transposed = matrix.T.tocsr()
    parts = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        parts.append(_topk_chunk(matrix[start:stop] @ transposed, start, sizes, alpha, k, threshold))
    if parts:
        tgt = np.concatenate([p[0] for p in parts])
        src = np.concatenate([p[1] for p in parts])
        weight = np.concatenate([p[2] for p in parts])
    else:
        tgt = src = np.zeros(0, dtype=np.int64)
        weight = np.zeros(0, dtype=np.float64)
    return pd.DataFrame(
        {
            "source": pd.Series(symbols[src], dtype=object),
            "target": pd.Series(symbols[tgt], dtype=object),
            "importance": weight.astype(np.float64, copy=False),
        }
    )


_HIST_BINS = 1024


def _topk_chunk(product: sp.csr_matrix, start: int, sizes: np.ndarray, alpha: np.ndarray, k: int, threshold: float):
    """Top-k sources of the targets ``start .. start + product.shape[0] - 1``.

    ``product[r, c]`` is ``|terms(start + r) & terms(c)|``. Returns (targets, sources,
    similarities), sorted by target, similarity descending, source.
    """
    m = product.shape[0]
    counts = np.diff(product.indptr)
    inter = product.data
    cols = product.indices
    # Cheap integer filters first: most entries are pairs sharing one or two very common terms.
    keep = np.flatnonzero(inter >= np.repeat(alpha[start : start + m], counts))
    local = np.repeat(np.arange(m, dtype=np.int32), counts)[keep]
    inter, cols = inter[keep], cols[keep]
    del product, counts, keep
    keep = np.flatnonzero(inter >= alpha[cols])
    local, cols, inter = local[keep], cols[keep], inter[keep]
    del keep
    rows = local + np.int32(start)
    union = sizes[rows] + sizes[cols] - inter
    # Exact: integers converted to float64 and divided once, as Python's int / int.
    jaccard = inter.astype(np.float64) / union.astype(np.float64)
    ok = (jaccard > threshold) & (cols != rows)
    local, cols, jaccard = local[ok], cols[ok], jaccard[ok]
    del rows, union, inter, ok
    if len(local) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    # Pre-select without sorting: a per-target histogram of similarities (bins are monotone in
    # the similarity) gives the bin of each target's k-th best; everything from that bin up is
    # a superset of the top k including ties, and only that superset is sorted exactly.
    bins = np.minimum((jaccard * _HIST_BINS).astype(np.int64), _HIST_BINS - 1)
    hist = np.bincount(local.astype(np.int64) * _HIST_BINS + bins, minlength=m * _HIST_BINS)
    at_least = np.cumsum(hist.reshape(m, _HIST_BINS)[:, ::-1], axis=1)
    enough = at_least[:, -1] >= k
    lowest_bin = np.where(enough, _HIST_BINS - 1 - np.argmax(at_least >= k, axis=1), 0)
    sel = np.flatnonzero(bins >= lowest_bin[local])
    local, cols, jaccard = local[sel], cols[sel], jaccard[sel]
    # Target, then similarity descending, then source index (= source symbol, genes are sorted).
    order = np.lexsort((cols, -jaccard, local))
    local, cols, jaccard = local[order], cols[order], jaccard[order]
    first = np.r_[0, np.flatnonzero(np.diff(local)) + 1]
    rank = np.arange(len(local)) - np.repeat(first, np.diff(np.r_[first, len(local)]))
    top = rank < k
    return local[top].astype(np.int64) + start, cols[top].astype(np.int64), jaccard[top]


def _summary(values: np.ndarray, with_mean: bool = True) -> dict:
    if len(values) == 0:
        out = {"min": None, "median": None, "max": None}
        if with_mean:
            out["mean"] = None
        return out
    out = {"min": float(np.min(values)), "median": float(np.median(values)), "max": float(np.max(values))}
    if with_mean:
        out["mean"] = float(np.mean(values))
    return out


def graph_stats(edges: pd.DataFrame, n_genes_input: int) -> dict:
    """Summary of a ``source, target, importance`` table, for ``go_jaccard.stats.json``.

    Parameters
    ----------
    edges : pandas.DataFrame
        As returned by :func:`jaccard_topk_edges`.
    n_genes_input : int
        Genes given to the graph construction (e.g. ``len(gene_terms)``).

    Returns
    -------
    dict
        ``n_genes_input``, ``nodes`` (genes with at least one edge), ``edges``,
        ``isolated_genes_dropped`` (``n_genes_input - nodes``), ``in_degree`` and ``out_degree``
        (``min``, ``median``, ``mean``, ``max`` over the nodes, counting zeros), ``importance``
        (``min``, ``median``, ``max``); plain Python numbers, None for an empty table.

    Raises
    ------
    ValueError
        Missing columns, or fewer input genes than nodes.
    """
    missing = [c for c in ("source", "target", "importance") if c not in edges.columns]
    if missing:
        raise ValueError(f"edge table lacks columns {missing}")
    nodes = pd.Index(pd.unique(pd.concat([edges["source"], edges["target"]], ignore_index=True)))
    if n_genes_input < len(nodes):
        raise ValueError(f"n_genes_input={n_genes_input} is smaller than the {len(nodes)} nodes")
    in_degree = edges["target"].value_counts().reindex(nodes, fill_value=0).to_numpy()
    out_degree = edges["source"].value_counts().reindex(nodes, fill_value=0).to_numpy()
    return {
        "n_genes_input": int(n_genes_input),
        "nodes": int(len(nodes)),
        "edges": int(len(edges)),
        "isolated_genes_dropped": int(n_genes_input - len(nodes)),
        "in_degree": _summary(in_degree),
        "out_degree": _summary(out_degree),
        "importance": _summary(edges["importance"].to_numpy(dtype=np.float64), with_mean=False),
    }
