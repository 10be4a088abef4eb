"""The cells trainer (``gears.cells.BatchedGears``) is cell-gears's model: same forward, loss, gradients, predictions.

Checked against cell-gears itself: a PyG batch of GEARS's own cell graphs (``PertData.create_cell_graph``)
vs our ``CellBatch`` on the same ``GEARS_Model`` weights; ``gears.utils.loss_fct``;
``gears.inference.evaluate``; ``gears.utils.get_coexpression_network_from_train``. Then the trainer end to
end on a subset of the real Papalexi screen: determinism, diagnostics, baselines, the uncertainty head on
CPU, and agreement with the cell-gears trainer within seed-to-seed spread.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from conftest import gears_config  # noqa: E402
from perturb_select.config import TrainingConfig
from perturb_select.io import InputError
from perturb_select.knowledge.graph import KnowledgeGraph
from perturb_select.screens.arrays import ScreenArrays

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.gears


def _gears():
    pytest.importorskip("gears")
    import types

    with warnings.catch_warnings():  # gears switches every warning off at import
        import gears.utils as gutils
        from gears.inference import evaluate
        from gears.pertdata import PertData
    return types.SimpleNamespace(utils=gutils, evaluate=evaluate, PertData=PertData)


# --------------------------------------------------------------------------------------------------
# Loading cell-gears's pieces without the gears package
# --------------------------------------------------------------------------------------------------


def test_the_reference_trainer_keeps_cell_gears_own_class():
    """Loading our GEARS_Model (on ``upstream.sgconv_class``) first leaves cell-gears's own module and class on PyG
    to the cell-gears trainer (tests/test_gears_upstream.py: the two compute the same)."""
    from perturb_select.gears.cell_gears import import_gears
    from perturb_select.gears.upstream import gears_model_class

    ours = gears_model_class()
    g = import_gears()  # the cell-gears trainer's import, after ours
    with warnings.catch_warnings():
        import gears
        from gears.gears import GEARS_Model as used_by_gears

    assert used_by_gears is g.GEARS_Model is gears.model.GEARS_Model is not ours
    assert "torch_geometric" in used_by_gears.__init__.__globals__["SGConv"].__module__


def _loss_inputs(seed=0, n_cells=9, n_genes=15):
    import torch

    rng = np.random.default_rng(seed)
    perts = ["A+ctrl"] * 3 + ["ctrl"] * 2 + ["B+ctrl"] * 4
    y = torch.tensor(rng.random((n_cells, n_genes)), dtype=torch.float32)
    pred = torch.tensor(rng.random((n_cells, n_genes)), dtype=torch.float32, requires_grad=True)
    logvar = torch.tensor(rng.normal(size=(n_cells, n_genes)), dtype=torch.float32, requires_grad=True)
    ctrl = torch.tensor(rng.random(n_genes), dtype=torch.float32)
    dict_filter = {"A+ctrl": np.array([0, 2, 3, 7]), "B+ctrl": np.arange(1, 12)}
    return pred, logvar, y, perts, ctrl, dict_filter


def test_loss_fct_is_gears_own():
    g = _gears()
    from perturb_select.gears.upstream import gears_loss_functions

    ours = gears_loss_functions().loss_fct
    pred, _, y, perts, ctrl, dict_filter = _loss_inputs()
    l_ours = ours(pred, y, perts, ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1)
    (grad_ours,) = __import__("torch").autograd.grad(l_ours, pred)
    l_gears = g.utils.loss_fct(pred, y, perts, ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1)
    (grad_gears,) = __import__("torch").autograd.grad(l_gears, pred)
    # the same terms, summed in sorted instead of hash order: the value up to float32 rounding, the
    # gradient bit for bit (the terms touch disjoint rows)
    assert float(l_ours) == pytest.approx(float(l_gears), rel=1e-6) and float(l_ours) > 0
    assert np.array_equal(grad_ours.numpy(), grad_gears.numpy())


def test_loss_value_does_not_depend_on_the_hash_seed():
    """cell-gears sums its per-condition terms in set order, which PYTHONHASHSEED changes; ours is sorted, so
    the recorded training loss is the same bytes in every process."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import torch; "
        "from test_gears_cells import _loss_inputs; "
        "from perturb_select.gears.upstream import gears_loss_functions; "
        "pred, _, y, perts, ctrl, f = _loss_inputs(n_cells=40, seed=5); "
        "perts = [f'C{i % 13}+ctrl' if i % 13 else 'ctrl' for i in range(40)]; "
        "f = {p: __import__('numpy').arange(12) for p in perts if p != 'ctrl'}; "
        "print(float(gears_loss_functions().loss_fct(pred, y, perts, ctrl=ctrl, dict_filter=f, "
        "direction_lambda=0.1)).hex())"
    )
    values = set()
    for hash_seed in ("1", "2", "3", "4"):
        result = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=True,
        )
        values.add(result.stdout.strip())
    assert len(values) == 1


