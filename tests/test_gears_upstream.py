"""cell-gears's network without PyG's import: ``upstream.sgconv_class`` against PyG's ``SGConv``, and the
``GEARS_Model`` it builds against cell-gears's own class."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def _graph(rng, n, n_edges, self_loops=0):
    import torch

    src = rng.integers(0, n, n_edges)
    dst = rng.integers(0, n, n_edges)
    loops = rng.choice(n, self_loops, replace=False)
    edge_index = torch.tensor(np.vstack([np.r_[src, loops], np.r_[dst, loops]]), dtype=torch.long)
    edge_weight = torch.tensor(rng.uniform(0.1, 3.0, n_edges + self_loops), dtype=torch.float32)
    return edge_index, edge_weight


@pytest.mark.parametrize("self_loops, K", [(0, 1), (4, 1), (4, 2)])
def test_sgconv_equals_pyg(self_loops, K):
    """Same seed, same initial weights; same outputs and gradients on a weighted graph with repeated edges,
    existing self-loops (kept with their weight), isolated nodes, and rows beyond the edges' range (GEARS's
    co-expression graph covers only the first graph of a batch)."""
    import torch
    from torch_geometric.nn import SGConv as PyGSGConv

    from perturb_select.gears.upstream import sgconv_class

    rng = np.random.default_rng(self_loops + K)
    edge_index, edge_weight = _graph(rng, 12, 30, self_loops)
    x = torch.tensor(rng.normal(size=(20, 6)), dtype=torch.float32)  # nodes 12..19 have no edge
    torch.manual_seed(3)
    theirs = PyGSGConv(6, 5, K)
    torch.manual_seed(3)
    ours = sgconv_class()(6, 5, K)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    outs = [layer(v, edge_index, edge_weight) for layer, v in ((theirs, xs[0]), (ours, xs[1]))]
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-6, atol=1e-6)
    for out in outs:
        (out**2).sum().backward()
    torch.testing.assert_close(xs[1].grad, xs[0].grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.lin.weight.grad, theirs.lin.weight.grad, rtol=1e-5, atol=1e-6)
    without = [layer(x, edge_index) for layer in (theirs, ours)]  # no weights: every edge 1
    torch.testing.assert_close(without[1], without[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("uncertainty", [False, True])
def test_gears_model_equals_cell_gears_own_class(uncertainty):
    """Our GEARS_Model (cell-gears's code on ``sgconv_class``) and cell-gears's own (on PyG): the same initial
    weights for the same seed, the same outputs and gradients for a PyG batch of GEARS's own cell graphs."""
    import torch

    from perturb_select.gears.cell_gears import import_gears
    from perturb_select.gears.upstream import gears_model_class
    from test_gears_cells import _cells, _pyg_batch, _toy_model

    ours_cls, theirs_cls = gears_model_class(), import_gears().GEARS_Model
    assert ours_cls is not theirs_cls and ours_cls.__module__ == "perturb_select.gears._gears_model"
    assert ours_cls.forward.__code__.co_filename == theirs_cls.forward.__code__.co_filename  # cell-gears's file
    ours = _toy_model(uncertainty, seed=5)
    torch.manual_seed(5)
    theirs = theirs_cls(dict(ours.args))
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    x, y, node, cond = _cells()
    results = []
    for model in (theirs, ours):
        model.train()
        out = model(_pyg_batch(x, y, node, cond)[0])
        pred = out[0] if uncertainty else out
        (pred**2).mean().backward()
        results.append((pred.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (pred_t, grads_t), (pred_o, grads_o) = results
    torch.testing.assert_close(pred_o, pred_t, rtol=1e-5, atol=1e-6)
    assert grads_o.keys() == grads_t.keys()
    for name in grads_t:
        torch.testing.assert_close(grads_o[name], grads_t[name], rtol=1e-4, atol=1e-6, msg=name)


def test_training_imports_no_pyg_dcor_scanpy_or_gears_package():
    """A training process loads GEARS_Model and the losses without PyG (4.3 s of import), dcor, scanpy, or the
    ``gears`` package."""
    code = (
        "import sys; from perturb_select.gears.upstream import gears_model_class, gears_loss_functions; "
        "cls = gears_model_class(); fns = gears_loss_functions(); "
        "import perturb_select.gears.perturbations, perturb_select.stages.train; "
        "heavy = sorted(m for m in ('torch_geometric', 'torch._dynamo', 'dcor', 'scanpy', 'anndata', 'gears', "
        "'gears.utils', 'sklearn', 'networkx') if m in sys.modules); print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_adam_is_torch_adam_with_steplr_bit_for_bit():
    """``gears.common.Adam`` (no torch.optim import) = ``torch.optim.Adam`` + ``StepLR(1, gamma)``: the same
    parameters after every step, with weight decay, a parameter without gradient, and the decay per epoch."""
    import torch

    from perturb_select.gears.common import Adam
    from test_gears_cells import _cell_batch, _cells, _toy_model

    x, _, node, _ = _cells()
    models = [_toy_model(seed=2), _toy_model(seed=2)]
    ours = Adam(models[0].parameters(), lr=3e-3, weight_decay=5e-4, lr_decay=0.8)
    theirs = torch.optim.Adam(models[1].parameters(), lr=3e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.StepLR(theirs, step_size=1, gamma=0.8)
    for epoch in range(3):
        for step in range(4):
            for model, optimizer in zip(models, (ours, theirs)):
                optimizer.zero_grad()
                out = model(_cell_batch(x * (1 + step), node))
                (out**2).mean().backward()
                torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
                optimizer.step()
            for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
                assert torch.equal(a, b), (epoch, step, name)
        ours.end_epoch()
        schedule.step()
        assert ours.lr == theirs.param_groups[0]["lr"]
