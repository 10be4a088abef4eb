"""The mechanism the paper argues from, measured per test perturbation: how much of what a GNN needs to predict
it was trained by the cycle's picks.

GEARS (Roohani et al. 2023, cell-gears 0.1.2 ``gears/model.py``) builds a perturbation's embedding from the
learnt embeddings of the nodes of its receptive field ``R_K(p)`` (``knowledge.graph``: p and every node with a
directed path of length <= K into p, K = ``num_go_gnn_layers``), propagated by K SGC layers with the operator
``P = D^-1/2 (A^T + I) D^-1/2`` (``knowledge.graph.sgc_operator``). With K = 1 (GEARS's default) the
propagation is linear: ``emb(p) = sum_u P[p, u] e_u``. Training on a perturbation sends gradients to the
embeddings ``e_u`` of the nodes of its field only; a node outside the union ``U`` of the training picks' fields
keeps its initial (random) embedding. Two measures of a test perturbation t follow:

* :func:`field_coverage`: ``|R_K(t) & U| / |R_K(t)|``, the share of its receptive field whose embeddings were
  trained (the quantity GraphReach maximises over the whole graph);
* :func:`unreached_weight`: ``sum_{u not in U} (P^K)[t, u] / sum_u (P^K)[t, u]``, the share of its embedding's
  propagation weight that comes from untrained nodes (row t of ``P^K`` is non-zero exactly on ``R_K(t)``).

The rows of ``P^K`` are ``knowledge.graph.perturbation_propagation`` (not unit-scaled: a share does not depend on the
scale). A combination ``'A+B'`` counts the union of its genes' fields (``knowledge.graph.perturbation_fields``)
and the sum of their rows of ``P^K`` (GEARS sums the perturbed genes' embeddings). numpy and scipy only.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..knowledge.graph import KnowledgeGraph, covered_by, perturbation_fields, perturbation_propagation

#: Bin edges of :func:`binned_by_share` (the last bin is closed: a share of 1 falls in [0.8, 1]).
SHARE_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def reached_nodes(
    graph: KnowledgeGraph, train_perturbations: Sequence[str], hops: int, source: str = "train_perturbations"
) -> np.ndarray:
    """The nodes whose embeddings training on ``train_perturbations`` reaches: the union ``U`` of their ``R_K``.

    Parameters
    ----------
    graph : KnowledgeGraph
    train_perturbations : sequence of str
        Genes (or ``'A+B'`` combinations) of the training picks, nodes of ``graph``; may be empty.
    hops : int
        K >= 0 (GEARS's ``num_go_gnn_layers``).
    source : str
        Named in ``InputError``.

    Returns
    -------
    numpy.ndarray of bool, shape (graph.n_nodes,)

    Raises
    ------
    InputError
        A gene that is not a node (``knowledge.graph.perturbation_fields``).
    ValueError
        ``hops < 0``.
    """
    _check_hops(hops)
    if not len(train_perturbations):
        return np.zeros(graph.n_nodes, dtype=bool)
    return covered_by(perturbation_fields(graph, list(train_perturbations), hops, source=source), graph.n_nodes)


def field_coverage(
    graph: KnowledgeGraph, test_perturbations: Sequence[str], train_perturbations: Sequence[str], hops: int
) -> np.ndarray:
    """Share of each test perturbation's receptive field ``R_K(t)`` inside the training picks' fields (module
    docstring).

    Parameters
    ----------
    graph : KnowledgeGraph
    test_perturbations : sequence of str, length m
        Genes (or ``'A+B'``) whose coverage is measured; nodes of ``graph``.
    train_perturbations : sequence of str
        The training picks; nodes of ``graph``; may be empty (every share is then 0).
    hops : int
        K >= 0.

    Returns
    -------
    numpy.ndarray of float64, shape (m,)
        In [0, 1]; 1 when every node of ``R_K(t)`` lies in some pick's field (a test perturbation inside a
        pick's field counts its own node as covered).

    Raises
    ------
    InputError
        A test or training gene that is not a node (source ``test_perturbations`` / ``train_perturbations``).
    ValueError
        ``hops < 0``.
    """
    _check_hops(hops)
    reached = reached_nodes(graph, train_perturbations, hops)
    if not len(test_perturbations):
        return np.zeros(0, dtype=np.float64)
    fields = perturbation_fields(graph, list(test_perturbations), hops, source="test_perturbations")
    size = np.diff(fields.indptr).astype(np.float64)
    inside = (
        np.add.reduceat(reached[fields.indices].astype(np.float64), fields.indptr[:-1])
        if fields.nnz
        else np.zeros(len(size))
    )
    return inside / size  # every field holds at least its own node


def unreached_weight(
    graph: KnowledgeGraph, test_perturbations: Sequence[str], train_perturbations: Sequence[str], hops: int
) -> np.ndarray:
    """Share of each test perturbation's propagation weight (its row of ``P^K``) that comes from nodes no
    training pick's receptive field reaches: embeddings that never received a gradient (module docstring).

    Parameters
    ----------
    graph : KnowledgeGraph
    test_perturbations : sequence of str, length m
    train_perturbations : sequence of str
        May be empty (every share is then 1).
    hops : int
        K >= 0.

    Returns
    -------
    numpy.ndarray of float64, shape (m,)
        In [0, 1]; 0 when the whole field is reached.

    Raises
    ------
    InputError
        A test or training gene that is not a node.
    ValueError
        ``hops < 0``.
    """
    reached = reached_nodes(graph, train_perturbations, hops)
    if not len(test_perturbations):
        return np.zeros(0, dtype=np.float64)
    weights = perturbation_propagation(graph, list(test_perturbations), hops, unit=False, source="test_perturbations")
    total = np.asarray(weights.sum(axis=1)).ravel()
    unreached = np.asarray(weights @ (~reached).astype(np.float64)).ravel()
    return np.clip(unreached / total, 0.0, 1.0)


def binned_by_share(
    share: np.ndarray, errors: Mapping[str, np.ndarray], edges: Sequence[float] = SHARE_BINS, share_name: str = "share"
) -> pd.DataFrame:
    """Mean error of every model per bin of a share (the paper's hypothesis: error falls as coverage grows).

    Parameters
    ----------
    share : numpy.ndarray, shape (m,)
        One share per test perturbation (:func:`field_coverage` or :func:`unreached_weight`), in [0, 1].
    errors : mapping str -> numpy.ndarray, shape (m,)
        Per model, one error per test perturbation (e.g. top-20 DE MSE); NaN entries are left out of that
        model's mean.
    edges : sequence of float
        Increasing bin edges covering [0, 1]; bins ``[e_i, e_i+1)``, the last one closed.
    share_name : str
        Prefix of the bin columns.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``{share_name}_from``, ``{share_name}_to``, ``n`` (test perturbations in the
        bin) and one column per model (mean error).

    Raises
    ------
    ValueError
        Lengths that differ, edges not increasing, a share outside the edges.
    """
    share = np.asarray(share, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be increasing, got {edges.tolist()}")
    for model, values in errors.items():
        if np.shape(values) != share.shape:
            raise ValueError(f"{model}: {np.shape(values)} errors for {share.shape} shares")
    if share.size and (np.nanmin(share) < edges[0] or np.nanmax(share) > edges[-1]):
        raise ValueError(f"shares outside [{edges[0]}, {edges[-1]}]")
    which = np.clip(np.searchsorted(edges, share, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        members = which == b
        if not members.any():
            continue
        row = {f"{share_name}_from": edges[b], f"{share_name}_to": edges[b + 1], "n": int(members.sum())}
        for model, values in errors.items():
            chosen = np.asarray(values, dtype=np.float64)[members]
            row[model] = float(np.nanmean(chosen)) if np.isfinite(chosen).any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=[f"{share_name}_from", f"{share_name}_to", "n", *errors])


def _check_hops(hops: int) -> None:
    if isinstance(hops, bool) or not isinstance(hops, (int, np.integer)) or hops < 0:
        raise ValueError(f"hops must be an integer >= 0, got {hops!r}")