def test_uncertainty_loss_trains_on_cpu_with_gears_value():
    """cell-gears's own function fails on CPU (in-place add to a leaf); ours gives the formula's value."""
    import torch

    g = _gears()
    from perturb_select.gears.upstream import gears_loss_functions

    pred, logvar, y, perts, ctrl, dict_filter = _loss_inputs(seed=3)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        g.utils.uncertainty_loss_fct(
            pred, logvar, y, perts, reg=0.5, ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1
        )
    loss = gears_loss_functions().uncertainty_loss_fct(
        pred, logvar, y, perts, reg=0.5, ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1
    )
    loss.backward()
    assert pred.grad is not None and logvar.grad is not None and torch.isfinite(pred.grad).all()
    # By hand (gears/utils.py): per condition, mean of (d^4 + reg e^-logvar d^4) + direction term, averaged.
    p, lv, t, c = (a.detach().double().numpy() for a in (pred, logvar, y, ctrl))
    perts = np.array(perts)
    total = 0.0
    for cond in sorted(set(perts)):
        rows = np.flatnonzero(perts == cond)
        cols = dict_filter.get(cond, np.arange(p.shape[1]))
        d = p[np.ix_(rows, cols)] - t[np.ix_(rows, cols)]
        e = np.exp(-lv[np.ix_(rows, cols)])
        total += np.sum(d**4 + 0.5 * e * d**4) / d.size
        sign = np.sign(t[np.ix_(rows, cols)] - c[cols]) - np.sign(p[np.ix_(rows, cols)] - c[cols])
        total += np.sum(0.1 * sign**2) / d.size
    assert float(loss) == pytest.approx(total / len(set(perts)), rel=1e-5)


# --------------------------------------------------------------------------------------------------
# Same model: CellBatch vs a PyG batch of GEARS's cell graphs
# --------------------------------------------------------------------------------------------------

N_GENES = 14


def _toy_model(uncertainty=False, seed=0):
    import torch

    from perturb_select.gears.upstream import gears_model_class

    rng = np.random.default_rng(11)
    torch.manual_seed(seed)
    config = {
        "num_genes": N_GENES,
        "num_perts": 6,
        "hidden_size": 16,
        "uncertainty": uncertainty,
        "num_go_gnn_layers": 1,
        "decoder_hidden_size": 16,
        "num_gene_gnn_layers": 1,
        "no_perturb": False,
        "G_coexpress": torch.tensor(rng.integers(0, N_GENES, (2, 40)), dtype=torch.long),
        "G_coexpress_weight": torch.tensor(rng.uniform(0.4, 1, 40), dtype=torch.float32),
        "G_go": torch.tensor([[0, 1, 2, 3, 4, 5, 1], [1, 2, 3, 4, 5, 0, 4]], dtype=torch.long),
        "G_go_weight": torch.tensor(rng.uniform(0.1, 1, 7), dtype=torch.float32),
        "device": "cpu",
    }
    return gears_model_class()(config)


def _cells(seed=0):
    """8 cells: inputs, targets, perturbation node (-1 control) and condition."""
    rng = np.random.default_rng(seed)
    x = rng.random((8, N_GENES)).astype(np.float32)
    y = rng.random((8, N_GENES)).astype(np.float32)
    node = np.array([2, -1, 4, 2, 0, -1, 4, 5])
    cond = np.array(
        [
            "P2+ctrl" if n == 2 else "P4+ctrl" if n == 4 else "P0+ctrl" if n == 0 else "P5+ctrl" if n == 5 else "ctrl"
            for n in node
        ]
    )
    return x, y, node, cond


def _pyg_batch(x, y, node, cond):
    """GEARS's own cell graphs (``PertData.create_cell_graph``), collated by PyG's DataLoader."""
    from torch_geometric.loader import DataLoader

    g = _gears()
    graphs = [
        g.PertData.create_cell_graph(
            None, x[i : i + 1], y[i : i + 1], [-1] * 20, str(cond[i]), None if node[i] < 0 else [int(node[i])]
        )
        for i in range(len(x))
    ]
    return next(iter(DataLoader(graphs, batch_size=len(graphs), shuffle=False))), graphs


