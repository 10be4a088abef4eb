"""cell-gears's network and loss functions, loaded without the ``gears`` package and without PyG's import.

``import gears.model`` first runs ``gears/__init__.py``, which imports ``gears.gears``, ``gears.pertdata``,
``gears.inference`` and ``gears.utils``: scanpy, scikit-learn, networkx, requests, and ``dcor`` (which
compiles numba kernels at import, ~9 s), and switches every warning off process-wide. A training job needs
none of that: only ``GEARS_Model`` (``gears/model.py``) and the two loss functions of ``gears/utils.py``.

* ``GEARS_Model``: the statements of the installed ``gears/model.py`` are compiled under that file name
  (tracebacks point into cell-gears) and executed as the module ``perturb_select.gears._gears_model``, with one
  name bound differently: its only PyG import, ``from torch_geometric.nn import SGConv``, is replaced by
  :func:`sgconv_class`, the same operator written against torch alone. Importing PyG costs a training job 4.3 s of
  its ~7 s start-up (PyG 2.6.1 imports ``torch._dynamo`` at package import); the main job starts 240
  training jobs. :func:`sgconv_class` is PyG 2.6.1's ``SGConv(in, out, K)`` with its defaults (``cached=False``,
  ``add_self_loops=True``, ``bias=True``, flow source to target, sum aggregation): ``gcn_norm`` with
  ``add_remaining_self_loops`` (an existing self-loop keeps its weight), messages ``w_st x_s`` summed at the
  target by ``scatter_add_``, then ``Linear`` with PyG's initialisation drawn the same way (so the same seed
  gives the same initial weights). ``tests/test_gears_upstream.py`` checks parameters, outputs and gradients
  against PyG's ``SGConv`` and the whole ``GEARS_Model`` against cell-gears's own class. The cell-gears
  trainer (``gears.cell_gears``) runs cell-gears's own classes on PyG, unchanged.
* ``loss_fct``, ``uncertainty_loss_fct``: their ``def`` statements are taken from the installed
  ``gears/utils.py`` with ``ast`` and compiled under that file name, in a namespace holding what they use
  (``np``, ``torch``). The bodies are cell-gears's, unchanged.

One adapter, for CPU: ``uncertainty_loss_fct`` starts from ``torch.tensor(0.0, requires_grad=True)
.to(pred.device)`` and adds to it in place. On CUDA ``.to`` returns a copy (not a leaf); on CPU it
returns the leaf itself and autograd refuses the in-place add ("a leaf Variable that requires grad is
being used in an in-place operation"). The namespace's ``torch`` is therefore a thin proxy whose
``tensor(..., requires_grad=True)`` returns a non-leaf copy (``.clone()``), which is what CUDA gives: the
value and every gradient are the same (the starting zero has no parameters behind it). site-packages is
never edited.

One adapter, for reproducibility: both losses sum their per-perturbation terms in the iteration order of
``set(perts)``, and a set of strings iterates in hash order, which Python randomises per process
(``PYTHONHASHSEED``). The float sum, and so the recorded training loss, then differed at ~1e-8 between
identical runs. The namespace's ``set`` is :func:`_sorted_set`: the same distinct conditions, always in
sorted order. Training is unchanged bit for bit (the terms touch disjoint rows of ``pred``, so every
gradient is the same whatever the order); only the loss value's rounding is now the same in every run.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from functools import lru_cache
from pathlib import Path

LOSS_FUNCTIONS = ("loss_fct", "uncertainty_loss_fct")


def gears_source_dir() -> Path:
    """Directory of the installed cell-gears package (found without importing it).

    Raises
    ------
    ModuleNotFoundError
        If cell-gears is not installed.
    """
    spec = importlib.util.find_spec("gears")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("cell-gears is not installed (no package 'gears'); pip install cell-gears==0.1.2")
    return Path(next(iter(spec.submodule_search_locations)))


#: Where cell-gears's ``GEARS_Model`` runs on :func:`sgconv_class` (not ``gears.model``: cell-gears keeps its own).
MODEL_MODULE = "perturb_select.gears._gears_model"
PYG_IMPORT = ("torch_geometric.nn", ("SGConv",))


@lru_cache(maxsize=1)
def gears_model_class():
    """cell-gears's ``GEARS_Model`` with :func:`sgconv_class` in place of PyG's (module docstring).

    Raises
    ------
    RuntimeError
        If the installed ``gears/model.py`` does not import exactly ``SGConv`` from PyG (cell-gears 0.1.2 does).
    """
    module = sys.modules.get(MODEL_MODULE)
    if module is not None:
        return module.GEARS_Model
    path = gears_source_dir() / "model.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    pyg = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == PYG_IMPORT[0]]
    if len(pyg) != 1 or tuple(alias.name for alias in pyg[0].names) != PYG_IMPORT[1]:
        raise RuntimeError(
            f"{path} does not import exactly {PYG_IMPORT[1]} from {PYG_IMPORT[0]} (cell-gears 0.1.2 does)"
        )
    tree.body = [node for node in tree.body if node is not pyg[0]]
    module = types.ModuleType(MODEL_MODULE)
    module.__file__ = str(path)
    module.SGConv = sgconv_class()
    sys.modules[MODEL_MODULE] = module
    try:
        exec(compile(tree, str(path), "exec"), module.__dict__)
    except BaseException:
        del sys.modules[MODEL_MODULE]
        raise
    return module.GEARS_Model


@lru_cache(maxsize=1)
def sgconv_class():
    """PyG 2.6.1's ``SGConv`` (defaults: ``cached=False``, ``add_self_loops=True``, ``bias=True``) on torch alone."""
    import math

    import torch

    class SGConvTorch(torch.nn.Module):
        """``X' = (D^-1/2 (A + I) D^-1/2)^K X Theta`` (Wu et al. 2019), as PyG's ``SGConv``: ``A[s, t]`` the weight
        of edge ``s -> t`` (``edge_index[0]`` the source), messages summed at the target, an existing self-loop
        kept with its weight and every other node given one of weight 1 (``add_remaining_self_loops``)."""

        def __init__(self, in_channels: int, out_channels: int, K: int = 1):
            super().__init__()
            self.in_channels, self.out_channels, self.K = in_channels, out_channels, K
            self.lin = torch.nn.Linear(in_channels, out_channels, bias=True)
            self.reset_parameters()

        def reset_parameters(self):
            # PyG's Linear: kaiming_uniform(a = sqrt(5)) over in_channels, bias uniform(1 / sqrt(in_channels)),
            # drawn in Linear.__init__ (torch.nn.Linear draws the same) and again by SGConv.reset_parameters
            # (here): the same random stream, so the same seed gives PyG's initial weights.
            bound = math.sqrt(6 / ((1 + 5) * self.in_channels))
            self.lin.weight.data.uniform_(-bound, bound)
            bound = 1.0 / math.sqrt(self.in_channels)
            self.lin.bias.data.uniform_(-bound, bound)

        def forward(self, x, edge_index, edge_weight=None):
            n = x.size(0)
            if edge_weight is None:
                edge_weight = torch.ones(edge_index.size(1), dtype=x.dtype, device=x.device)
            keep = edge_index[0] != edge_index[1]
            loop_weight = torch.ones(n, dtype=edge_weight.dtype, device=x.device)
            loop_weight[edge_index[0][~keep]] = edge_weight[~keep]
            loops = torch.arange(n, device=x.device)
            source = torch.cat([edge_index[0][keep], loops])
            target = torch.cat([edge_index[1][keep], loops])
            weight = torch.cat([edge_weight[keep], loop_weight])
            degree = weight.new_zeros(n).scatter_add_(0, target, weight)
            scale = degree.pow_(-0.5)
            scale.masked_fill_(scale == float("inf"), 0)
            weight = scale[source] * weight * scale[target]
            for _ in range(self.K):
                messages = weight.view(-1, 1) * x.index_select(0, source)
                x = x.new_zeros(x.shape).scatter_add_(0, target.view(-1, 1).expand_as(messages), messages)
            return self.lin(x)

        def __repr__(self):
            return f"SGConv({self.in_channels}, {self.out_channels}, K={self.K})"

    return SGConvTorch


