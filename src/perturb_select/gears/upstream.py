"""cell-gears's network and loss functions, loaded without the ``gears`` package's import side effects.

``import gears.model`` first runs ``gears/__init__.py``, which imports ``gears.gears``, ``gears.pertdata``,
``gears.inference`` and ``gears.utils``: scanpy, scikit-learn, networkx, requests, and ``dcor`` (which
compiles numba kernels at import, ~9 s), and switches every warning off process-wide. A training job needs
none of that: only ``GEARS_Model`` (``gears/model.py``, which imports torch and PyG's ``SGConv``) and the two
loss functions of ``gears/utils.py``.

* ``GEARS_Model``: ``gears/model.py`` is executed as the module ``gears.model`` from cell-gears's installed
  file (``importlib.util.spec_from_file_location``). If ``gears`` is imported later in the same process,
  ``gears/gears.py``'s ``from .model import GEARS_Model`` finds this module in ``sys.modules``: one class.
* ``loss_fct``, ``uncertainty_loss_fct``: their ``def`` statements are taken from the installed
  ``gears/utils.py`` with ``ast`` and compiled under that file name (tracebacks point into cell-gears), in
  a namespace holding what they use (``np``, ``torch``). The bodies are cell-gears's, unchanged.

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


@lru_cache(maxsize=1)
def gears_model_class():
    """``gears.model.GEARS_Model``, importing only torch and PyG (see module docstring)."""
    module = sys.modules.get("gears.model")
    if module is None:
        path = gears_source_dir() / "model.py"
        spec = importlib.util.spec_from_file_location("gears.model", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gears.model"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules["gears.model"]
            raise
        parent = sys.modules.get("gears")
        if parent is not None:  # gears already imported: bind the submodule as the import system would
            parent.model = module
    return module.GEARS_Model


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
    namespace = {"np": np, "torch": _TorchForLosses(torch), "set": _sorted_set, "__name__": "gears.utils",
                 "__file__": str(path)}
    exec(compile(ast.Module(body=defs, type_ignores=[]), str(path), "exec"), namespace)
    return types.SimpleNamespace(**{name: namespace[name] for name in LOSS_FUNCTIONS})
