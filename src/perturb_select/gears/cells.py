"""GEARS trained with batched tensors: cell-gears's network and losses, our data path and loop.

What stays cell-gears's: the network (``gears.model.GEARS_Model``), the loss functions (``loss_fct``,
``uncertainty_loss_fct``), the co-expression graph (``get_coexpression_network_from_train``: |Pearson r|
over the training cells, top k + 1 per gene, kept above the threshold), the schedule of ``GEARS.train``
(Adam, ``StepLR(step_size=1, gamma)``, ``clip_grad_value_(1.0)``, best model by validation top-20 DE MSE)
and the prediction of ``gears.inference.evaluate`` (one forward pass per test cell from its paired
control cell; mean over the condition's cells). See ``gears.upstream`` for how they are loaded.

What is ours, and why it is the same computation:

* Cells are rows of dense tensors instead of one PyG ``Data`` object each. ``GEARS_Model.forward`` reads
  only ``x`` (cells x genes, flattened to a column), ``pert_idx`` (per cell, the perturbation-graph node
  of each perturbed gene, ``[-1]`` for control) and ``batch`` (used only for ``len(batch.unique())``,
  the number of cells); a ``CellBatch`` carries exactly these. ``tests/test_gears_cells.py`` checks
  outputs, loss and gradients against a PyG batch of GEARS's own cell graphs.
* Every perturbed cell's input is one control cell drawn once, before training (``num_samples=1`` of
  ``PertData.create_cell_graph_dataset``), from a seeded generator instead of the global ``np.random``;
  control cells are their own input.
* Batch order comes from a seeded ``torch.Generator``; weights from ``gears.common.graph_independent_init``
  (identical to the cell-gears path's for the same seed).
* The training set is not re-evaluated after every epoch unless ``eval_train`` (``GEARS.train`` does it
  and only prints it).

Learning diagnostics go into the predictions' ``info['diagnostics']``: per epoch the mean training loss,
the validation top-20 DE MSE and MSE, and the validation top-20 DE MSE of two trivial predictions of the
same validation perturbations (``no_change``: the control mean; ``train_mean``: the mean over the
cycle's training perturbations of each perturbation's mean expression).

Same inputs, seed and torch thread count give bit-identical predictions on CPU.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from ..config import TrainingConfig
from ..evaluation.metrics import perturbation_metrics
from ..io import InputError
from ..knowledge.graph import KnowledgeGraph
from ..screens.arrays import ScreenArrays
from ..screens.layout import CTRL, condition_gene
from .common import Adam, go_edge_index, graph_independent_init, resolve_device

DENSE_LIMIT_BYTES = 2 << 30
"""Expression matrices up to this size are densified once on the device; larger ones per batch."""


class CellBatch:
    """What ``GEARS_Model.forward`` reads from a PyG batch of cell graphs.

    Attributes
    ----------
    x : torch.Tensor, shape (n_cells * n_genes, 1), float32
        Input (control) expression, cell after cell.
    pert_idx : list of list of int
        Perturbation-graph node of each perturbed gene, per cell; ``[-1]`` for a control cell.
    batch : torch.Tensor, shape (n_cells,), int64
        ``arange(n_cells)``: ``forward`` only counts its unique values.
    """

    __slots__ = ("x", "pert_idx", "batch")

    def __init__(self, x, pert_idx, batch):
        self.x, self.pert_idx, self.batch = x, pert_idx, batch


def coexpression_edges(X_train: np.ndarray, k: int, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GEARS's gene co-expression graph from training cells.

    Parameters
    ----------
    X_train : numpy.ndarray, shape (n_cells, n_genes), float
        Expression of the training cells (control and training perturbations).
    k, threshold
        ``num_similar_genes_co_express_graph`` and ``coexpress_threshold``.

    Returns
    -------
    source, target : numpy.ndarray of int64
        Gene indices of each edge ``source -> target``.
    weight : numpy.ndarray of float32
        |Pearson r|.

    Notes
    -----
    The same numpy calls as ``gears/utils.py::get_coexpression_network_from_train`` (``np_pearson_cor``,
    NaN -> 0, ``np.argsort(out)[:, -(k + 1):]``, keep ``> threshold``), so ties fall the same way; the
    top k + 1 of a gene usually include itself (r = 1), as in GEARS.
    """
    x = np.asarray(X_train)
    with np.errstate(invalid="ignore", divide="ignore"):
        xv = x - x.mean(axis=0)
        xvss = (xv * xv).sum(axis=0)
        out = np.matmul(xv.transpose(), xv) / np.sqrt(np.outer(xvss, xvss))
    out = np.maximum(np.minimum(out, 1.0), -1.0)
    out[np.isnan(out)] = 0
    out = np.abs(out)
    idx = np.argsort(out)[:, -(k + 1) :]
    val = np.sort(out)[:, -(k + 1) :]
    target = np.repeat(np.arange(out.shape[0]), idx.shape[1])
    source, weight = idx.ravel(), val.ravel()
    keep = weight > threshold
    return source[keep].astype(np.int64), target[keep].astype(np.int64), weight[keep].astype(np.float32)