def _cell_batch(x, node):
    import torch

    from perturb_select.gears.cells import CellBatch

    return CellBatch(torch.from_numpy(x).reshape(-1, 1), [[int(n)] for n in node], torch.arange(len(x)))


@pytest.mark.parametrize("uncertainty", [False, True])
def test_forward_loss_and_gradients_equal_gears_batch(uncertainty):
    import torch

    from perturb_select.gears.upstream import gears_loss_functions

    x, y, node, cond = _cells()
    dict_filter = {c: np.arange(0, N_GENES, 2) for c in set(cond.tolist()) if c != "ctrl"}
    ctrl = torch.tensor(x.mean(axis=0))
    losses = gears_loss_functions()
    results = []
    for make in ("gears", "ours"):
        model = _toy_model(uncertainty)
        model.train()
        batch = _pyg_batch(x, y, node, cond)[0] if make == "gears" else _cell_batch(x, node)
        target = batch.y if make == "gears" else torch.from_numpy(y)
        out = model(batch)
        if uncertainty:
            loss = losses.uncertainty_loss_fct(
                out[0], out[1], target, list(cond), reg=1.0, ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1
            )
            out = out[0]
        else:
            loss = losses.loss_fct(out, target, list(cond), ctrl=ctrl, dict_filter=dict_filter, direction_lambda=0.1)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((out.detach().numpy(), float(loss), grads))
    (out_g, loss_g, grads_g), (out_o, loss_o, grads_o) = results
    assert out_g.shape == (8, N_GENES)
    np.testing.assert_allclose(out_o, out_g, rtol=1e-6, atol=1e-7)
    assert loss_o == pytest.approx(loss_g, rel=1e-6)
    assert set(grads_o) == set(grads_g) and len(grads_g) > 10
    for name in grads_g:
        np.testing.assert_allclose(grads_o[name].numpy(), grads_g[name].numpy(), rtol=1e-5, atol=1e-7, err_msg=name)
    # the perturbation matters: a perturbed cell's output depends on which gene is perturbed
    model = _toy_model(uncertainty)
    model.eval()
    import torch as _t

    with _t.no_grad():
        a = model(_cell_batch(x[:1], np.array([2])))
        b = model(_cell_batch(x[:1], np.array([5])))
    a, b = (v[0] if uncertainty else v for v in (a, b))
    assert np.abs(a.numpy() - b.numpy()).max() > 1e-4


def test_predictions_equal_gears_inference_evaluate():
    """``BatchedGears.predict_cells`` = ``gears.inference.evaluate`` on GEARS's cell graphs, same weights."""
    import torch
    from torch_geometric.loader import DataLoader

    from perturb_select.gears.cells import BatchedGears

    g = _gears()
    x, y, node, cond = _cells(seed=4)
    model = _toy_model()
    # a few training steps so that BatchNorm's running statistics are not their initial values
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(3):
        opt.zero_grad()
        ((model(_cell_batch(x, node)) - torch.from_numpy(y)) ** 2).mean().backward()
        opt.step()
    _, graphs = _pyg_batch(x, y, node, cond)
    res = g.evaluate(DataLoader(graphs, batch_size=3, shuffle=False), model, False, "cpu")

    runner = BatchedGears.__new__(BatchedGears)  # only what predict_cells reads
    runner.model, runner.device = model, "cpu"
    # Same batch size as GEARS's loader: GEARS_Model's co-expression SGConv reaches only the first cell of
    # each batch (its edge_index spans the first num_genes rows), so a cell's prediction depends on its
    # place in the batch; ours and GEARS's batches are cut the same way.
    runner.config = TrainingConfig(cells_per_prediction_step=3)
    runner.screen = type("S", (), {"n_genes": N_GENES})()
    data = {"cells": np.arange(8), "x": torch.from_numpy(x), "node": node}
    pred, logvar = runner.predict_cells(data)
    assert logvar is None
    np.testing.assert_allclose(pred, res["pred"], rtol=1e-6, atol=1e-6)
    runner.config = TrainingConfig(cells_per_prediction_step=5)
    shifted, _ = runner.predict_cells(data)
    assert np.abs(shifted[3] - res["pred"][3]).max() > 1e-5  # cell 3 is first of its batch only with 3
    np.testing.assert_array_equal(res["truth"], y)