class _TorchForLosses(types.ModuleType):
    """``torch`` as seen by the loss functions: identical except that a ``requires_grad`` scalar made by
    ``torch.tensor`` is returned as a non-leaf copy (the CPU adapter, module docstring)."""

    def __init__(self, torch_module):
        super().__init__("torch")
        self._torch = torch_module

    def __getattr__(self, name):
        return getattr(self._torch, name)

    def tensor(self, *args, **kwargs):
        out = self._torch.tensor(*args, **kwargs)
        return out.clone() if out.requires_grad else out


def _sorted_set(values) -> list:
    """``set(values)`` for the loss functions: the distinct values, in sorted (not hash) order (module
    docstring); they only iterate over it and take its length."""
    return sorted(set(values))


@lru_cache(maxsize=1)
def gears_loss_functions() -> types.SimpleNamespace:
    """cell-gears's ``loss_fct`` and ``uncertainty_loss_fct`` (``gears/utils.py``), unchanged bodies.

    Returns
    -------
    types.SimpleNamespace
        ``loss_fct(pred, y, perts, ctrl, direction_lambda, dict_filter)`` and
        ``uncertainty_loss_fct(pred, logvar, y, perts, reg, ctrl, direction_lambda, dict_filter)``:
        ``pred``, ``y``, ``logvar`` (n_cells, n_genes) float tensors, ``perts`` the condition of each cell
        (``'GENE+ctrl'`` / ``'ctrl'``), ``ctrl`` (n_genes,) the control mean, ``dict_filter`` condition ->
        gene indices kept in the loss (GEARS's ``non_zeros_gene_idx``). Scalar tensor out.

    Raises
    ------
    RuntimeError
        If the installed ``gears/utils.py`` does not define both functions.
    """
    import numpy as np
    import torch

    path = gears_source_dir() / "utils.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in LOSS_FUNCTIONS]
    found = {node.name for node in defs}
    if found != set(LOSS_FUNCTIONS):
        raise RuntimeError(f"{path} does not define {sorted(set(LOSS_FUNCTIONS) - found)} (cell-gears 0.1.2 does)")
    namespace = {
        "np": np,
        "torch": _TorchForLosses(torch),
        "set": _sorted_set,
        "__name__": "gears.utils",
        "__file__": str(path),
    }
    exec(compile(ast.Module(body=defs, type_ignores=[]), str(path), "exec"), namespace)
    return types.SimpleNamespace(**{name: namespace[name] for name in LOSS_FUNCTIONS})
