"""Kernels on the knowledge graph: the diffusion kernel ``exp(-beta L)`` (Kondor & Lafferty 2002).

``L = I - S`` is the normalised Laplacian of the symmetrised graph with self-loops, ``S = D^-1/2 (W + I)
D^-1/2``, ``W = (A + A^T) / 2``, ``D`` the row sums of ``W + I`` (GEARS's ``gcn_norm`` on the undirected graph).
Two users: the ``go_kernel_ridge`` baseline (``evaluation.baselines``) and the SIMULATED ``kernel`` truth
(``screens.simulated.graph_root``); graph maths lives here so that neither depends on the other.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

CHEBYSHEV_TOLERANCE = 1e-14
"""Truncation of the Chebyshev series of :func:`diffusion_kernels`: the first omitted coefficient bound."""


def diffusion_kernels(graph, genes: Sequence[str], betas: Sequence[float]) -> np.ndarray:
    """Diffusion kernels ``exp(-beta L)`` (module docstring) between ``genes``, one per ``beta``
    (``evaluation.baselines.BETAS`` for ``go_kernel_ridge``, ``simulation.beta`` for the SIMULATED kernel truth).

    Parameters
    ----------
    graph : KnowledgeGraph
    genes : sequence of str, length m
        Nodes of ``graph``.
    betas : sequence of float, length B
        Each >= 0.

    Returns
    -------
    numpy.ndarray of float64, shape (B, m, m)
        Symmetric positive semi-definite (up to round-off; symmetrised exactly).

    Raises
    ------
    KeyError
        A gene that is not a node.
    ValueError
        A beta that is negative or not finite.

    Notes
    -----
    ``exp(-beta (I - S)) = e^-beta exp(beta S)`` by its Chebyshev series in ``S`` (the spectrum of the
    normalised ``S`` lies in [-1, 1]): ``e^-beta exp(beta S) = ive(0, beta) T_0(S) + 2 sum_k ive(k, beta)
    T_k(S)``, ``ive`` the exponentially scaled modified Bessel function of the first kind (Abramowitz &
    Stegun 9.6.34; Hammond, Vandergheynst & Gribonval 2011 for graph kernels), ``T_k`` by the three-term
    recurrence on the m indicator columns. Terms stop once ``2 ive(k, beta)`` is below
    :data:`CHEBYSHEV_TOLERANCE` for the largest beta (|T_k(S)| <= 1), so the omitted tail is below it too;
    the recurrence's columns serve every beta at once. One sparse product per term: on the human GO graph
    with 1,085 candidates about 40 products for the five default betas, against about 100 per beta for
    ``scipy.sparse.linalg.expm_multiply`` (benchmarks: docs/benchmarks.md), and equal to it within 1e-15.
    """
    import scipy.sparse as sp
    from scipy.special import ive

    idx = graph.index_of([str(g) for g in genes])
    betas = [float(b) for b in betas]
    if any(not np.isfinite(b) or b < 0 for b in betas):
        raise ValueError(f"betas must be finite and >= 0, got {betas}")
    adjacency = graph.adjacency.astype(np.float64)
    w = ((adjacency + adjacency.T) * 0.5 + sp.identity(graph.n_nodes, format="csr")).tocsr()
    degree = np.asarray(w.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(degree))
    s = (scale @ w @ scale).tocsr()
    largest = max(betas, default=0.0)
    n_terms = 1
    while n_terms < 3 or 2.0 * ive(n_terms, largest) >= CHEBYSHEV_TOLERANCE:
        n_terms += 1
    out = np.zeros((len(betas), len(idx), len(idx)))
    previous = np.zeros((graph.n_nodes, len(idx)))
    previous[idx, np.arange(len(idx))] = 1.0  # T_0(S) applied to the indicator columns
    current = s @ previous  # T_1
    for b, beta in enumerate(betas):
        out[b] = ive(0, beta) * previous[idx] + 2.0 * ive(1, beta) * current[idx]
    for k in range(2, n_terms + 1):
        previous, current = current, 2.0 * (s @ current) - previous
        for b, beta in enumerate(betas):
            out[b] += 2.0 * ive(k, beta) * current[idx]
    return (out + out.transpose(0, 2, 1)) * 0.5