def test_coexpression_graph_equals_gears(tmp_path):
    import anndata as ad

    g = _gears()
    from perturb_select.gears.cells import coexpression_edges

    rng = np.random.default_rng(2)
    n_cells, n_genes = 60, 30
    base = rng.random((n_cells, 3))
    X = np.hstack([base @ rng.random((3, n_genes)) + 0.3 * rng.random((n_cells, n_genes))]).astype(np.float32)
    X[:, 5] = 0.0  # a constant gene: NaN correlations, set to 0 as GEARS does
    conds = np.array(["ctrl"] * 20 + ["A+ctrl"] * 20 + ["B+ctrl"] * 20)
    genes = [f"g{i}" for i in range(n_genes)]
    adata = ad.AnnData(
        sp.csr_matrix(X),
        obs=pd.DataFrame({"condition": conds}, index=[f"c{i}" for i in range(n_cells)]),
        var=pd.DataFrame({"gene_name": genes}, index=genes),
    )
    train = ["ctrl", "A+ctrl"]
    (tmp_path / "d").mkdir()  # GEARS caches the graph as a CSV there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = g.utils.get_coexpression_network_from_train(
            adata, 0.4, 5, str(tmp_path), "d", "s", 1, 0.75, {"train": train}
        )
    src, dst, w = coexpression_edges(X[np.isin(conds, train)], k=5, threshold=0.4)
    ours = sorted(zip((genes[i] for i in src), (genes[j] for j in dst), np.round(w, 5)))
    theirs = sorted(zip(ref["source"], ref["target"], np.round(ref["importance"].to_numpy(), 5)))
    assert len(ours) > n_genes  # a real graph, self-edges included as in GEARS
    assert ours == theirs


# --------------------------------------------------------------------------------------------------
# Files and configuration
# --------------------------------------------------------------------------------------------------


def _layout(n_genes=25):
    import anndata as ad

    genes = [f"g{i}" for i in range(n_genes)]
    conds = ["ctrl"] * 4 + ["A+ctrl"] * 3 + ["B+ctrl"] * 3
    names = [f"T_{c}_1" if c == "ctrl" else f"T_{c}_1+1" for c in conds]
    rng = np.random.default_rng(0)
    obs = pd.DataFrame(
        {"condition": conds, "condition_name": names, "cell_type": "T"}, index=[f"c{i}" for i in range(len(conds))]
    ).astype("category")
    adata = ad.AnnData(
        X=sp.csr_matrix(rng.random((len(conds), n_genes)).astype(np.float32)),
        obs=obs,
        var=pd.DataFrame({"gene_name": genes}, index=genes),
    )
    adata.uns["rank_genes_groups_cov_all"] = {"T_A+ctrl_1+1": np.array(genes[::-1]), "T_B+ctrl_1+1": np.array(genes)}
    adata.uns["top_non_dropout_de_20"] = {"T_A+ctrl_1+1": np.array(genes[3:8]), "T_B+ctrl_1+1": np.array(genes[:20])}
    adata.uns["non_zeros_gene_idx"] = {"T_A+ctrl_1+1": np.array([1, 4, 9]), "T_B+ctrl_1+1": np.arange(n_genes)}
    return adata


def test_screen_arrays_from_layout_and_round_trip(tmp_path):
    adata = _layout()
    screen = ScreenArrays.from_anndata(adata)
    assert list(screen.conditions) == ["A+ctrl", "B+ctrl", "ctrl"]
    assert list(screen.cell_condition) == [2] * 4 + [0] * 3 + [1] * 3
    assert list(screen.de_idx[0]) == list(range(24, 4, -1))  # rank order, the first 20
    assert list(screen.de_idx_non_dropout[0]) == [3, 4, 5, 6, 7] + [-1] * 15
    assert (screen.de_idx[2] == -1).all() and screen.nonzero_genes("ctrl").size == 0
    assert list(screen.nonzero_genes("A+ctrl")) == [1, 4, 9]
    np.testing.assert_allclose(screen.mean_expression("B+ctrl"), adata.X[7:].toarray().mean(axis=0), rtol=1e-6)
    path = tmp_path / "screen.npz"
    screen.save(path)
    back = ScreenArrays.load(path)
    for name in ("genes", "conditions", "cell_condition", "de_idx", "de_idx_non_dropout", "nz_offsets", "nz_indices"):
        np.testing.assert_array_equal(getattr(back, name), getattr(screen, name))
    assert (back.X != screen.X).nnz == 0 and back.X.dtype == np.float32
    # bad files name the file
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk.npz"):
        ScreenArrays.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(InputError, match="format"):
        ScreenArrays.load(tmp_path / "other.npz")
    bad = _layout()
    del bad.uns["rank_genes_groups_cov_all"]["T_B+ctrl_1+1"]
    with pytest.raises(InputError, match="no DE genes for T_B"):
        ScreenArrays.from_anndata(bad)


