"""Train GEARS (cell-gears 0.1.2) for one cycle, offline and seeded, on our GO knowledge graph.

This is the only module that imports ``gears``; it is imported lazily (inside the functions) so that
the rest of the package, and ``write_gears_gene2go``, work without torch.

What differs from calling GEARS as its tutorials do, and why:

* Offline: ``PertData`` downloads ``gene2go_all.pkl`` unless ``data_path/gene2go_all.pkl`` exists and
  builds the perturbation graph from the Harvard Dataverse GO graph unless ``G_go`` is given. We write
  the pickle ourselves (restricted to the graph's genes), pass ``gene_set_path`` so that the
  perturbation nodes (``pert_names``) are exactly our graph's genes, and pass our edges as ``G_go``.
* Subgraph: GEARS's GO GNN (``SGConv`` x ``num_go_gnn_layers`` over every node, PyG ``gcn_norm``) only
  needs, for the embeddings of the perturbed genes, the nodes within K hops and the full in-degree of
  those nodes; ``graph.receptive_field_subgraph`` keeps exactly that. Checked in
  tests/test_gears_model.py: identical forward outputs and gradients. Training then agrees up to
  float rounding, which GEARS's training amplifies (Papalexi, 3 epochs: top-20 DE MSE 0.913 vs 0.905,
  while another seed moves it ~3x more). Training is 5.5x faster than on the whole human graph.
* Initial weights: ``graph_independent_init`` makes them independent of the graph's size (every
  ``pert_emb`` row from its gene's own seeded stream), so the whole graph and the subgraph start from
  the same model and a gene's initial embedding is the same in every cycle.
* Seeds: ``gears/gears.py`` calls ``torch.manual_seed(0)`` at import and
  ``PertData.create_cell_graph_dataset`` pairs perturbed cells with control cells through the global
  ``np.random``; we seed ``random``, ``np.random`` and torch after importing gears.
* Warnings: gears calls ``warnings.filterwarnings("ignore")`` at import; the filters are restored.
* Caches: ``get_coexpression_network_from_train`` caches its CSV under ``data_path/<dataset>/`` keyed by
  split, seed and size only, so ``work_dir`` is emptied at the start of every run.
* ``PertData.get_dataloader`` ignores ``test_batch_size``; we build the test loader ourselves, and
  predict the test perturbations after training (``gears.inference.evaluate`` with the best model by
  validation top-20 DE MSE, as ``GEARS.train`` does) without GEARS's extra test analyses.

CPU and CUDA both work (``device='auto'``). Same inputs, seed and torch thread count give
bit-identical predictions on the same CPU machine; another thread count changes float rounding (and so
the trained model slightly); on CUDA PyG's scatter uses atomics, so runs are only near-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import shutil
import time
import warnings
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .graph import KnowledgeGraph, receptive_field_subgraph
from .io import InputError, atomic_open, atomic_path

CTRL = "ctrl"
N_DE = 20
DATASET_NAME = "screen"
WORK_MARKER = ".perturb_select_gears_work"
"""File that marks a directory as ours to empty (guards against wiping an unrelated directory)."""

LAYOUT_SOURCE = "perturb_processed.h5ad"

_ARRAY_FIELDS = ("conditions", "genes", "pred", "truth", "ctrl_mean", "de_idx", "de_idx_non_dropout")


def condition_of(gene: str) -> str:
    """GEARS's condition label of a single perturbation of ``gene``: ``'GENE+ctrl'``."""
    return f"{gene}+{CTRL}"


# --------------------------------------------------------------------------------------------------
# gene2go pickle
# --------------------------------------------------------------------------------------------------