def go_edges_with_self_loops(pert_graph: KnowledgeGraph, self_loop: np.ndarray | None = None):
    """GEARS's ``G_go`` / ``G_go_weight`` for ``pert_graph``, plus explicit self-loops where ``self_loop != 1``.

    Returns ``edge_index`` (2, E) int64 and ``edge_weight`` (E,) float32 tensors (see
    ``gears.common.go_edge_index``); nodes whose self-loop weight is 1 are left to PyG's ``gcn_norm``.
    """
    import torch

    edge_index, edge_weight = go_edge_index(pert_graph)
    if self_loop is None:
        return edge_index, edge_weight
    self_loop = np.asarray(self_loop, dtype=np.float32)
    if self_loop.shape != (pert_graph.n_nodes,):
        raise ValueError(f"self_loop has shape {self_loop.shape}, expected ({pert_graph.n_nodes},)")
    loops = np.flatnonzero(self_loop != 1.0)
    loop_index = torch.from_numpy(np.vstack([loops, loops]).astype(np.int64))
    return (torch.cat([edge_index, loop_index], dim=1), torch.cat([edge_weight, torch.from_numpy(self_loop[loops])]))


class BatchedGears:
    """A GEARS model for one cycle: data on tensors, ``fit`` and per-cell prediction.

    Parameters
    ----------
    screen : ScreenArrays
    pert_graph : KnowledgeGraph
        The perturbation (GO) graph the model propagates over (whole graph or receptive-field subgraph).
    fit_conditions, val_conditions : list of str
        ``'GENE+ctrl'`` conditions trained on and validated on; GENE must be nodes of ``pert_graph``.
    config : TrainingConfig
    seed : int
        Seeds the control pairing (``np.random.default_rng([seed, 1])``), initial weights and batch order.
    self_loop : numpy.ndarray, shape (pert_graph.n_nodes,), optional
        Self-loop weights for GEARS's GO graph (``knowledge.graph.compact_receptive_field``); None = PyG's 1.
    """

    def __init__(
        self,
        screen: ScreenArrays,
        pert_graph: KnowledgeGraph,
        fit_conditions: list[str],
        val_conditions: list[str],
        config: TrainingConfig,
        seed: int,
        self_loop: np.ndarray | None = None,
    ):
        import torch

        from .upstream import gears_loss_functions, gears_model_class

        self.screen, self.pert_graph, self.config, self.seed = screen, pert_graph, config, int(seed)
        self.device = resolve_device(config.device)
        self.fit_conditions, self.val_conditions = list(fit_conditions), list(val_conditions)
        self.losses = gears_loss_functions()
        GEARS_Model = gears_model_class()
        device = self.device

        self.ctrl_cells = screen.cells_of(CTRL)
        if not self.ctrl_cells.size:
            raise InputError("screen", "conditions", "no control cells")
        self._pair_rng = np.random.default_rng([self.seed, 1])
        self.ctrl_mean = np.asarray(screen.X[self.ctrl_cells].mean(axis=0), dtype=np.float32).ravel()
        self.ctrl_expression = torch.from_numpy(self.ctrl_mean).to(device)

        fit_cells = np.concatenate([self.ctrl_cells] + [screen.cells_of(c) for c in self.fit_conditions])
        self.train = self._cell_set(fit_cells)
        self._check_training_set()
        self.val = self._cell_set(np.concatenate([screen.cells_of(c) for c in self.val_conditions]))

        self.dict_filter = {c: torch.from_numpy(screen.nonzero_genes(c)).to(device) for c in self.fit_conditions}
        y_train = self.train["y"]  # the training cells' expression, densified once in _cell_set when it fits
        x_train = y_train.cpu().numpy() if isinstance(y_train, torch.Tensor) else y_train.toarray()
        src, dst, weight = coexpression_edges(x_train, config.coexpress_k, config.coexpress_threshold)
        self.coexpress = (torch.from_numpy(np.vstack([src, dst])), torch.from_numpy(weight))
        go_index, go_weight = go_edges_with_self_loops(pert_graph, self_loop)
        model_config = {
            "hidden_size": config.hidden_size,
            "num_go_gnn_layers": config.num_go_gnn_layers,
            "num_gene_gnn_layers": 1,
            "decoder_hidden_size": 16,
            "num_similar_genes_go_graph": 20,
            "num_similar_genes_co_express_graph": config.coexpress_k,
            "coexpress_threshold": config.coexpress_threshold,
            "uncertainty": config.uncertainty,
            "uncertainty_reg": config.uncertainty_reg,
            "direction_lambda": config.direction_lambda,
            "G_go": go_index,
            "G_go_weight": go_weight,
            "G_coexpress": self.coexpress[0],
            "G_coexpress_weight": self.coexpress[1],
            "device": device,
            "num_genes": screen.n_genes,
            "num_perts": pert_graph.n_nodes,
            "no_perturb": False,
        }  # GEARS.model_initialize's config dict (its defaults where we have no setting)
        self.model = GEARS_Model(model_config)
        graph_independent_init(self.model, pert_graph.genes, self.seed, GEARS_Model)
        self.model.to(device)
        self.best_state = None
        self.diagnostics: dict = {}
        self.epoch_seconds: list[float] = []  # wall seconds since training began, after each epoch's validation

    # ------------------------------------------------------------------ data
    def _cell_set(self, cells: np.ndarray) -> dict:
        """Targets, paired control inputs, perturbation nodes and conditions of ``cells``."""
        screen = self.screen
        cond = screen.conditions[screen.cell_condition[cells]]
        is_ctrl = cond == CTRL
        inputs = cells.copy()
        inputs[~is_ctrl] = self.ctrl_cells[self._pair_rng.integers(0, len(self.ctrl_cells), int((~is_ctrl).sum()))]
        node = np.full(len(cells), -1, dtype=np.int64)
        if (~is_ctrl).any():
            genes = [condition_gene(c) for c in cond[~is_ctrl].tolist()]
            node[~is_ctrl] = self.pert_graph.index_of(genes)
        return {
            "cells": cells,
            "inputs": inputs,
            "node": node,
            "conditions": cond.astype(str),
            "x": self._rows(inputs),
            "y": self._rows(cells),
        }

    def _rows(self, cells: np.ndarray):
        """Expression rows as a float32 tensor on the device (or a CSR slice kept for per-batch use)."""
        import torch

        if len(cells) * self.screen.n_genes * 4 <= DENSE_LIMIT_BYTES:
            return torch.from_numpy(self.screen.X[cells].toarray()).to(self.device)
        return self.screen.X[cells]

    def _take(self, rows, idx: np.ndarray):
        import torch

        if isinstance(rows, torch.Tensor):
            return rows[torch.from_numpy(idx).to(rows.device)]
        return torch.from_numpy(rows[idx].toarray()).to(self.device)

    def _batch(self, data: dict, idx: np.ndarray) -> CellBatch:
        import torch

        x = self._take(data["x"], idx)
        nodes = data["node"][idx].tolist()
        return CellBatch(
            x=x.reshape(-1, 1),
            pert_idx=[[n] for n in nodes],
            batch=torch.arange(len(idx), device=self.device),
        )

    # ------------------------------------------------------------------ training
    def _loss(self, out, y, perts):
        cfg = self.config
        if cfg.uncertainty:
            pred, logvar = out
            return self.losses.uncertainty_loss_fct(
                pred,
                logvar,
                y,
                perts,
                reg=cfg.uncertainty_reg,
                ctrl=self.ctrl_expression,
                dict_filter=self.dict_filter,
                direction_lambda=cfg.direction_lambda,
            )
        return self.losses.loss_fct(
            out,
            y,
            perts,
            ctrl=self.ctrl_expression,
            dict_filter=self.dict_filter,
            direction_lambda=cfg.direction_lambda,
        )

    def fit(self) -> dict:
        """Train for ``config.epochs`` (or until ``config.patience`` epochs pass without a better validation
        score); keep the weights with the best validation top-20 DE MSE (``GEARS.train``'s rule).

        GEARS's schedule: Adam (``lr``, ``weight_decay``), ``StepLR(step_size=1, gamma=lr_decay)`` per epoch
        (``gears.common.Adam``: torch's arithmetic without torch.optim's import), gradient values clipped at 1.0.
        What an epoch is belongs to the trainer (``_train_epoch``).

        Returns
        -------
        dict
            The diagnostics (also kept as ``self.diagnostics``): ``epoch`` (1..E), ``train_loss``
            (mean over the epoch's steps), ``val_mse_top20_de``, ``val_mse``, ``lr`` (per epoch),
            ``train_mse_top20_de`` (only with ``eval_train``), ``best_epoch``, ``steps_per_epoch``,
            and ``val_baselines`` {``no_change``, ``train_mean``}: top-20 DE MSE on the same validation
            perturbations.
        """
        import torch

        cfg, model = self.config, self.model
        optimizer = Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, lr_decay=cfg.lr_decay)
        generator = torch.Generator().manual_seed(self.seed)
        diag = {"epoch": [], "train_loss": [], "val_mse_top20_de": [], "val_mse": [], "lr": []}
        started = time.perf_counter()
        self.epoch_seconds = []
        if cfg.eval_train:
            diag["train_mse_top20_de"] = []
        best = np.inf
        self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        best_epoch = steps = 0
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            diag["lr"].append(float(optimizer.lr))
            mean_loss, steps = self._train_epoch(optimizer, generator)
            optimizer.end_epoch()
            val = self.evaluate_set(self.val)
            diag["epoch"].append(epoch)
            diag["train_loss"].append(mean_loss)
            diag["val_mse_top20_de"].append(float(np.mean(val["mse_top20_de"])))
            diag["val_mse"].append(float(np.mean(val["mse"])))
            self.epoch_seconds.append(time.perf_counter() - started)
            if cfg.eval_train:
                diag["train_mse_top20_de"].append(float(np.nanmean(self.evaluate_set(self.train)["mse_top20_de"])))
            if diag["val_mse_top20_de"][-1] < best:  # GEARS.train: strictly better
                best = diag["val_mse_top20_de"][-1]
                best_epoch = epoch
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if cfg.patience is not None and epoch - best_epoch >= cfg.patience:
                break
        model.load_state_dict(self.best_state)
        diag["best_epoch"] = best_epoch
        diag["steps_per_epoch"] = steps
        diag["val_baselines"] = self.baselines(self.val_conditions)
        self.diagnostics = diag
        return diag

    def _check_training_set(self) -> None:
        """Enough training cells for one step of ``cells_per_step`` cells (GEARS drops the last incomplete one)."""
        n_cells, per_step = len(self.train["cells"]), self.config.cells_per_step
        if n_cells < per_step:
            raise InputError(
                "config",
                "gears.cells_per_step",
                f"{n_cells} training cells (control included) < cells_per_step {per_step}: the last "
                "incomplete batch is dropped (as GEARS's train loader does), so nothing would be trained",
            )

    def _optimizer_step(self, optimizer, loss) -> float:
        """Backward, GEARS's gradient clipping (values at 1.0), one Adam step; returns the loss value."""
        import torch.nn as nn

        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_value_(self.model.parameters(), clip_value=1.0)
        optimizer.step()
        return float(loss.detach())

    def _train_epoch(self, optimizer, generator) -> tuple[float, int]:
        """One epoch of GEARS's cell mini-batches: a seeded permutation of the training cells in steps of
        ``cells_per_step`` (the last incomplete one dropped, as GEARS's loader). Returns (mean loss, steps)."""
        import torch

        cfg = self.config
        n_train = len(self.train["cells"])
        steps = n_train // cfg.cells_per_step
        order = torch.randperm(n_train, generator=generator).numpy()
        total = 0.0
        for step in range(steps):
            idx = order[step * cfg.cells_per_step : (step + 1) * cfg.cells_per_step]
            batch = self._batch(self.train, idx)
            y = self._take(self.train["y"], idx)
            loss = self._loss(self.model(batch), y, self.train["conditions"][idx].tolist())
            total += self._optimizer_step(optimizer, loss)
        return total / steps, steps

    # ------------------------------------------------------------------ prediction
    def predict_cells(self, data: dict, cells_per_step: int | None = None):
        """Per-cell predictions (``gears.inference.evaluate``): model in eval mode, no gradients.

        ``cells_per_step`` cells per forward pass (default ``config.cells_per_prediction_step``).

        Returns
        -------
        pred : numpy.ndarray, shape (n_cells, n_genes), float32
        logvar : numpy.ndarray or None, same shape (uncertainty head only)
        """
        import torch

        model = self.model
        model.eval()
        preds, logvars = [], []
        n = len(data["cells"])
        step = cells_per_step or self.config.cells_per_prediction_step
        with torch.no_grad():
            for start in range(0, n, step):
                idx = np.arange(start, min(n, start + step))
                out = model(self._batch(data, idx))
                if self.config.uncertainty:
                    out, logvar = out
                    logvars.append(logvar.cpu().numpy())
                preds.append(out.cpu().numpy())
        pred = np.concatenate(preds) if preds else np.zeros((0, self.screen.n_genes), np.float32)
        return pred, (np.concatenate(logvars) if logvars else None)

    def condition_means(self, data: dict, conditions: list[str]):
        """Mean predicted and observed expression per condition, (n, G) float32 each (+ mean logvar)."""
        pred, logvar = self.predict_cells(data)
        truth = self._take(data["y"], np.arange(len(data["cells"]))).cpu().numpy()
        conds = data["conditions"]
        pm = np.stack([pred[conds == c].mean(axis=0) for c in conditions]).astype(np.float32)
        tm = np.stack([truth[conds == c].mean(axis=0) for c in conditions]).astype(np.float32)
        lm = None
        if logvar is not None:
            lm = np.stack([logvar[conds == c].mean(axis=0) for c in conditions]).astype(np.float32)
        return pm, tm, lm

    def evaluate_set(self, data: dict) -> dict:
        """Per perturbed condition of ``data``: top-20 DE MSE and MSE of the means (``compute_metrics``)."""
        conditions = sorted(c for c in set(data["conditions"].tolist()) if c != CTRL)
        pm, tm, _ = self.condition_means(data, conditions)
        de = np.stack([self.screen.de_idx[self.screen.condition_index(c)] for c in conditions])
        metrics = perturbation_metrics(pm, tm, self.ctrl_mean, de)
        return {"conditions": conditions, "mse_top20_de": metrics["mse_top20_de"], "mse": metrics["mse"]}

    def baselines(self, conditions: list[str]) -> dict:
        """Top-20 DE MSE (mean over ``conditions``) of ``no_change`` and ``train_mean`` predictions."""
        screen = self.screen
        truth = np.stack([screen.mean_expression(c) for c in conditions])
        de = np.stack([screen.de_idx[screen.condition_index(c)] for c in conditions])
        train_mean = np.mean([screen.mean_expression(c) for c in self.fit_conditions], axis=0)
        out = {}
        for name, vector in (("no_change", self.ctrl_mean.astype(np.float64)), ("train_mean", train_mean)):
            pred = np.tile(vector, (len(conditions), 1))
            out[name] = float(np.mean(perturbation_metrics(pred, truth, self.ctrl_mean, de)["mse_top20_de"]))
        return out

    def predict_perturbations(self, genes: Sequence[str], n_ctrl: int, seed: int):
        """Predicted mean expression of perturbing each gene, from a fixed sample of control cells.

        What ``GEARS.predict`` computes (``create_cell_graph_dataset_for_prediction``: 300 control cells,
        one forward batch per perturbation, the mean of the predictions), with the control cells drawn once
        from ``np.random.default_rng(seed)`` and shared by every gene, so scores of different genes compare.
        ``GEARS_Model.forward`` adds the input expression ``x`` to its output only at the very end
        (``out + x``) and, in eval mode, treats every cell of a batch independently; so the mean over the
        sample is the prediction from a zero input plus the sample's mean expression, and the log-variance
        does not depend on ``x`` at all. One forward row per gene instead of ``n_ctrl``: same values up to
        float32 rounding (tested against the 300-cell computation).

        Parameters
        ----------
        genes : sequence of str
            Nodes of the model's GO graph (with data or not: no expression of theirs is read).
        n_ctrl : int
            Control cells in the sample (with replacement, as GEARS).
        seed : int

        Returns
        -------
        pred : numpy.ndarray, shape (len(genes), n_genes), float32
            Mean over the control sample of the predicted expression.
        uncertainty : numpy.ndarray, shape (len(genes),), float64, or None
            GEARS's score ``exp(-mean log-variance)`` (uncertainty head only).

        Raises
        ------
        KeyError
            If a gene is not a node of the model's GO graph.
        """
        import torch

        cells = self.ctrl_cells[np.random.default_rng(seed).integers(0, len(self.ctrl_cells), n_ctrl)]
        nodes = self.pert_graph.index_of([str(g) for g in genes])
        sample_mean = self._take(self._rows(cells), np.arange(len(cells))).mean(dim=0)
        data = {
            "cells": np.zeros(len(nodes), dtype=np.int64),
            "node": nodes.astype(np.int64),
            "x": torch.zeros((len(nodes), self.screen.n_genes), device=self.device),
        }
        effect, logvar = self.predict_cells(data)
        pred = (torch.from_numpy(effect).to(self.device) + sample_mean).cpu().numpy().astype(np.float32)
        scores = None
        if self.config.uncertainty:
            scores = np.exp(-logvar.astype(np.float64).mean(axis=1))
        return pred, scores

    def cell_set(self, conditions: list[str]) -> dict:
        """The cells of ``conditions``, each perturbed cell paired with a control cell (seeded stream)."""
        return self._cell_set(np.concatenate([self.screen.cells_of(c) for c in conditions]))