def test_graph_npz_round_trip_and_errors(tmp_path):
    graph = KnowledgeGraph.from_edges(
        pd.DataFrame(
            {"source": ["A", "B", "C", "D"], "target": ["B", "C", "A", "A"], "importance": [0.5, 0.25, 1.0, 0.125]}
        )
    )
    path = tmp_path / "g.npz"
    graph.save_npz(path)
    back = KnowledgeGraph.read(path)  # dispatches on the suffix
    assert list(back.genes) == ["A", "B", "C", "D"]
    assert (back.adjacency != graph.adjacency).nnz == 0 and back.adjacency.dtype == np.float32
    assert back.index_of(["D"])[0] == 3
    np.savez(
        tmp_path / "x.npz",
        format=np.array("perturb-select knowledge graph v1"),
        genes=np.array(["B", "A"]),
        data=np.zeros(0, np.float32),
        indices=np.zeros(0, np.int32),
        indptr=np.zeros(3, np.int64),
    )
    with pytest.raises(InputError, match="sorted"):
        KnowledgeGraph.read_npz(tmp_path / "x.npz")
    (tmp_path / "t.npz").write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match="t.npz"):
        KnowledgeGraph.read_npz(tmp_path / "t.npz")


def test_training_config_defaults_and_errors_name_the_key():
    config = TrainingConfig.from_config({"epochs": 3, "lr": 1, "gpus": 1})
    assert config.trainer == "perturbations" and config.lr == 1.0 and isinstance(config.lr, float)
    # the perturbations trainer's chosen schedule; GEARS's model and optimiser settings
    assert (config.perturbations_per_step, config.lr_decay, TrainingConfig().lr, TrainingConfig().epochs) == (
        4,
        0.95,
        1e-2,
        40,
    )
    assert (config.cells_per_step, config.weight_decay, config.hidden_size) == (32, 5e-4, 64)
    assert (config.direction_lambda, config.coexpress_k, config.coexpress_threshold) == (0.1, 20, 0.4)
    for bad, field in (
        ({"epochs": 0}, "gears.epochs"),
        ({"lr_decay": 1.5}, "gears.lr_decay"),
        ({"trainer": "fast"}, "gears.trainer"),
        ({"shuffle": True}, "gears.shuffle"),
        ({"cells_per_step": 2.5}, "gears.cells_per_step"),
        ({"uncertainty": "yes"}, "gears.uncertainty"),
        ({"device": "tpu"}, "gears.device"),
        ({"val_fraction": 1.0}, "gears.val_fraction"),
    ):
        with pytest.raises(InputError, match=field.replace(".", r"\.")):
            TrainingConfig.from_config(bad)


# --------------------------------------------------------------------------------------------------
# End to end on the real screen
# --------------------------------------------------------------------------------------------------

TRAIN = ["IFNGR1", "IFNGR2", "IRF1", "JAK2", "STAT1", "CMTM6"]
TEST = ["SMAD4"]


@pytest.fixture(scope="module")
def real_cycle():
    """Papalexi (7 targets + control, 40 cells each) as screen arrays, and a toy graph over them."""
    adata = _processed_screen_with(TRAIN + TEST)
    from test_gears_cell_gears import _toy_graph

    graph, gene2go = _toy_graph(list(adata.var_names), targets=TRAIN + TEST)
    return {"adata": adata, "screen": ScreenArrays.from_anndata(adata), "graph": graph, "gene2go": gene2go}


def _processed_screen_with(targets):
    import anndata as ad

    from conftest import SHARED_DATA
    from perturb_select.screens.raw import preprocess_screen
    from test_gears_cell_gears import _IdentityResolver

    path = SHARED_DATA / "perturbseq" / "papalexi2021_thp1.h5ad"
    if not path.exists():
        pytest.skip(f"real screen not found at {path}")
    raw = ad.read_h5ad(path)
    raw = raw[raw.obs["perturbation"].isin([*targets, "non-targeting"]).to_numpy()].copy()
    return preprocess_screen(
        raw,
        graph_genes=set(targets),
        resolver=_IdentityResolver(),
        cell_type="THP-1",
        max_cells_per_condition=40,
        seed=0,
        source=str(path),
    ).adata


def _train(real_cycle, seed, **overrides):
    from perturb_select.gears import TrainingData, trainer

    config = gears_config(**{"trainer": "cells", "epochs": 2, "hidden_size": 16, "device": "cpu", **overrides})
    data = TrainingData(graph=real_cycle["graph"], screen=real_cycle["screen"])
    return trainer("cells")(data, TRAIN, TEST, seed=seed, config=config).predictions


