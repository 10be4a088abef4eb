"""What both GEARS trainers share: devices and seeds, GEARS's GO graph tensors, graph-independent initial
weights, the validation split and the checks of a cycle's genes.

torch is imported inside the functions (this module is imported by the trainers only).
"""

from __future__ import annotations

import hashlib
import random
from typing import Mapping, Sequence

import numpy as np

from ..config import TRAINER_REGISTRY
from ..io import InputError, check_memory
from ..knowledge.graph import KnowledgeGraph
from ..screens.layout import condition_of


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


def model_memory(num_genes: int, num_perturbations: int, config) -> float:
    """Bytes a GEARS model of ``config``'s size takes to train, an estimate from cell-gears 0.1.2's
    ``GEARS_Model``: float32 parameters (gene and position embeddings and the two per-gene weights,
    ``4 G H``; perturbation embeddings ``P H``; about ten ``H x H`` layers), four copies with the gradients
    and Adam's moments, plus about 16 activations of shape (rows x G, H) kept for the backward pass, rows the
    larger of a training step's rows and ``cells_per_prediction_step``.

    Parameters
    ----------
    num_genes, num_perturbations : int
    config : perturb_select.config.TrainingConfig

    Returns
    -------
    float
    """
    hidden = config.hidden_size
    parameters = 4 * num_genes * hidden + num_perturbations * hidden + 10 * hidden * hidden
    rows = getattr(config, TRAINER_REGISTRY[config.trainer].rows_per_step or "cells_per_step")
    rows = max(rows, config.cells_per_prediction_step)
    return 4.0 * (4 * parameters + 16 * rows * num_genes * hidden)


def check_model_memory(num_genes: int, num_perturbations: int, config) -> None:
    """Refuse a network larger than this machine's memory before building it (``gears.hidden_size``:
    1,000,000 once tried to allocate 4 TB).

    Raises
    ------
    InputError
        Source ``config``, field ``gears.hidden_size``, the estimate and the memory in GB.
    """
    check_memory(
        model_memory(num_genes, num_perturbations, config),
        "config",
        "gears.hidden_size",
        f"GEARS with hidden_size {config.hidden_size} on {num_genes} genes and {num_perturbations} "
        "graph nodes (and its rows per step)",
    )


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
    sorted conditions; every trainer (``cell_gears.train_and_predict``, ``cycle.run_trainer``) uses it, so they
    validate on the same perturbations.
    """
    train_conds = sorted(condition_of(g) for g in train_genes)
    n_val = max(1, int(round(val_fraction * len(train_conds))))
    order = np.random.default_rng(seed).permutation(len(train_conds))
    val = sorted(train_conds[i] for i in order[:n_val])
    fit = sorted(train_conds[i] for i in order[n_val:])
    return fit, val


def check_genes(graph: KnowledgeGraph, train_genes: list[str], test_genes: list[str]) -> None:
    """A cycle's training and test perturbations: unique graph nodes, disjoint, at least 2 to train on
    (one is held out for validation) and 1 to test.

    Raises
    ------
    InputError
        Source ``train_genes`` or ``test_genes``, naming the genes at fault.
    """
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


class Adam:
    """``torch.optim.Adam`` with ``StepLR(step_size=1, gamma)``: GEARS.train's optimiser and schedule, without
    ``torch.optim``'s import of ``torch._dynamo`` (1.1-1.3 s at the first ``Optimizer.__init__``, paid by every
    training job).

    The arithmetic of PyTorch's single-tensor Adam (``torch/optim/adam.py::_single_tensor_adam``, the CPU
    default: L2 weight decay added to the gradient, ``lerp_`` for the first moment, bias corrections in Python
    floats from a float32 step counter) in the same order over the same parameters, so the parameters after
    every step are bit-identical to ``torch.optim.Adam``'s (``tests/test_gears_upstream.py``).

    Parameters
    ----------
    params : iterable of torch.Tensor
        The model's parameters, in ``model.parameters()`` order.
    lr, weight_decay : float
    lr_decay : float
        ``StepLR``'s gamma: :meth:`end_epoch` multiplies the learning rate by it.
    betas, eps
        Adam's (torch's defaults).
    """

    def __init__(
        self,
        params,
        lr: float,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = list(params)
        self.lr, self.weight_decay, self.lr_decay = float(lr), float(weight_decay), float(lr_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.state: list[dict | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Gradients to None (``Optimizer.zero_grad(set_to_none=True)``)."""
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        import torch

        beta1, beta2 = self.beta1, self.beta2
        with torch.no_grad():
            for i, param in enumerate(self.params):
                if param.grad is None:
                    continue
                state = self.state[i]
                if state is None:
                    state = self.state[i] = {
                        "step": torch.tensor(0.0, dtype=torch.float32),
                        "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
                    }
                state["step"] += 1
                grad = param.grad
                if self.weight_decay != 0:
                    grad = grad.add(param, alpha=self.weight_decay)
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step = state["step"].item()
                step_size = self.lr / (1 - beta1**step)
                denom = (state["exp_avg_sq"].sqrt() / (1 - beta2**step) ** 0.5).add_(self.eps)
                param.addcdiv_(state["exp_avg"], denom, value=-step_size)

    def end_epoch(self) -> None:
        """``StepLR(step_size=1, gamma=lr_decay).step()``: the learning rate times ``lr_decay``."""
        self.lr = self.lr * self.lr_decay
