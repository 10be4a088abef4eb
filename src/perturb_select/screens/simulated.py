"""A SIMULATED Perturb-seq screen with known truth, its graph dependence set by one knob (``graph_signal``).

Every file this module writes says "simulated" in its name and content; nothing here is measured.

The model (Panagopoulos et al. 2025 compare selection strategies on screens whose ground truth is unknown;
this screen knows it):

* **Control expression.** Per-gene mean counts ``mu_g`` and negative-binomial dispersions ``phi_g``
  (``var = mu + phi mu^2``) are drawn as pairs from those of real control cells
  (:func:`fit_control_model`: method of moments on size-factor-normalised counts, genes with a mean of at
  least 0.01 so the moments mean something; Papalexi 2021's non-targeting cells by default). Cell ``c``
  has a size factor ``s_c = exp(N(-sd^2/2, sd^2))`` (mean 1) with ``sd`` the real cells' standard
  deviation of log library size. Counts: ``y_cg ~ NB(s_c mu_g exp(E[p_c, g]), phi_g)`` (a gamma-Poisson
  draw), ``E[p]`` the log fold changes of cell ``c``'s perturbation (0 for control cells).
* **Effects: a shared response and latent programmes on a Gaussian process over the GO graph.** ``K``
  programmes and one shared response each move a random set of ``genes_per_programme`` readout genes
  with N(0, 1) loadings (``V``, K x G, and ``u``, G). A perturbation's activation of the programmes is
  ``Z[p] (K,)``; its log fold changes are ``E[p] = a_p (shared u + Z[p] V / sqrt(K))``. The shared
  response is what perturbations of a screen have in common (real screens have one: the mean of the
  training perturbations predicts a held-out perturbation far better than no change, Ahlmann-Eltze,
  Huber & Anders 2025; on the Papalexi screen 0.18 against 0.33 top-20 DE MSE); it carries no graph
  information. Over the perturbations each column of ``Z`` is a Gaussian process draw:

      Z = sqrt(graph_signal) C z1 + sqrt(1 - graph_signal) P C z2,   z1, z2 ~ N(0, I)

  with ``C C^T`` the correlation matrix of the GO diffusion kernel ``exp(-beta L)`` between the candidates
  (Kondor & Lafferty 2002; the kernel of ``evaluation.baselines``) and ``P`` a seeded permutation of the
  candidates. At ``graph_signal = 1`` perturbations close in the GO graph have similar effects; at 0 the
  effects have the same kind of structure but placed on a shuffled graph, so which perturbations are
  similar is unrelated to the GO graph; the marginal distribution of every ``Z[p]`` is N(0, I) at every
  setting. A Gaussian process with the graph's diffusion kernel (rather than a structural model on a
  network drawn from the GO graph) is chosen because it makes "effects vary smoothly over the graph" exact
  with one parameter, keeps every perturbation's effect size independent of ``graph_signal``, and costs
  one eigendecomposition of an m x m kernel. It is also the prior under which the GO kernel ridge baseline
  is the Bayes-optimal predictor, which makes the positive control a check of the pipeline, not of
  GEARS.
* **Or effects through GEARS's receptive field** (``mechanism: receptive_field``; Panagopoulos et al.
  2025's argument). Every GO-graph node ``u`` (candidates and all others) carries a latent vector
  ``z_u ~ N(0, I_K)``; a perturbation's activations are GEARS's propagation of them over its receptive
  field, ``sum_{u in R_K(p)} Â^K[p, u] z_u``, with ``Â = D^-1/2 (A^T + I) D^-1/2`` the SGC operator over
  the directed edges GraphReach counts (``knowledge.graph.sgc_operator``) and K = ``hops``
  (``gears.num_go_gnn_layers``). Each row of ``Â^K`` is scaled to unit length, so every ``Z[p]`` is
  N(0, I) whatever its degree: effect sizes are the same at every ``graph_signal``. The mixture is the
  kernel mechanism's with ``C`` replaced by these rows: ``Z = sqrt(graph_signal) R z1 + sqrt(1 -
  graph_signal) P R z2``, ``P`` a seeded permutation of the candidates (propagation on a graph whose
  candidate nodes are relabelled). Two perturbations whose receptive fields share no node have
  independent activations at ``graph_signal = 1``; the correlation of two is the overlap ``R R^T`` of their
  fields, weighted by ``Â^K``. Under this truth the SGC ridge baseline (``evaluation.baselines``: ridge on
  the rows of ``Â^K``) is the matched linear model, and a node no training perturbation reaches carries
  information no model trained on the picks can have.
* **Strength.** A share ``strong_share`` of perturbations has amplitude ``a_p = strong_effect``, the rest
  ``weak_effect``: the ``round(strong_share x m)`` highest on one more draw of the same mixture, so strength
  follows the graph as much as the programmes do (genes of one complex tend to be essential together; at
  0 strength ignores the graph). Drawn independently of the graph, as it once was, the 10-fold strong/weak
  contrast carried no graph information at any setting, and at graph_signal 0.9 the GO kernel ridge beat
  the training mean at 100 training perturbations in only 5 of 6 seeds. The defaults follow the real data we hold:
  in the Replogle 2022 K562 essential library, 1,092 of 2,057 targets (53 %) pass GEARS's
  strong-perturbation filter (``../shared/data/genelists``); the amplitudes were set so that the top-20 DE
  genes of a strong perturbation have a mean |log fold change| close to the Papalexi screen's
  (docs/simulation.md compares them).
* **Knock-down.** The targeted gene, when it is a readout gene, keeps ``knockdown`` of its expression
  (``E[p, target] = log(knockdown)``; CRISPRi in K562 typically leaves 10-30 %).

The **truth** of a condition is its expected expression in GEARS's space, ``log1p(normalize_total(y, 1e4))``,
estimated as the mean over ``truth_cells`` independent cells of that condition (not the screen's cells):
what an infinitely deep screen would measure, up to a Monte-Carlo error of 1/sqrt(truth_cells) of a cell's
noise.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..config import CONTROL_LABEL, DEFAULT_HOPS, SimulationConfig
from ..io import InputError, check_memory, load_container
from .layout import CTRL, check_raw_counts, condition_of

TARGET_SUM = 1e4
MIN_MEAN = 0.01
"""Genes of the reference with a lower mean count are not used: their moment estimates are noise."""
DISPERSION_RANGE = (1e-3, 100.0)
SIMULATED_FORMAT = "perturb-select simulated screen truth v1"


@dataclass(frozen=True)
class ControlModel:
    """Per-gene control expression fitted on real control cells (:func:`fit_control_model`).

    Attributes
    ----------
    means : numpy.ndarray of float64, shape (n,)
        Mean count per cell at size factor 1.
    dispersions : numpy.ndarray of float64, shape (n,)
        Negative-binomial dispersion ``phi`` (``var = mu + phi mu^2``), clipped to :data:`DISPERSION_RANGE`.
    log_library_sd : float
        Standard deviation of the cells' log library sizes.
    source : str
        Where the cells came from.
    """

    means: np.ndarray
    dispersions: np.ndarray
    log_library_sd: float
    source: str


def fit_control_model(counts, source: str = "<control cells>") -> ControlModel:
    """Per-gene means and dispersions of control cells by the method of moments on size-factor-normalised
    counts (size factor = library size / mean library size; the Poisson part of the variance corrected for
    the size factors: ``var(y / s) = mu mean(1 / s) + phi mu^2``).

    Parameters
    ----------
    counts : array or scipy.sparse matrix, shape (cells, genes)
        Raw UMI counts of control cells.
    source : str
        Named in errors and kept in the model.

    Returns
    -------
    ControlModel
        Genes with a normalised mean of at least :data:`MIN_MEAN`.

    Raises
    ------
    InputError
        Not raw counts (:func:`screens.layout.check_raw_counts`: NaN, negative, non-integer), fewer than 10
        cells, a cell without counts, or no gene above :data:`MIN_MEAN`.
    """
    # raw counts, as a raw screen's (a log-normalised, negative or NaN reference would be fitted as counts)
    check_raw_counts(counts.data if sp.issparse(counts) else np.asarray(counts), source)
    x = counts.toarray() if sp.issparse(counts) else np.asarray(counts)
    x = x.astype(np.float64)
    if x.ndim != 2 or x.shape[0] < 10:
        raise InputError(source, "X", f"need at least 10 control cells, got shape {x.shape}")
    library = x.sum(axis=1)
    if (library <= 0).any():
        raise InputError(source, "X", f"{int((library <= 0).sum())} control cells have no counts")
    size = library / library.mean()
    normalised = x / size[:, None]
    mean = normalised.mean(axis=0)
    var = normalised.var(axis=0, ddof=1)
    keep = mean >= MIN_MEAN
    if not keep.any():
        raise InputError(source, "X", f"no gene has a mean count of at least {MIN_MEAN}")
    # var(y / s) = mu mean(1 / s) + phi mu^2 for y ~ NB(s mu, phi): the Poisson part grows with 1 / s
    poisson = mean[keep] * np.mean(1.0 / size)
    dispersion = np.clip((var[keep] - poisson) / mean[keep] ** 2, *DISPERSION_RANGE)
    return ControlModel(
        means=mean[keep], dispersions=dispersion, log_library_sd=float(np.log(library).std()), source=source
    )


@dataclass
class SimulatedScreen:
    """A simulated screen: raw counts in the layout ``screens.raw`` reads, and the truth.

    Attributes
    ----------
    counts : scipy.sparse.csr_matrix of float32, shape (cells, genes)
    perturbation : numpy.ndarray of str, shape (cells,)
        Each cell's target gene, or ``control_label``.
    genes : numpy.ndarray of str, shape (genes,)
        Readout genes (graph nodes).
    candidates : list of str
        The perturbed genes, in the order of ``effects``.
    effects : numpy.ndarray of float32, shape (candidates, genes)
        True log fold changes ``E``.
    truth : numpy.ndarray of float32, shape (candidates + 1, genes), or None
        Expected ``log1p(normalize_total(., 1e4))`` expression of the control (row 0) and of each candidate
        (None when not estimated).
    strong : numpy.ndarray of bool, shape (candidates,)
    settings : SimulationConfig
    seed : int
    control_label : str
    hops : int
        K of the receptive-field mechanism.
    replicate : int or None
        The experiment seed of a replicated screen (``simulation.replicate_screens``), else None.
    """

    counts: sp.csr_matrix
    perturbation: np.ndarray
    genes: np.ndarray
    candidates: list
    effects: np.ndarray
    truth: np.ndarray
    strong: np.ndarray
    settings: SimulationConfig
    seed: int
    control_label: str = CONTROL_LABEL
    hops: int = DEFAULT_HOPS
    replicate: int | None = None


def readout_genes(graph, candidates: Sequence[str], n_genes: int, rng: np.random.Generator) -> np.ndarray:
    """The candidates, then other graph nodes drawn without replacement, sorted: ``min(n_genes, nodes)``."""
    candidates = list(dict.fromkeys(str(g) for g in candidates))
    if len(candidates) >= n_genes:
        return np.array(sorted(candidates))
    taken = set(candidates)
    others = np.array([g for g in graph.genes if g not in taken])
    extra = rng.choice(others, size=min(n_genes - len(candidates), len(others)), replace=False)
    return np.array(sorted(candidates + [str(g) for g in extra]))


def graph_root(graph, candidates: Sequence[str], beta: float) -> np.ndarray:
    """``C`` (candidates x candidates, float64) with ``C C^T`` the correlation matrix of the diffusion kernel
    ``exp(-beta L)`` between the candidates (``knowledge.kernels.diffusion_kernels``)."""
    from ..knowledge.kernels import diffusion_kernels

    kernel = diffusion_kernels(graph, list(candidates), (beta,))[0]
    scale = np.sqrt(np.clip(np.diag(kernel), 1e-300, None))
    correlation = kernel / scale[:, None] / scale[None, :]
    values, vectors = np.linalg.eigh(correlation)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def receptive_field_root(graph, candidates: Sequence[str], hops: int) -> sp.csr_matrix:
    """``R`` (candidates x graph nodes, float64, sparse): the candidates' rows of GEARS's SGC operator to the
    power K, ``Â^K`` (``knowledge.graph.sgc_operator``), each scaled to unit length, so that ``R z`` with
    ``z ~ N(0, I)`` over the nodes is N(0, 1) for every candidate and ``R R^T`` is the correlation of two
    candidates' propagated activations (module docstring, ``mechanism: receptive_field``).

    Row p is non-zero exactly on ``R_K(p)`` (the receptive field GraphReach counts: p and every node with a
    directed path of length <= K into p).

    Raises
    ------
    InputError
        ``hops`` not an integer >= 0.
    """
    from ..knowledge.graph import propagation_rows

    if isinstance(hops, bool) or not isinstance(hops, (int, np.integer)) or hops < 0:
        raise InputError("config", "gears.num_go_gnn_layers", f"must be an integer >= 0, got {hops!r}")
    return propagation_rows(graph, candidates, int(hops), unit=True)


def graph_mixture(root, columns: int, graph_signal: float, rng: np.random.Generator) -> np.ndarray:
    """``sqrt(graph_signal) C z1 + sqrt(1 - graph_signal) P C z2`` (candidates x columns, float64): the
    mixture of the module docstring; every entry N(0, 1) at every ``graph_signal``.

    ``root`` is ``C`` (candidates x candidates, :func:`graph_root`) or ``R`` (candidates x graph nodes,
    :func:`receptive_field_root`): rows of unit length; ``z1``, ``z2`` have one row per column of it."""
    m, d = root.shape
    on_graph = np.asarray(root @ rng.standard_normal((d, columns)))
    shuffled = np.asarray(root @ rng.standard_normal((d, columns)))[rng.permutation(m)]
    return np.sqrt(graph_signal) * on_graph + np.sqrt(1.0 - graph_signal) * shuffled


def strong_perturbations(root, strong_share: float, graph_signal: float, rng: np.random.Generator) -> np.ndarray:
    """Which perturbations have a strong phenotype (bool, candidates): the ``round(strong_share x m)`` with the
    highest score on one more draw of the mixture (:func:`graph_mixture`), so that at ``graph_signal`` 1
    neighbours in the GO graph tend to be strong or weak together and at 0 strength ignores the graph."""
    score = graph_mixture(root, 1, graph_signal, rng)[:, 0]
    n_strong = int(round(strong_share * len(score)))
    strong = np.zeros(len(score), dtype=bool)
    strong[np.argsort(-score, kind="stable")[:n_strong]] = True
    return strong


def simulate_screen(
    graph,
    candidates: Sequence[str],
    control: ControlModel,
    settings: SimulationConfig,
    seed: int,
    control_label: str = CONTROL_LABEL,
    with_truth: bool = True,
    hops: int = DEFAULT_HOPS,
    replicate: int | None = None,
) -> SimulatedScreen:
    """Draw a simulated screen (module docstring). Same inputs and seed: the same screen, bit for bit.

    Parameters
    ----------
    graph : perturb_select.knowledge.graph.KnowledgeGraph
    candidates : sequence of str
        Perturbed genes, nodes of ``graph`` (at least 3).
    control : ControlModel
    settings : SimulationConfig
    seed : int
        Seeds every draw (``numpy.random.default_rng([seed, stream])``, one stream per kind of draw).
    replicate : int, optional
        One screen of a replicated set (``simulation.replicate_screens``: the experiment seed): the streams
        are ``default_rng([seed, replicate, stream])``, so every replicate is a different screen.
    with_truth : bool
        Estimate the truth (``truth_cells`` cells per condition); False leaves ``truth`` None (timing runs).
    hops : int
        K of ``mechanism: receptive_field`` (GEARS's ``num_go_gnn_layers``); unused by ``kernel``.

    Raises
    ------
    InputError
        A candidate that is not a graph node, fewer than 3 candidates, a bad seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError("config", "seed", f"must be an integer >= 0, got {seed!r}")
    if replicate is not None and (
        isinstance(replicate, bool) or not isinstance(replicate, (int, np.integer)) or replicate < 0
    ):
        raise InputError("config", "experiment.seeds", f"a replicate must be an integer >= 0, got {replicate!r}")
    candidates = list(dict.fromkeys(str(g) for g in candidates))
    missing = [g for g in candidates if g not in graph]
    if missing:
        raise InputError("candidates", "genes", f"{len(missing)} are not GO-graph nodes, e.g. {missing[:5]}")
    if len(candidates) < 3:
        raise InputError("candidates", "genes", f"need at least 3 candidates, got {len(candidates)}")
    s = settings
    check_memory(
        simulation_memory(len(candidates), s),
        "config",
        "simulation.cells_per_perturbation",
        "the simulated counts (cells_per_perturbation x candidates + control_cells, x n_genes)",
    )
    entropy = [int(seed)] if replicate is None else [int(seed), int(replicate)]
    streams = {
        name: np.random.default_rng(entropy + [i])
        for i, name in enumerate(("genes", "baseline", "programmes", "loadings", "strength", "cells", "truth"))
    }
    genes = readout_genes(graph, candidates, s.n_genes, streams["genes"])
    n_genes = len(genes)
    pick = streams["baseline"].integers(0, len(control.means), n_genes)
    mu, phi = control.means[pick], control.dispersions[pick]

    if s.mechanism == "receptive_field":
        root = receptive_field_root(graph, candidates, hops)
    else:
        root = graph_root(graph, candidates, s.beta)
    z = graph_mixture(root, s.programmes, s.graph_signal, streams["programmes"])
    loadings = np.zeros((s.programmes, n_genes))
    per_programme = min(s.genes_per_programme, n_genes)
    for k in range(s.programmes):
        chosen = streams["loadings"].choice(n_genes, per_programme, replace=False)
        loadings[k, chosen] = streams["loadings"].standard_normal(per_programme)
    response = np.zeros(n_genes)
    chosen = streams["loadings"].choice(n_genes, per_programme, replace=False)
    response[chosen] = streams["loadings"].standard_normal(per_programme)
    strong = strong_perturbations(root, s.strong_share, s.graph_signal, streams["strength"])
    amplitude = np.where(strong, s.strong_effect, s.weak_effect)
    effects = amplitude[:, None] * (s.shared * response[None, :] + (z @ loadings) / np.sqrt(s.programmes))
    position = {g: i for i, g in enumerate(genes)}
    for p, gene in enumerate(candidates):
        if gene in position:
            effects[p, position[gene]] = np.log(s.knockdown)

    means = np.vstack([np.zeros(n_genes), effects])  # row 0: control
    means = mu[None, :] * np.exp(means)
    sizes = [s.control_cells] + [s.cells_per_perturbation] * len(candidates)
    counts = _draw_counts(means, phi, sizes, control.log_library_sd, streams["cells"])
    truth = (
        _expected_expression(means, phi, s.truth_cells, control.log_library_sd, streams["truth"])
        if with_truth
        else None
    )
    labels = np.repeat(np.array([control_label] + candidates, dtype=object), sizes).astype(str)
    return SimulatedScreen(
        counts=counts,
        perturbation=labels,
        genes=genes,
        candidates=candidates,
        effects=effects.astype(np.float32),
        truth=truth,
        strong=strong,
        settings=s,
        seed=int(seed),
        control_label=control_label,
        hops=int(hops),
        replicate=None if replicate is None else int(replicate),
    )


def simulation_memory(n_candidates: int, settings: SimulationConfig) -> float:
    """Bytes a simulated screen can take at its peak, an upper bound: every count stored in the CSR matrix
    (float32 value and int32 column) and one condition's float64 draws.

    Parameters
    ----------
    n_candidates : int
    settings : SimulationConfig

    Returns
    -------
    float
    """
    s = settings
    cells = s.control_cells + s.cells_per_perturbation * n_candidates
    block = max(s.control_cells, s.cells_per_perturbation, s.truth_cells)
    return 8.0 * cells * s.n_genes + 24.0 * block * s.n_genes + 8.0 * (n_candidates + 1) * s.n_genes


def _draw_counts(
    means: np.ndarray, phi: np.ndarray, sizes: Sequence[int], log_sd: float, rng: np.random.Generator
) -> sp.csr_matrix:
    """Gamma-Poisson counts, condition by condition (rows of ``means``), as one CSR matrix."""
    blocks = []
    shape = 1.0 / phi
    for row, n in zip(means, sizes):
        size_factor = np.exp(rng.normal(-0.5 * log_sd**2, log_sd, n))
        rate = rng.gamma(shape[None, :], (row * phi)[None, :] * size_factor[:, None])
        blocks.append(sp.csr_matrix(rng.poisson(rate).astype(np.float32)))
    return sp.vstack(blocks, format="csr")


def _expected_expression(
    means: np.ndarray, phi: np.ndarray, n_cells: int, log_sd: float, rng: np.random.Generator
) -> np.ndarray:
    """Mean of ``log1p(normalize_total(y, 1e4))`` over ``n_cells`` fresh cells per condition (float32)."""
    truth = np.empty(means.shape, dtype=np.float32)
    shape = 1.0 / phi
    for i, row in enumerate(means):
        size_factor = np.exp(rng.normal(-0.5 * log_sd**2, log_sd, n_cells))
        y = rng.poisson(rng.gamma(shape[None, :], (row * phi)[None, :] * size_factor[:, None])).astype(np.float64)
        total = y.sum(axis=1, keepdims=True)
        total[total == 0] = 1.0  # an empty cell normalises to zeros, as scanpy's normalize_total leaves it
        truth[i] = np.log1p(y * (TARGET_SUM / total)).mean(axis=0)
    return truth


def simulated_anndata(screen: SimulatedScreen, perturbation_key: str = "perturbation"):
    """The counts as the raw-count AnnData ``screens.raw`` reads: each cell's label in
    ``obs[perturbation_key]``, gene symbols as ``var_names``, cells named ``simulated_cell{i}``, the settings
    as JSON in ``uns['simulated']``."""
    import json

    import anndata as ad
    import pandas as pd

    obs = pd.DataFrame(
        {perturbation_key: screen.perturbation}, index=[f"simulated_cell{i}" for i in range(len(screen.perturbation))]
    )
    adata = ad.AnnData(X=screen.counts, obs=obs, var=pd.DataFrame(index=screen.genes))
    adata.uns["simulated"] = json.dumps(_provenance(screen), sort_keys=True)
    return adata


def write_simulated_screen(
    screen: SimulatedScreen,
    h5ad_path: str | os.PathLike,
    truth_path: str | os.PathLike,
    reference: str,
    perturbation_key: str = "perturbation",
) -> None:
    """The counts as a raw-count h5ad (:func:`simulated_anndata`) and the truth as an npz container, each
    written whole (``io.atomic_path``, ``io.save_container``).

    Raises
    ------
    ValueError
        The screen was drawn without its truth.
    """
    from ..io import atomic_path, save_container

    if screen.truth is None:
        raise ValueError("the screen was simulated without its truth (with_truth=False)")
    adata = simulated_anndata(screen, perturbation_key)
    with atomic_path(h5ad_path) as tmp:
        adata.write_h5ad(tmp)
    save_container(
        truth_path,
        SIMULATED_FORMAT,
        {
            "conditions": np.array([CTRL] + [condition_of(g) for g in screen.candidates]),
            "genes": screen.genes,
            "truth": screen.truth,
            "effects": screen.effects,
            "strong": screen.strong,
        },
        info={"simulated": True, **_provenance(screen), "reference": reference},
    )


def _provenance(screen: SimulatedScreen) -> dict:
    """The settings and seeds a screen was drawn with (recorded in its h5ad and truth file)."""
    out = {**asdict(screen.settings), "seed": screen.seed}
    if screen.settings.mechanism == "receptive_field":
        out["hops"] = screen.hops
    if screen.replicate is not None:
        out["replicate"] = screen.replicate
    return out


def read_truth(path: str | os.PathLike, genes: Sequence[str]) -> dict:
    """The truth of a simulated screen (:func:`write_simulated_screen`) as {condition: expression row}, the
    rows in the order of ``genes`` (the processed screen's genes).

    Raises
    ------
    InputError
        Not a truth file, or a gene of ``genes`` it does not hold.
    """
    arrays, _ = load_container(path, SIMULATED_FORMAT, ("conditions", "genes", "truth"), hint="rerun simulate_dataset")
    position = {g: i for i, g in enumerate(arrays["genes"].astype(str))}
    missing = [g for g in genes if g not in position]
    if missing:
        raise InputError(
            path, "genes", f"{len(missing)} of the screen's genes are not in the truth, e.g. {missing[:5]}"
        )
    columns = np.array([position[g] for g in genes])
    return {str(c): row[columns] for c, row in zip(arrays["conditions"], arrays["truth"])}