@pytest.mark.slow
def test_batched_trainer_on_real_screen(real_cycle):
    screen = real_cycle["screen"]
    a, b, c = _train(real_cycle, 0), _train(real_cycle, 0), _train(real_cycle, 1)
    np.testing.assert_array_equal(a.pred, b.pred)  # bit for bit, same seed and threads
    assert not np.array_equal(a.pred, c.pred)
    assert list(a.conditions) == ["SMAD4+ctrl"] and a.pred.shape == (1, screen.n_genes)
    cells = screen.cells_of("SMAD4+ctrl")
    np.testing.assert_allclose(a.truth[0], screen.X[cells].toarray().mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.ctrl_mean, screen.X[screen.cells_of("ctrl")].toarray().mean(axis=0), rtol=1e-5)
    assert np.abs(a.pred[0] - a.ctrl_mean).max() > 1e-3  # the model moved away from its input
    info = a.info
    assert info["trainer"] == "cells" and info["torch_threads"] == 1
    assert info["n_cells"] == {"ctrl": 40, "train": 40 * 6, "val": 40, "test": 40}  # 5 fit + ctrl, 1 val
    d = info["diagnostics"]
    assert d["epoch"] == [1, 2] and len(d["train_loss"]) == len(d["val_mse_top20_de"]) == 2
    assert d["lr"] == [1e-3, 5e-4] and d["steps_per_epoch"] == 240 // 32
    assert d["best_epoch"] in (1, 2)
    assert info["best_val_mse_top20_de"] == pytest.approx(d["val_mse_top20_de"][d["best_epoch"] - 1], rel=1e-6)
    # the baselines by hand on the validation perturbation
    (val,) = info["val_conditions"]
    de = screen.de_idx[screen.condition_index(val)]
    truth = screen.mean_expression(val)
    fit_means = np.mean([screen.mean_expression(cond) for cond in info["train_conditions"]], axis=0)
    ctrl = screen.X[screen.cells_of("ctrl")].toarray().mean(axis=0)
    assert d["val_baselines"]["no_change"] == pytest.approx(np.mean((ctrl[de] - truth[de]) ** 2), rel=1e-5)
    assert d["val_baselines"]["train_mean"] == pytest.approx(np.mean((fit_means[de] - truth[de]) ** 2), rel=1e-6)


@pytest.mark.slow
def test_uncertainty_head_trains_on_cpu(real_cycle):
    run = _train(real_cycle, 0, epochs=1, uncertainty=True)
    (score,) = run.info["test_uncertainty"].values()
    assert np.isfinite(score) and score > 0
    assert np.isfinite(run.pred).all()


def test_tensor_trainers_are_run_trainer_with_their_registered_model_class():
    """The registry names a tensor trainer's model class; gears.trainer binds cycle.run_trainer, the one adapter,
    to it and to the trainer's name (what its runs record); cell-gears keeps its own function."""
    from perturb_select.config import Trainer
    from perturb_select.gears import trainer
    from perturb_select.gears.cell_gears import train_cell_gears
    from perturb_select.gears.cells import BatchedGears
    from perturb_select.gears.cycle import run_trainer
    from perturb_select.gears.perturbations import PerturbationGears

    for name, model_class in (("cells", BatchedGears), ("perturbations", PerturbationGears)):
        bound = trainer(name)
        assert bound.func is run_trainer and bound.args == (model_class, name) and not bound.keywords
    assert trainer("cell-gears") is train_cell_gears
    with pytest.raises(KeyError):
        trainer("none")
    for both_or_neither in ({"model_class": "M", "function": "f"}, {}):
        with pytest.raises(ValueError, match="either its model_class or its function"):
            Trainer("t", "one line", module="m", **both_or_neither)
    with pytest.raises(ValueError, match="needs its module"):
        Trainer("t", "one line", function="f")


def test_bad_inputs_raise_clear_errors(real_cycle):
    from perturb_select.gears import TrainingData, trainer

    train_cells = trainer("cells")
    screen, graph = real_cycle["screen"], real_cycle["graph"]
    data = TrainingData(graph=graph, screen=screen)
    config = gears_config(trainer="cells", epochs=1, device="cpu")
    with pytest.raises(InputError, match="also in the test set"):
        train_cells(data, TRAIN, [TRAIN[0]], seed=0, config=config)
    with pytest.raises(InputError, match="cells_per_step"):
        train_cells(
            data,
            TRAIN[:2],
            TEST,
            seed=0,
            config=gears_config(trainer="cells", epochs=1, device="cpu", cells_per_step=500),
        )
    nodes = [g for g in graph.genes if g not in TRAIN + TEST]
    with pytest.raises(InputError, match="no cells"):
        train_cells(data, TRAIN[:2] + nodes[:1], TEST, seed=0, config=config)
    with pytest.raises(InputError, match="seed"):
        train_cells(data, TRAIN, TEST, seed=-1, config=config)
    with pytest.raises(InputError, match="screen arrays"):
        train_cells(TrainingData(graph=graph), TRAIN, TEST, seed=0, config=config)