class _SortedSetPickler(pickle._Pickler):
    """Pickles sets as ``set(sorted list)``, so the bytes do not depend on the str hash seed.

    The C pickler writes a set in iteration order (hash order, which changes between processes) and
    never consults ``reducer_override`` for sets, hence the pure-Python pickler with one dispatch entry
    replaced. The file loads with plain ``pickle.load`` into ordinary sets.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_sorted_set(self, obj):
        self.save_reduce(set, (sorted(obj),), obj=obj)

    dispatch[set] = _save_sorted_set


def write_gears_gene2go(gene_terms: Mapping[str, Iterable[str]], path: str | os.PathLike) -> None:
    """Write GEARS's ``gene2go_all.pkl``: a pickled ``dict`` gene symbol -> ``set`` of GO IDs.

    Parameters
    ----------
    gene_terms : mapping of str -> iterable of str
        GO term IDs (e.g. ``'GO:0006955'``) annotated to each gene symbol.
    path : path-like
        Destination; written atomically.

    Notes
    -----
    Format of ``PertData.__init__`` (``gears/pertdata.py``), which reads it instead of downloading
    Harvard Dataverse file 6153417 when it exists, and of ``gears/utils.py::make_GO``. Keys are written
    in sorted order and sets pickled from sorted lists: the file's bytes are the same on every run
    (loading gives ordinary ``set`` objects).

    Raises
    ------
    InputError
        If a symbol is not a non-empty string or a GO ID is not a string.
    """
    out: dict[str, set[str]] = {}
    for gene in sorted(gene_terms):
        if not isinstance(gene, str) or not gene:
            raise InputError("gene2go", "symbol", f"gene symbols must be non-empty strings, got {gene!r}")
        terms = set(gene_terms[gene])
        bad = [t for t in terms if not isinstance(t, str)]
        if bad:
            raise InputError("gene2go", gene, f"GO IDs must be strings, got {bad[:3]!r}")
        out[gene] = terms
    with atomic_open(path, "wb") as handle:
        _SortedSetPickler(handle, protocol=4).dump(out)


def read_gears_gene2go(path: str | os.PathLike) -> dict[str, set[str]]:
    """Read a ``gene2go_all.pkl`` (see ``write_gears_gene2go``).

    Raises
    ------
    InputError
        If the file does not hold a dict of str -> set.
    """
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError, IndexError) as err:
        raise InputError(path, None, f"unreadable gene2go pickle ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or not all(isinstance(v, (set, frozenset)) for v in data.values()):
        raise InputError(path, None, "expected a pickled dict of gene symbol -> set of GO IDs")
    return data


# --------------------------------------------------------------------------------------------------
# Predictions of one cycle
# --------------------------------------------------------------------------------------------------


@dataclass
class CyclePredictions:
    """GEARS's predictions for the test perturbations of one cycle.

    Attributes
    ----------
    conditions : numpy.ndarray of str, shape (n_test,)
        Test conditions, ``'GENE+ctrl'``.
    genes : numpy.ndarray of str, shape (n_genes,)
        Measured genes (``var_names`` of the processed screen), the column order of the arrays below.
    pred : numpy.ndarray, shape (n_test, n_genes), float32
        Mean over the condition's test cells of GEARS's predicted expression (log1p-normalised).
    truth : numpy.ndarray, shape (n_test, n_genes), float32
        Mean observed expression of the same cells.
    ctrl_mean : numpy.ndarray, shape (n_genes,), float32
        Mean expression of all control cells.
    de_idx : numpy.ndarray, shape (n_test, 20), int64
        Top-20 DE genes (column indices) in ``rank_genes_groups_cov_all`` order, padded with -1.
    de_idx_non_dropout : numpy.ndarray, shape (n_test, 20), int64
        Top-20 non-dropout DE genes (``top_non_dropout_de_20``), padded with -1.
    info : dict
        JSON-ready run record: conditions per split, cell counts, graph size, device, seconds, ...
    """

    conditions: np.ndarray
    genes: np.ndarray
    pred: np.ndarray
    truth: np.ndarray
    ctrl_mean: np.ndarray
    de_idx: np.ndarray
    de_idx_non_dropout: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.conditions = np.asarray(self.conditions).astype(str)
        self.genes = np.asarray(self.genes).astype(str)
        self.pred = np.asarray(self.pred, dtype=np.float32)
        self.truth = np.asarray(self.truth, dtype=np.float32)
        self.ctrl_mean = np.asarray(self.ctrl_mean, dtype=np.float32)
        self.de_idx = np.asarray(self.de_idx, dtype=np.int64)
        self.de_idx_non_dropout = np.asarray(self.de_idx_non_dropout, dtype=np.int64)
        n_test, n_genes = len(self.conditions), len(self.genes)
        expected = {
            "pred": (n_test, n_genes),
            "truth": (n_test, n_genes),
            "ctrl_mean": (n_genes,),
            "de_idx": (n_test, N_DE),
            "de_idx_non_dropout": (n_test, N_DE),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (uncompressed) with every array and ``info`` as a JSON string; atomic."""
        arrays = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        arrays["info"] = np.array(json.dumps(_jsonable(self.info), sort_keys=True))
        with atomic_open(path, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CyclePredictions":
        """Read a file written by ``save``.

        Raises
        ------
        InputError
            If the file is not a readable ``.npz`` (truncated, corrupt), an array is missing or has the
            wrong shape, or ``info`` is not JSON.
        """
        import zipfile

        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [n for n in (*_ARRAY_FIELDS, "info") if n not in data.files]
                if missing:
                    raise InputError(path, missing[0], "array missing from the predictions file")
                arrays = {name: data[name] for name in _ARRAY_FIELDS}
                info = json.loads(str(data["info"]))
        except InputError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:  # JSONDecodeError is a ValueError
            raise InputError(path, None, f"unreadable predictions file ({type(err).__name__}: {err})") from None
        try:
            return cls(**arrays, info=info)
        except ValueError as err:
            raise InputError(path, None, str(err)) from err


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    return value


# --------------------------------------------------------------------------------------------------
# GEARS plumbing
# --------------------------------------------------------------------------------------------------


def import_gears():
    """Import cell-gears and restore the warning filters it switches off process-wide.

    Returns
    -------
    types.SimpleNamespace
        ``PertData``, ``GEARS``, ``GEARS_Model``, ``evaluate``, ``compute_metrics``.
    """
    import types

    import sys

    with warnings.catch_warnings():  # gears/gears.py: warnings.filterwarnings("ignore")
        import gears
        from gears import GEARS, PertData
        from gears.inference import compute_metrics, evaluate
        from gears.model import GEARS_Model
    if not hasattr(gears, "model"):  # gears.model loaded first by gears_upstream: bind it as import would
        gears.model = sys.modules["gears.model"]
    return types.SimpleNamespace(
        PertData=PertData,
        GEARS=GEARS,
        GEARS_Model=GEARS_Model,
        evaluate=evaluate,
        compute_metrics=compute_metrics,
    )


def resolve_device(device: str) -> str:
    """``'auto'`` -> ``'cuda'`` when ``torch.cuda.is_available()``, else ``'cpu'``; others unchanged."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("config", "gears.device", f"device {device!r} requested but CUDA is not available")
    return device


def seed_everything(seed: int) -> None:
    """Seed python ``random``, the global ``np.random`` (GEARS's control-cell pairing) and torch."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def go_edge_index(graph: KnowledgeGraph, node_map: Mapping[str, int] | None = None):
    """Our graph as GEARS's ``G_go`` / ``G_go_weight``.

    Parameters
    ----------
    graph : KnowledgeGraph
    node_map : mapping str -> int, optional
        Node index of every gene in the model (``PertData.node_map_pert``); default the graph's order.

    Returns
    -------
    edge_index : torch.LongTensor, shape (2, n_edges)
        ``[source, target]`` per edge, as ``gears/utils.py::GeneSimNetwork`` builds it (PyG aggregates
        at the target).
    edge_weight : torch.FloatTensor, shape (n_edges,)
        The edge importances.
    """
    import torch

    coo = graph.adjacency.tocoo()
    if node_map is None:
        src, dst = coo.row.astype(np.int64), coo.col.astype(np.int64)
    else:
        lookup = np.array([node_map[g] for g in graph.genes], dtype=np.int64)
        src, dst = lookup[coo.row], lookup[coo.col]
    edge_index = torch.from_numpy(np.vstack([src, dst]).astype(np.int64))
    edge_weight = torch.from_numpy(coo.data.astype(np.float32))
    return edge_index, edge_weight


def gene_embedding_rows(genes: Sequence[str], seed: int, hidden_size: int) -> np.ndarray:
    """Initial perturbation embedding of each gene, drawn from the gene's own stream.

    Returns
    -------
    numpy.ndarray, shape (len(genes), hidden_size), float32
        Row ``i`` ~ N(0, 1) (``torch.nn.Embedding``'s default init) from
        ``np.random.default_rng([seed, sha256(gene)[:8]])``: the same for a gene whatever graph or
        subgraph it sits in.
    """
    out = np.empty((len(genes), hidden_size), dtype=np.float32)
    for i, gene in enumerate(genes):
        key = int.from_bytes(hashlib.sha256(str(gene).encode()).digest()[:8], "little")
        out[i] = np.random.default_rng([int(seed), key]).standard_normal(hidden_size)
    return out


def graph_independent_init(model, pert_names: Sequence[str], seed: int, model_class) -> None:
    """Re-initialise a ``GEARS_Model`` so that its weights do not depend on the perturbation graph.

    ``GEARS_Model.__init__`` draws ``pert_emb`` (num_perts x hidden) from the global torch stream
    before most other layers, so the whole graph and a receptive-field subgraph would start from
    different weights everywhere. Here every parameter and buffer except ``pert_emb`` is taken from
    a reference model built under ``torch.manual_seed(seed)`` with a single perturbation node, and
    ``pert_emb`` rows come from ``gene_embedding_rows``. The torch stream is left in a state that
    depends only on ``seed`` (it then shuffles the training batches). Same distributions as GEARS.
    """
    import torch

    config = dict(model.args)
    config["num_perts"] = 1
    config["G_go"] = torch.zeros((2, 0), dtype=torch.long)
    config["G_go_weight"] = torch.zeros(0, dtype=torch.float32)
    torch.manual_seed(seed)
    reference = model_class(config)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    hidden = model.pert_emb.weight.shape[1]
    state["pert_emb.weight"] = torch.from_numpy(gene_embedding_rows(list(pert_names), seed, hidden))
    model.load_state_dict(state)


def split_validation(train_genes: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of a cycle's training perturbations into fit and validation conditions.

    ``n_val = max(1, round(val_fraction * n))`` taken by ``np.random.default_rng(seed).permutation`` over the
    sorted conditions; both trainers (``train_and_predict``, ``gears_batched.train_batched``) use it, so they
    validate on the same perturbations.
    """
    train_conds = sorted(condition_of(g) for g in train_genes)
    n_val = max(1, int(round(val_fraction * len(train_conds))))
    order = np.random.default_rng(seed).permutation(len(train_conds))
    val = sorted(train_conds[i] for i in order[:n_val])
    fit = sorted(train_conds[i] for i in order[n_val:])
    return fit, val


def _check_work_dir(work_dir: Path) -> None:
    """``work_dir`` must be absent, empty, or a previous run's (it carries our marker)."""
    if work_dir.exists():
        if not work_dir.is_dir():
            raise InputError(work_dir, None, "work_dir exists and is not a directory")
        if any(work_dir.iterdir()) and not (work_dir / WORK_MARKER).exists():
            raise InputError(
                work_dir,
                None,
                f"work_dir is not empty and has no {WORK_MARKER} marker: refusing to delete files "
                "that a previous GEARS run did not write",
            )


def _prepare_work_dir(work_dir: Path) -> None:
    """Empty ``work_dir`` (see ``_check_work_dir``) and mark it as ours."""
    _check_work_dir(work_dir)
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    (work_dir / WORK_MARKER).write_text("scratch directory of perturb_select.gears_model; emptied on every run\n")


def _check_layout(adata) -> None:
    """The parts of the GEARS layout (docs/architecture.md) that training relies on."""
    for column in ("condition", "condition_name", "cell_type"):
        if column not in adata.obs.columns:
            raise InputError(LAYOUT_SOURCE, f"obs['{column}']", "column missing")
    if "gene_name" not in adata.var.columns:
        raise InputError(LAYOUT_SOURCE, "var['gene_name']", "column missing")
    for key in ("rank_genes_groups_cov_all", "top_non_dropout_de_20", "non_zeros_gene_idx"):
        if key not in adata.uns:
            raise InputError(LAYOUT_SOURCE, f"uns['{key}']", "missing (DE genes not computed)")
    if not adata.var_names.is_unique:
        raise InputError(LAYOUT_SOURCE, "var_names", "gene names are not unique")


def _check_genes(graph: KnowledgeGraph, train_genes: list[str], test_genes: list[str]) -> None:
    for name, genes in (("train_genes", train_genes), ("test_genes", test_genes)):
        dup = sorted({g for g in genes if genes.count(g) > 1})
        if dup:
            raise InputError(name, None, f"duplicated genes: {dup[:10]}")
        missing = [g for g in genes if g not in graph]
        if missing:
            raise InputError(name, None, f"{len(missing)} genes are not nodes of the GO graph: {missing[:10]}")
    overlap = sorted(set(train_genes) & set(test_genes))
    if overlap:
        raise InputError("train_genes", None, f"genes also in the test set: {overlap[:10]}")
    if len(train_genes) < 2:
        raise InputError(
            "train_genes", None, f"a cycle needs >= 2 training perturbations (1 for validation), got {len(train_genes)}"
        )
    if not test_genes:
        raise InputError("test_genes", None, "no test perturbations")


def _de_index_matrix(lists: Sequence[Sequence[str]], var_index: pd.Index, key: str) -> np.ndarray:
    out = np.full((len(lists), N_DE), -1, dtype=np.int64)
    for i, names in enumerate(lists):
        names = list(names)[:N_DE]
        idx = var_index.get_indexer(names)
        if (idx < 0).any():
            raise InputError(LAYOUT_SOURCE, f"uns['{key}']", "names a gene that is not in var_names")
        out[i, : len(idx)] = idx
    return out


def _subset_screen(adata, conditions: list[str]):
    """Control + the cycle's conditions, X as csr float32, ``uns`` dicts restricted to them."""
    labels = adata.obs["condition"].astype(str)
    counts = labels.value_counts()
    absent = [c for c in [CTRL, *conditions] if counts.get(c, 0) == 0]
    if absent:
        raise InputError(LAYOUT_SOURCE, "obs['condition']", f"no cells for conditions {absent[:10]}")
    keep = labels.isin([CTRL, *conditions]).to_numpy()
    sub = adata[keep].copy()
    sub.obs_names_make_unique()  # PertData.load re-indexes cells by name
    for column in ("condition", "condition_name", "cell_type"):
        sub.obs[column] = sub.obs[column].astype(str).astype("category")
    if not sp.issparse(sub.X):
        sub.X = sp.csr_matrix(sub.X)
    sub.X = sp.csr_matrix(sub.X, dtype=np.float32)  # create_cell_graph calls .toarray() on rows
    names = set(sub.obs["condition_name"])
    for key in ("rank_genes_groups_cov_all", "top_non_dropout_de_20", "top_non_zero_de_20",
                "non_zeros_gene_idx", "non_dropout_gene_idx"):
        if key in sub.uns:
            sub.uns[key] = {k: v for k, v in sub.uns[key].items() if k in names}
    missing = sorted(
        n for n in set(sub.obs.loc[sub.obs["condition"] != CTRL, "condition_name"])
        if n not in sub.uns["rank_genes_groups_cov_all"] or n not in sub.uns["non_zeros_gene_idx"]
    )
    if missing:
        raise InputError(LAYOUT_SOURCE, "uns['rank_genes_groups_cov_all']", f"no DE genes for {missing[:10]}")
    return sub


def _condition_names(sub, conditions: list[str]) -> dict[str, str]:
    pairs = sub.obs[["condition", "condition_name"]].astype(str).drop_duplicates()
    mapping = dict(zip(pairs["condition"], pairs["condition_name"]))
    if len(mapping) != len(pairs):
        raise InputError(LAYOUT_SOURCE, "obs['condition_name']", "a condition has several condition_names")
    return {c: mapping[c] for c in conditions}


# --------------------------------------------------------------------------------------------------
# One cycle
# --------------------------------------------------------------------------------------------------


def train_and_predict(
    adata,
    graph: KnowledgeGraph,
    gene2go: Mapping[str, set],
    train_genes: Sequence[str],
    test_genes: Sequence[str],
    *,
    seed: int,
    work_dir: str | os.PathLike,
    epochs: int = 20,
    batch_size: int = 32,
    test_batch_size: int = 128,
    hidden_size: int = 64,
    num_go_gnn_layers: int = 1,
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    val_fraction: float = 0.1,
    device: str = "auto",
    use_subgraph: bool = True,
    num_threads: int | None = None,
) -> CyclePredictions:
    """Train GEARS on the cycle's training perturbations and predict the test perturbations.

    Parameters
    ----------
    adata : anndata.AnnData
        The processed screen in GEARS layout (docs/architecture.md; ``perturb_processed.h5ad``):
        csr ``X`` of log1p-normalised expression, ``obs['condition']`` ``'ctrl'`` / ``'GENE+ctrl'``,
        ``obs['condition_name']``, ``obs['cell_type']``, ``var['gene_name']`` and the DE ``uns`` keys.
    graph : KnowledgeGraph
        The GO knowledge graph (whole graph; the receptive-field subgraph is taken here).
    gene2go : mapping str -> set of str
        GO terms per gene; must cover every gene of the perturbation graph. GEARS uses it only to pick
        its perturbation nodes (``PertData.set_pert_genes``).
    train_genes, test_genes : sequence of str
        Perturbed genes (graph nodes) of the cycle's training pool picks and of the fixed test set.
    seed : int
        Seeds the train/validation split, GEARS's control-cell pairing, weight init and batch order.
    work_dir : path-like
        Scratch directory for GEARS's files; emptied first (must be absent, empty or a previous
        work_dir, recognised by its marker file). Nothing is written outside it.
    epochs, batch_size, hidden_size, num_go_gnn_layers, lr, weight_decay
        GEARS's ``model_initialize`` / ``train`` / ``get_dataloader`` arguments (GEARS defaults).
    test_batch_size : int
        Batch size for predicting the test cells.
    val_fraction : float
        Share of training perturbations held out for validation (model selection by top-20 DE
        MSE, as ``GEARS.train``): ``n_val = max(1, round(val_fraction * n_train))``.
    device : str
        ``'auto'`` (CUDA when available, else CPU), ``'cpu'`` or ``'cuda[:i]'``.
    use_subgraph : bool
        Train on ``receptive_field_subgraph(graph, train + test genes, num_go_gnn_layers)`` rather
        than on the whole graph: the same model (same outputs and gradients for the same weights), far
        cheaper; trained predictions agree up to amplified float rounding (see module docstring).
    num_threads : int, optional
        CPU threads for torch during the call (``torch.set_num_threads``; restored afterwards). Set it
        to the job's core share: on a busy machine torch's default (every core) can be 10x slower
        than 1 thread. None leaves torch's setting alone.

    Returns
    -------
    CyclePredictions
        ``info`` records the split, cell counts, graph size, device, seconds per stage and the best
        validation top-20 DE MSE.

    Raises
    ------
    InputError
        Bad genes (not graph nodes, duplicated, overlapping, fewer than 2 training genes, no test
        genes), a layout field missing, a condition without cells, genes of the graph missing from
        ``gene2go``, fewer training cells than ``batch_size``, or a non-empty foreign ``work_dir``.
    RuntimeError
        If GEARS's perturbation nodes differ from the graph's genes.

    Notes
    -----
    Follows GEARS's own pipeline (``gears/pertdata.py::PertData.load``, ``prepare_split('custom')``,
    ``get_dataloader``; ``gears/gears.py::GEARS.model_initialize``, ``train``;
    ``gears/inference.py::evaluate``). The processed screen is loaded with ``PertData.load`` rather
    than ``new_data_process(skip_calc_de=True)``: the DE genes were computed on the whole screen
    (data.py), must stay the same in every cycle and are read as they are, and ``load`` does not
    rewrite ``obs``.
    """
    started = time.perf_counter()
    work_dir = Path(work_dir)
    _check_work_dir(work_dir)
    train_genes, test_genes = [str(g) for g in train_genes], [str(g) for g in test_genes]
    _check_genes(graph, train_genes, test_genes)
    _check_layout(adata)
    checks = [("seed", seed, 0), ("epochs", epochs, 1), ("batch_size", batch_size, 1),
              ("test_batch_size", test_batch_size, 1), ("hidden_size", hidden_size, 1),
              ("num_go_gnn_layers", num_go_gnn_layers, 1)]
    if num_threads is not None:
        checks.append(("num_threads", num_threads, 1))
    for name, value, low in checks:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError("config", name, f"must be an integer >= {low}, got {value!r}")
    if not 0 < val_fraction < 1:
        raise InputError("config", "val_fraction", f"must lie in (0, 1), got {val_fraction!r}")

    pert_graph = (
        receptive_field_subgraph(graph, train_genes + test_genes, hops=num_go_gnn_layers)
        if use_subgraph
        else graph
    )
    no_terms = [g for g in pert_graph.genes if g not in gene2go]
    if no_terms:
        raise InputError("gene2go", None, f"{len(no_terms)} graph genes have no GO entry: {no_terms[:10]}")

    fit_conds, val_conds = split_validation(train_genes, val_fraction, seed)
    train_conds = sorted(fit_conds + val_conds)
    test_conds = sorted(condition_of(g) for g in test_genes)

    sub = _subset_screen(adata, train_conds + test_conds)
    labels = sub.obs["condition"].astype(str)
    n_cells = {
        "ctrl": int((labels == CTRL).sum()),
        "train": int(labels.isin([CTRL, *fit_conds]).sum()),
        "val": int(labels.isin(val_conds).sum()),
        "test": int(labels.isin(test_conds).sum()),
    }
    if n_cells["train"] < batch_size:
        raise InputError(
            "config",
            "batch_size",
            f"{n_cells['train']} training cells (control included) < batch_size {batch_size}: GEARS's "
            "train loader drops the last incomplete batch and would train on nothing",
        )

    g = import_gears()
    import torch

    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    try:
        with warnings.catch_warnings():
            _ignore_known_gears_warnings()
            return _train_and_predict(
                g, graph, pert_graph, gene2go, sub, n_cells, fit_conds, val_conds, test_conds,
                seed=seed, work_dir=work_dir, epochs=epochs, batch_size=batch_size,
                test_batch_size=test_batch_size, hidden_size=hidden_size,
                num_go_gnn_layers=num_go_gnn_layers, lr=lr, weight_decay=weight_decay, device=device,
                use_subgraph=use_subgraph, started=started,
            )
    finally:
        torch.set_num_threads(previous_threads)


def _ignore_known_gears_warnings() -> None:
    """Silence three known, harmless warnings raised inside cell-gears 0.1.2 (each checked):

    * ``pertdata.py``: ``adata_.obs['condition_name'][0]`` (pandas positional ``__getitem__``);
    * ``pertdata.py``: ``torch_geometric.data.DataLoader`` is deprecated (same class as ``loader``);
    * ``utils.py::np_pearson_cor``: 0/0 for genes constant in the training cells, set to 0 by GEARS.
    """
    warnings.filterwarnings("ignore", message="Series.__getitem__ treating keys as positions", category=FutureWarning)
    warnings.filterwarnings("ignore", message="'data.DataLoader' is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", message="invalid value encountered in divide", category=RuntimeWarning,
                            module="gears.utils")


def _train_and_predict(g, graph, pert_graph, gene2go, sub, n_cells, fit_conds, val_conds, test_conds,
                       *, seed, work_dir, epochs, batch_size, test_batch_size, hidden_size,
                       num_go_gnn_layers, lr, weight_decay, device, use_subgraph, started):
    """The GEARS part of ``train_and_predict`` (inputs already checked, torch threads set)."""
    import torch
    from torch_geometric.loader import DataLoader

    device = resolve_device(device)
    _prepare_work_dir(work_dir)
    data_root = work_dir / "gears_data"
    dataset_dir = data_root / DATASET_NAME
    dataset_dir.mkdir(parents=True)
    write_gears_gene2go({gene: gene2go[gene] for gene in pert_graph.genes}, data_root / "gene2go_all.pkl")
    gene_set_path = data_root / "pert_genes.pkl"
    with atomic_open(gene_set_path, "wb") as handle:
        pickle.dump([str(x) for x in pert_graph.genes], handle, protocol=4)
    with atomic_path(dataset_dir / "perturb_processed.h5ad") as tmp:
        sub.write_h5ad(tmp)
    split_path = data_root / "split.pkl"
    with atomic_open(split_path, "wb") as handle:
        pickle.dump({"train": [*fit_conds, CTRL], "val": val_conds, "test": test_conds}, handle, protocol=4)

    seed_everything(seed)  # after importing gears (torch.manual_seed(0)), before any pairing
    t_load = time.perf_counter()
    pert_data = g.PertData(str(data_root), gene_set_path=str(gene_set_path), default_pert_graph=False)
    pert_data.load(data_path=str(dataset_dir))
    if not np.array_equal(np.asarray(pert_data.pert_names, dtype=object), np.asarray(pert_graph.genes, dtype=object)):
        dropped = sorted(set(pert_graph.genes) - set(pert_data.pert_names))
        raise RuntimeError(f"GEARS's perturbation nodes differ from the graph's genes (dropped: {dropped[:10]})")
    if pert_data.adata.n_obs != sub.n_obs:
        raise RuntimeError(f"GEARS kept {pert_data.adata.n_obs} of {sub.n_obs} cells")
    pert_data.prepare_split(split="custom", seed=seed, split_dict_path=str(split_path))
    pert_data.get_dataloader(batch_size=batch_size, test_batch_size=test_batch_size)
    pert_data.dataloader.pop("test_loader")  # GEARS.train then skips its own test analyses
    test_graphs = [cell for cond in test_conds for cell in pert_data.dataset_processed[cond]]
    test_loader = DataLoader(test_graphs, batch_size=test_batch_size, shuffle=False)
    seconds = {"load": time.perf_counter() - t_load}

    t_train = time.perf_counter()
    model = g.GEARS(pert_data, device=device)
    edge_index, edge_weight = go_edge_index(pert_graph, pert_data.node_map_pert)
    model.model_initialize(
        hidden_size=hidden_size,
        num_go_gnn_layers=num_go_gnn_layers,
        G_go=edge_index,
        G_go_weight=edge_weight,
    )
    graph_independent_init(model.model, pert_data.pert_names, seed, g.GEARS_Model)
    model.best_model = deepcopy(model.model)
    model.train(epochs=epochs, lr=lr, weight_decay=weight_decay)
    seconds["train"] = time.perf_counter() - t_train

    t_pred = time.perf_counter()
    val_metrics, _ = g.compute_metrics(g.evaluate(pert_data.dataloader["val_loader"], model.best_model, False, device))
    res = g.evaluate(test_loader, model.best_model, False, device)
    seconds["predict"] = time.perf_counter() - t_pred

    pert_cat = np.asarray(res["pert_cat"]).astype(str)
    pred = np.stack([res["pred"][pert_cat == c].mean(axis=0) for c in test_conds]).astype(np.float32)
    truth = np.stack([res["truth"][pert_cat == c].mean(axis=0) for c in test_conds]).astype(np.float32)
    is_ctrl = (sub.obs["condition"].astype(str) == CTRL).to_numpy()
    ctrl_mean = np.asarray(sub.X[is_ctrl].mean(axis=0), dtype=np.float32).ravel()
    names = _condition_names(sub, test_conds)
    de_idx = _de_index_matrix(
        [sub.uns["rank_genes_groups_cov_all"][names[c]] for c in test_conds], sub.var_names,
        "rank_genes_groups_cov_all",
    )
    de_idx_nd = _de_index_matrix(
        [sub.uns["top_non_dropout_de_20"][names[c]] for c in test_conds], sub.var_names,
        "top_non_dropout_de_20",
    )
    seconds["total"] = time.perf_counter() - started

    from importlib.metadata import version as _version

    info = {
        "seed": int(seed),
        "train_conditions": fit_conds,
        "val_conditions": val_conds,
        "test_conditions": test_conds,
        "n_cells": n_cells,
        "graph": {
            "use_subgraph": bool(use_subgraph),
            "nodes": pert_graph.n_nodes,
            "edges": pert_graph.n_edges,
            "whole_graph_nodes": graph.n_nodes,
            "whole_graph_edges": graph.n_edges,
        },
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "test_batch_size": int(test_batch_size),
        "hidden_size": int(hidden_size),
        "num_go_gnn_layers": int(num_go_gnn_layers),
        "lr": float(lr),
        "weight_decay": float(weight_decay),
        "best_val_mse_top20_de": float(val_metrics["mse_de"]),
        "best_val_mse": float(val_metrics["mse"]),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "versions": {"cell-gears": _version("cell-gears"), "torch": torch.__version__},
    }
    return CyclePredictions(
        conditions=np.array(test_conds),
        genes=np.asarray(sub.var_names).astype(str),
        pred=pred,
        truth=truth,
        ctrl_mean=ctrl_mean,
        de_idx=de_idx,
        de_idx_non_dropout=de_idx_nd,
        info=info,
    )
