"""Train GEARS (cell-gears 0.1.2) for one cycle, offline and seeded, on our GO knowledge graph.

The reference trainer: cell-gears's own ``PertData`` and ``GEARS.train``; the only module that imports the
``gears`` package as a whole (``gears.upstream`` loads its network and losses without it). ``gears`` and torch
are imported inside the functions.

What differs from calling GEARS as its tutorials do, and why:

* Offline: ``PertData`` downloads ``gene2go_all.pkl`` unless ``data_path/gene2go_all.pkl`` exists and
  builds the perturbation graph from the Harvard Dataverse GO graph unless ``G_go`` is given. We write
  the pickle ourselves (restricted to the graph's genes), pass ``gene_set_path`` so that the
  perturbation nodes (``pert_names``) are exactly our graph's genes, and pass our edges as ``G_go``.
* Subgraph: GEARS's GO GNN (``SGConv`` x ``num_go_gnn_layers`` over every node, PyG ``gcn_norm``) only
  needs, for the embeddings of the perturbed genes, the nodes within K hops and the full in-degree of
  those nodes; ``knowledge.graph.receptive_field_subgraph`` keeps exactly that. Checked in
  tests/test_gears_cell_gears.py: identical forward outputs and gradients. Training then agrees up to
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
* ``PertData.get_dataloader`` ignores its ``test_batch_size``; we build the test loader ourselves, and
  predict the test perturbations after training (``gears.inference.evaluate`` with the best model by
  validation top-20 DE MSE, as ``GEARS.train`` does) without GEARS's extra test analyses.

CPU and CUDA both work (``device='auto'``). Same inputs, seed and torch thread count give
bit-identical predictions on the same CPU machine; another thread count changes float rounding (and so
the trained model slightly); on CUDA PyG's scatter uses atomics, so runs are only near-identical.
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
import warnings
from copy import deepcopy
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import GEARS_SCHEDULE, TRAINER_OF_MODULE, TrainingConfig
from ..io import InputError, atomic_open, atomic_path
from ..knowledge.annotations import read_gears_gene2go, write_gears_gene2go
from ..knowledge.graph import KnowledgeGraph, receptive_field_subgraph
from ..screens.layout import CTRL, N_DE, condition_of, read_h5ad_file
from .common import (
    check_genes,
    go_edge_index,
    graph_independent_init,
    resolve_device,
    seed_everything,
    split_validation,
)
from .results import CyclePredictions, TrainingResult, package_versions, run_info

#: The trainer this module implements (``gears.trainer``), as its runs record it.
TRAINER = TRAINER_OF_MODULE[__name__]
DATASET_NAME = "screen"
WORK_MARKER = ".perturb_select_gears_work"
"""File that marks a directory as ours to empty (guards against wiping an unrelated directory)."""

LAYOUT_SOURCE = "perturb_processed.h5ad"

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
    import sys
    import types

    with warnings.catch_warnings():  # gears/gears.py: warnings.filterwarnings("ignore")
        import gears
        from gears import GEARS, PertData
        from gears.inference import compute_metrics, evaluate
        from gears.model import GEARS_Model
    if not hasattr(gears, "model"):  # gears.model loaded first by gears.upstream: bind it as import would
        gears.model = sys.modules["gears.model"]
    return types.SimpleNamespace(
        PertData=PertData,
        GEARS=GEARS,
        GEARS_Model=GEARS_Model,
        evaluate=evaluate,
        compute_metrics=compute_metrics,
    )


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
    (work_dir / WORK_MARKER).write_text("scratch directory of perturb_select.gears.cell_gears; emptied on every run\n")


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
    for key in (
        "rank_genes_groups_cov_all",
        "top_non_dropout_de_20",
        "top_non_zero_de_20",
        "non_zeros_gene_idx",
        "non_dropout_gene_idx",
    ):
        if key in sub.uns:
            sub.uns[key] = {k: v for k, v in sub.uns[key].items() if k in names}
    missing = sorted(
        n
        for n in set(sub.obs.loc[sub.obs["condition"] != CTRL, "condition_name"])
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


def train_cell_gears(
    data,
    train_genes: Sequence[str],
    test_genes: Sequence[str],
    *,
    seed: int,
    config: TrainingConfig,
    score_genes: Sequence[str] | None = None,
    score_controls: int | None = None,
    score_train: bool = False,
) -> TrainingResult:
    """The trainer interface (``perturb_select.gears.train``) for cell-gears's own ``PertData``/``GEARS.train``.

    Reads GEARS's processed h5ad (``data.adata_path``) and gene2go pickle (``data.gene2go_path``), trains in
    ``data.work_dir`` (removed afterwards: GEARS's cell graphs and co-expression cache are only needed
    while training) and predicts the test perturbations (:func:`train_and_predict`); with ``score_train`` also
    the fitted ones (``TrainingResult.train_predictions``).

    Raises
    ------
    InputError
        Pool scoring (active strategies need a trainer that scores the pool), missing inputs; and
        :func:`train_and_predict`'s errors.
    """
    if score_genes is not None:
        raise InputError(
            "config",
            "gears.trainer",
            "active strategies need a trainer that scores the pool; set gears.trainer: perturbations or cells",
        )
    if not (data.adata_path and data.gene2go_path and data.work_dir):
        raise InputError(
            "config", "gears.trainer", "the cell-gears trainer needs the h5ad, gene2go pickle and work_dir"
        )
    predictions = train_and_predict(
        read_h5ad_file(data.adata_path),
        data.graph,
        read_gears_gene2go(data.gene2go_path),
        train_genes,
        test_genes,
        seed=seed,
        work_dir=Path(data.work_dir),
        config=config,
        score_train=score_train,
    )
    shutil.rmtree(data.work_dir, ignore_errors=True)
    if score_train:
        predictions, train_predictions = predictions
        return TrainingResult(predictions, train_predictions=train_predictions)
    return TrainingResult(predictions)


def train_and_predict(
    adata,
    graph: KnowledgeGraph,
    gene2go: Mapping[str, set],
    train_genes: Sequence[str],
    test_genes: Sequence[str],
    *,
    seed: int,
    work_dir: str | os.PathLike,
    config: TrainingConfig = TrainingConfig(trainer=TRAINER, **GEARS_SCHEDULE),
    score_train: bool = False,
) -> CyclePredictions | tuple[CyclePredictions, CyclePredictions]:
    """Train GEARS on the cycle's training perturbations and predict the test perturbations.

    Parameters
    ----------
    adata : anndata.AnnData
        The processed screen in GEARS layout (``screens.layout``; ``perturb_processed.h5ad``):
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
    config : TrainingConfig
        ``epochs``, ``cells_per_step`` (``get_dataloader``'s ``batch_size``), ``cells_per_prediction_step``,
        ``hidden_size``, ``num_go_gnn_layers``, ``lr``, ``weight_decay`` (GEARS's ``model_initialize`` /
        ``train`` arguments), ``val_fraction`` (``n_val = max(1, round(val_fraction * n_train))``, model
        selection by top-20 DE MSE as ``GEARS.train``), ``device``, ``use_subgraph`` (train on
        ``receptive_field_subgraph(graph, train + test genes, num_go_gnn_layers)``: the same model, far
        cheaper) and ``threads`` (``torch.set_num_threads`` during the call, restored afterwards: on a busy
        machine torch's default, every core, can be 10x slower than 1 thread).
    score_train : bool
        Also predict the fitted conditions (the training perturbations less the validation ones) from their
        own cell graphs, with the best model, as the test conditions are predicted.

    Returns
    -------
    CyclePredictions, or (CyclePredictions, CyclePredictions) with ``score_train``
        ``info`` (:data:`perturb_select.gears.results.RUN_INFO_KEYS`) records the split, cell counts, graph
        size, device, seconds per stage and the best validation top-20 DE MSE; the second, the in-sample
        predictions, has ``info`` ``{'split': 'train', 'trainer': 'cell-gears', 'seed': seed}``.

    Raises
    ------
    InputError
        Bad genes (not graph nodes, duplicated, overlapping, fewer than 2 training genes, no test
        genes), a layout field missing, a condition without cells, genes of the graph missing from
        ``gene2go``, fewer training cells than ``cells_per_step``, or a non-empty foreign ``work_dir``.
    RuntimeError
        If GEARS's perturbation nodes differ from the graph's genes.

    Notes
    -----
    Follows GEARS's own pipeline (``gears/pertdata.py::PertData.load``, ``prepare_split('custom')``,
    ``get_dataloader``; ``gears/gears.py::GEARS.model_initialize``, ``train``;
    ``gears/inference.py::evaluate``). The processed screen is loaded with ``PertData.load`` rather
    than ``new_data_process(skip_calc_de=True)``: the DE genes were computed on the whole screen
    (``screens.raw``), must stay the same in every cycle and are read as they are, and ``load`` does not
    rewrite ``obs``.
    """
    started = time.perf_counter()
    work_dir = Path(work_dir)
    _check_work_dir(work_dir)
    train_genes, test_genes = [str(g) for g in train_genes], [str(g) for g in test_genes]
    check_genes(graph, train_genes, test_genes)
    _check_layout(adata)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError("config", "seed", f"must be an integer >= 0, got {seed!r}")
    pert_graph = (
        receptive_field_subgraph(graph, train_genes + test_genes, hops=config.num_go_gnn_layers)
        if config.use_subgraph
        else graph
    )
    no_terms = [g for g in pert_graph.genes if g not in gene2go]
    if no_terms:
        raise InputError("gene2go", None, f"{len(no_terms)} graph genes have no GO entry: {no_terms[:10]}")

    fit_conds, val_conds = split_validation(train_genes, config.val_fraction, seed)
    test_conds = sorted(condition_of(g) for g in test_genes)
    sub = _subset_screen(adata, sorted(fit_conds + val_conds) + test_conds)
    labels = sub.obs["condition"].astype(str)
    n_cells = {
        "ctrl": int((labels == CTRL).sum()),
        "train": int(labels.isin([CTRL, *fit_conds]).sum()),
        "val": int(labels.isin(val_conds).sum()),
        "test": int(labels.isin(test_conds).sum()),
    }
    if n_cells["train"] < config.cells_per_step:
        raise InputError(
            "config",
            "gears.cells_per_step",
            f"{n_cells['train']} training cells (control included) < cells_per_step {config.cells_per_step}: "
            "GEARS's train loader drops the last incomplete batch and would train on nothing",
        )
    g = import_gears()
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(config.threads))
    try:
        with warnings.catch_warnings():
            _ignore_known_gears_warnings()
            run = _GearsRun(g, pert_graph, gene2go, sub, fit_conds, val_conds, test_conds, seed, work_dir, config)
            predictions = run.train_and_predict(score_train=score_train)
    finally:
        torch.set_num_threads(previous_threads)
    run.seconds["total"] = time.perf_counter() - started
    predictions.info = run_info(
        trainer=TRAINER,
        seed=int(seed),
        train_conditions=fit_conds,
        val_conditions=val_conds,
        test_conditions=test_conds,
        n_cells=n_cells,
        graph={
            "use_subgraph": bool(config.use_subgraph),
            "nodes": pert_graph.n_nodes,
            "edges": pert_graph.n_edges,
            "self_loops": 0,
            "whole_graph_nodes": graph.n_nodes,
            "whole_graph_edges": graph.n_edges,
        },
        device=run.device,
        torch_threads=run.threads,
        config=config.to_dict(),
        best_val_mse_top20_de=run.best_val["mse_de"],
        best_val_mse=run.best_val["mse"],
        seconds={k: round(v, 3) for k, v in run.seconds.items()},
        versions=package_versions(),
    )
    if score_train:
        run.train_predictions.info = {"split": "train", "trainer": TRAINER, "seed": int(seed)}
        return predictions, run.train_predictions
    return predictions


def _ignore_known_gears_warnings() -> None:
    """Silence three known, harmless warnings raised inside cell-gears 0.1.2 (each checked):

    * ``pertdata.py``: ``adata_.obs['condition_name'][0]`` (pandas positional ``__getitem__``);
    * ``pertdata.py``: ``torch_geometric.data.DataLoader`` is deprecated (same class as ``loader``);
    * ``utils.py::np_pearson_cor``: 0/0 for genes constant in the training cells, set to 0 by GEARS.
    """
    warnings.filterwarnings("ignore", message="Series.__getitem__ treating keys as positions", category=FutureWarning)
    warnings.filterwarnings("ignore", message="'data.DataLoader' is deprecated", category=UserWarning)
    warnings.filterwarnings(
        "ignore", message="invalid value encountered in divide", category=RuntimeWarning, module="gears.utils"
    )


class _GearsRun:
    """One cycle through GEARS's own objects: the files ``PertData`` reads, ``GEARS.train``, then
    ``gears.inference.evaluate`` on the validation and test cells (inputs already checked)."""

    def __init__(self, g, pert_graph, gene2go, sub, fit_conds, val_conds, test_conds, seed, work_dir, config):
        self.g, self.pert_graph, self.gene2go, self.sub = g, pert_graph, gene2go, sub
        self.fit_conds, self.val_conds, self.test_conds = fit_conds, val_conds, test_conds
        self.seed, self.work_dir, self.config = int(seed), Path(work_dir), config
        self.device = resolve_device(config.device)
        self.seconds: dict = {}
        self.best_val: dict = {}
        self.threads = None

    def _write_inputs(self) -> tuple[Path, Path, Path]:
        """GEARS's data folder in the work dir: gene2go pickle, perturbation gene list, h5ad and split."""
        _prepare_work_dir(self.work_dir)
        data_root = self.work_dir / "gears_data"
        dataset_dir = data_root / DATASET_NAME
        dataset_dir.mkdir(parents=True)
        genes = self.pert_graph.genes
        write_gears_gene2go({gene: self.gene2go[gene] for gene in genes}, data_root / "gene2go_all.pkl")
        gene_set_path = data_root / "pert_genes.pkl"
        with atomic_open(gene_set_path, "wb") as handle:
            pickle.dump([str(x) for x in genes], handle, protocol=4)
        with atomic_path(dataset_dir / "perturb_processed.h5ad") as tmp:
            self.sub.write_h5ad(tmp)
        split_path = data_root / "split.pkl"
        with atomic_open(split_path, "wb") as handle:
            pickle.dump(
                {"train": [*self.fit_conds, CTRL], "val": self.val_conds, "test": self.test_conds}, handle, protocol=4
            )
        return data_root, gene_set_path, split_path

    def _load(self, data_root: Path, gene_set_path: Path, split_path: Path):
        """``PertData`` with the custom split and loaders; the test loader built with our batch size."""
        from torch_geometric.loader import DataLoader

        g, cfg = self.g, self.config
        pert_data = g.PertData(str(data_root), gene_set_path=str(gene_set_path), default_pert_graph=False)
        pert_data.load(data_path=str(data_root / DATASET_NAME))
        names = np.asarray(pert_data.pert_names, dtype=object)
        if not np.array_equal(names, np.asarray(self.pert_graph.genes, dtype=object)):
            dropped = sorted(set(self.pert_graph.genes) - set(pert_data.pert_names))
            raise RuntimeError(f"GEARS's perturbation nodes differ from the graph's genes (dropped: {dropped[:10]})")
        if pert_data.adata.n_obs != self.sub.n_obs:
            raise RuntimeError(f"GEARS kept {pert_data.adata.n_obs} of {self.sub.n_obs} cells")
        pert_data.prepare_split(split="custom", seed=self.seed, split_dict_path=str(split_path))
        pert_data.get_dataloader(batch_size=cfg.cells_per_step, test_batch_size=cfg.cells_per_prediction_step)
        pert_data.dataloader.pop("test_loader")  # GEARS.train then skips its own test analyses
        test_graphs = [cell for cond in self.test_conds for cell in pert_data.dataset_processed[cond]]
        return pert_data, DataLoader(test_graphs, batch_size=cfg.cells_per_prediction_step, shuffle=False)

    def _train(self, pert_data):
        """``GEARS.model_initialize`` on our graph, graph-independent initial weights, ``GEARS.train``."""
        g, cfg = self.g, self.config
        model = g.GEARS(pert_data, device=self.device)
        edge_index, edge_weight = go_edge_index(self.pert_graph, pert_data.node_map_pert)
        model.model_initialize(
            hidden_size=cfg.hidden_size,
            num_go_gnn_layers=cfg.num_go_gnn_layers,
            G_go=edge_index,
            G_go_weight=edge_weight,
        )
        graph_independent_init(model.model, pert_data.pert_names, self.seed, g.GEARS_Model)
        model.best_model = deepcopy(model.model)
        model.train(epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return model

    def train_and_predict(self, score_train: bool = False) -> CyclePredictions:
        """Train, predict the test conditions; with ``score_train`` also the fitted ones
        (``self.train_predictions``), from their cell graphs, after the test prediction."""
        import torch

        g, test_conds = self.g, self.test_conds
        inputs = self._write_inputs()
        seed_everything(self.seed)  # after importing gears (torch.manual_seed(0)), before any pairing
        t0 = time.perf_counter()
        pert_data, test_loader = self._load(*inputs)
        self.seconds["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = self._train(pert_data)
        self.seconds["train"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        val_metrics, _ = g.compute_metrics(
            g.evaluate(pert_data.dataloader["val_loader"], model.best_model, False, self.device)
        )
        res = g.evaluate(test_loader, model.best_model, False, self.device)
        self.seconds["predict"] = time.perf_counter() - t0
        self.best_val = {"mse_de": float(val_metrics["mse_de"]), "mse": float(val_metrics["mse"])}
        self.threads = torch.get_num_threads()
        self.train_predictions = None
        if score_train:
            from torch_geometric.loader import DataLoader

            t0 = time.perf_counter()
            fitted = [cell for cond in self.fit_conds for cell in pert_data.dataset_processed[cond]]
            loader = DataLoader(fitted, batch_size=self.config.cells_per_prediction_step, shuffle=False)
            self.train_predictions = self._package(
                g.evaluate(loader, model.best_model, False, self.device), self.fit_conds
            )
            self.seconds["score_train"] = time.perf_counter() - t0
        return self._package(res, test_conds)

    def _package(self, res: dict, conditions: list[str]) -> CyclePredictions:
        """``gears.inference.evaluate``'s per-cell output as per-condition means with the DE genes."""
        sub = self.sub
        pert_cat = np.asarray(res["pert_cat"]).astype(str)
        pred = np.stack([res["pred"][pert_cat == c].mean(axis=0) for c in conditions]).astype(np.float32)
        truth = np.stack([res["truth"][pert_cat == c].mean(axis=0) for c in conditions]).astype(np.float32)
        is_ctrl = (sub.obs["condition"].astype(str) == CTRL).to_numpy()
        ctrl_mean = np.asarray(sub.X[is_ctrl].mean(axis=0), dtype=np.float32).ravel()
        names = _condition_names(sub, conditions)
        de_idx = _de_index_matrix(
            [sub.uns["rank_genes_groups_cov_all"][names[c]] for c in conditions],
            sub.var_names,
            "rank_genes_groups_cov_all",
        )
        de_idx_nd = _de_index_matrix(
            [sub.uns["top_non_dropout_de_20"][names[c]] for c in conditions], sub.var_names, "top_non_dropout_de_20"
        )
        return CyclePredictions(
            conditions=np.array(conditions),
            genes=np.asarray(sub.var_names).astype(str),
            pred=pred,
            truth=truth,
            ctrl_mean=ctrl_mean,
            de_idx=de_idx,
            de_idx_non_dropout=de_idx_nd,
        )