@pytest.mark.slow
def test_trainers_agree_within_seed_spread(real_cycle, tmp_path):
    """The batched and cell-gears trainers, 3 seeds each: top-20 DE MSE means within the seed spread."""
    from perturb_select.evaluation.metrics import evaluate_predictions
    from perturb_select.gears.cell_gears import train_and_predict

    batched, reference = [], []
    for seed in (0, 1, 2):
        run = _train(real_cycle, seed, epochs=2, hidden_size=64)
        batched.append(evaluate_predictions(run)["mean"]["mse_top20_de"])
        ref = train_and_predict(
            real_cycle["adata"],
            real_cycle["graph"],
            real_cycle["gene2go"],
            TRAIN,
            TEST,
            seed=seed,
            work_dir=tmp_path / f"w{seed}",
            config=gears_config(trainer="cell-gears", epochs=2, device="cpu", threads=1),
        )
        assert ref.info["val_conditions"] == run.info["val_conditions"]  # same validation split
        reference.append(evaluate_predictions(ref)["mean"]["mse_top20_de"])
    gap = abs(np.mean(batched) - np.mean(reference))
    spread = max(np.std(batched, ddof=1), np.std(reference, ddof=1))
    print(
        f"top-20 DE MSE batched {np.round(batched, 4)} cell-gears {np.round(reference, 4)}: "
        f"gap of means {gap:.4f}, seed sd {spread:.4f}"
    )
    assert gap <= 2 * spread + 0.02


# --------------------------------------------------------------------------------------------------
# The compact receptive field gives GEARS_Model the whole graph's outputs and gradients
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hops", [1, 2])
def test_compact_receptive_field_equals_whole_graph_on_gears_model(hops):
    import torch

    from perturb_select.gears.cells import go_edges_with_self_loops
    from perturb_select.gears.upstream import gears_model_class
    from perturb_select.knowledge.graph import compact_receptive_field, receptive_field_subgraph
    from test_gears_cell_gears import N_GENES as TOY_GENES
    from test_gears_cell_gears import _batch, _random_graph, _randomise_batchnorm

    GEARS_Model = gears_model_class()
    whole = _random_graph(seed=hops)
    perturbed = ["G007", "G042", "G120"]
    compact, self_loop = compact_receptive_field(whole, perturbed, hops)
    sub = receptive_field_subgraph(whole, perturbed, hops)
    assert compact.n_nodes < sub.n_nodes and compact.n_edges < sub.n_edges  # smaller than the subgraph
    assert (self_loop > 1).any() and (self_loop >= 1).all()

    rng = np.random.default_rng(42)
    co = (
        torch.tensor(np.vstack([rng.integers(0, TOY_GENES, 30), rng.integers(0, TOY_GENES, 30)])),
        torch.tensor(rng.uniform(0.4, 1, 30), dtype=torch.float32),
    )

    def model(graph, loops):
        index, weight = go_edges_with_self_loops(graph, loops)
        config = {
            "num_genes": TOY_GENES,
            "num_perts": graph.n_nodes,
            "hidden_size": 16,
            "uncertainty": False,
            "num_go_gnn_layers": hops,
            "decoder_hidden_size": 16,
            "num_gene_gnn_layers": 1,
            "no_perturb": False,
            "G_coexpress": co[0],
            "G_coexpress_weight": co[1],
            "G_go": index,
            "G_go_weight": weight,
            "device": "cpu",
        }
        return GEARS_Model(config)

    torch.manual_seed(0)
    m_whole = model(whole, None)
    _randomise_batchnorm(m_whole, seed=hops)
    m_compact = model(compact, self_loop)
    rows = whole.index_of(compact.genes)
    m_compact.load_state_dict(
        {k: (v[rows].clone() if k == "pert_emb.weight" else v.clone()) for k, v in m_whole.state_dict().items()}
    )
    target = torch.tensor(np.random.default_rng(5).random((len(perturbed) + 1, TOY_GENES)), dtype=torch.float32)
    results = []
    for m, graph in ((m_whole, whole), (m_compact, compact)):
        m.eval()
        with torch.no_grad():
            out_eval = m(_batch(graph, perturbed)).numpy()
        m.train()
        loss = ((m(_batch(graph, perturbed)) - target) ** 2).mean()
        loss.backward()
        results.append(
            (out_eval, float(loss), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None})
        )
    (o_w, l_w, g_w), (o_c, l_c, g_c) = results
    np.testing.assert_allclose(o_c, o_w, rtol=1e-5, atol=1e-6)
    assert l_c == pytest.approx(l_w, rel=1e-6)
    for name in g_w:
        expected = g_w[name][torch.from_numpy(rows)] if name == "pert_emb.weight" else g_w[name]
        np.testing.assert_allclose(g_c[name].numpy(), expected.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    # negative control: without the compensating self-loops the outputs change
    m_plain = model(compact, None)
    m_plain.load_state_dict(m_compact.state_dict())
    m_plain.eval()
    with torch.no_grad():
        assert np.abs(m_plain(_batch(compact, perturbed)).numpy() - o_w).max() > 1e-5


@pytest.mark.slow
def test_predict_perturbations_scores_any_graph_gene(real_cycle):
    """GEARS.predict's use: one shared, seeded control sample; uncertainty score exp(-mean logvar)."""
    from perturb_select.gears.cells import BatchedGears
    from perturb_select.gears.common import split_validation
    from perturb_select.knowledge.graph import compact_receptive_field

    screen, graph = real_cycle["screen"], real_cycle["graph"]
    fit, val = split_validation(TRAIN, 0.1, 0)
    unscreened = [g for g in graph.genes if g not in TRAIN + TEST][:2]  # graph genes without cells
    sub, loops = compact_receptive_field(graph, TRAIN + TEST + unscreened, 1)
    runner = BatchedGears(
        screen,
        sub,
        fit,
        val,
        gears_config(trainer="cells", epochs=1, hidden_size=16, device="cpu", uncertainty=True),
        seed=0,
        self_loop=loops,
    )
    runner.fit()
    genes = [TEST[0], *unscreened]
    pred, score = runner.predict_perturbations(genes, n_ctrl=50, seed=3)
    again, score_again = runner.predict_perturbations(genes, n_ctrl=50, seed=3)
    assert pred.shape == (3, screen.n_genes) and score.shape == (3,)
    np.testing.assert_array_equal(pred, again)
    np.testing.assert_array_equal(score, score_again)
    assert np.isfinite(score).all() and (score > 0).all()
    assert np.abs(pred[1] - pred[2]).max() > 1e-6  # the perturbed gene matters
    with pytest.raises(KeyError, match="not nodes"):
        runner.predict_perturbations(["NOT_A_GENE"], n_ctrl=10, seed=0)
    # GEARS.predict's computation itself: every gene forwarded with each of the 50 sampled control cells
    cells = runner.ctrl_cells[np.random.default_rng(3).integers(0, len(runner.ctrl_cells), 50)]
    x = runner._rows(cells)
    for i, node in enumerate(sub.index_of(genes).tolist()):
        per_cell, logvar = runner.predict_cells({"cells": cells, "x": x, "node": np.full(50, node)}, cells_per_step=50)
        np.testing.assert_allclose(pred[i], per_cell.mean(axis=0), rtol=1e-5, atol=1e-5)
        assert score[i] == pytest.approx(float(np.exp(-np.mean(logvar.mean(axis=0)))), rel=1e-5)


def test_a_network_larger_than_memory_is_refused_before_it_is_built():
    """`gears.hidden_size: 1000000` once tried a 4 TB allocation; the largest allowed size (4,096) on 20,000
    genes needs about 677 GB and is refused before torch is imported, naming the key."""
    from perturb_select.gears import TrainingData, train
    from perturb_select.gears.common import model_memory

    config = TrainingConfig(hidden_size=4096)
    parameters = 4 * 20_000 * 4096 + 20_000 * 4096 + 10 * 4096**2
    assert model_memory(20_000, 20_000, config) == 4.0 * (4 * parameters + 16 * 128 * 20_000 * 4096)
    genes = np.array([f"G{i}" for i in range(20_000)])

    class Screen:  # only its genes are read before the check
        pass

    screen = Screen()
    screen.genes = genes
    edges = pd.DataFrame({"source": genes[:-1], "target": genes[1:], "importance": 1.0})
    data = TrainingData(graph=KnowledgeGraph.from_edges(edges), screen=screen)
    with pytest.raises(
        InputError,
        match=r"config, field 'gears.hidden_size': GEARS with hidden_size 4096 on 20000 "
        r"genes and 20000 graph nodes .*need about 6\d\d\.\d GB, more than",
    ):
        train(data, ["G1"], ["G2"], seed=0, config=config)
