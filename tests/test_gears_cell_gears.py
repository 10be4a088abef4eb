"""perturb_select.gears_model: subgraph equivalence on GEARS's own model, and seeded offline training.

The receptive-field subgraph (graph.receptive_field_subgraph) must give the perturbed genes exactly the
embeddings, hence the predictions, of the whole graph: checked on ``gears.model.GEARS_Model`` with
copied weights, before and after training steps, with a negative control. ``train_and_predict`` is run
end to end on a small subset of the real Papalexi 2021 screen.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from conftest import SHARED_DATA, gears_config  # noqa: E402  (../shared/data beside the repository)
from perturb_select.gears.cell_gears import WORK_MARKER, train_and_predict
from perturb_select.gears.results import CyclePredictions
from perturb_select.io import InputError
from perturb_select.knowledge.annotations import read_gears_gene2go, write_gears_gene2go
from perturb_select.knowledge.graph import KnowledgeGraph, receptive_field_subgraph

PAPALEXI = SHARED_DATA / "perturbseq" / "papalexi2021_thp1.h5ad"


# --------------------------------------------------------------------------------------------------
# Files: gene2go pickle, predictions
# --------------------------------------------------------------------------------------------------


def test_gene2go_pickle_round_trip_and_stable_bytes(tmp_path):
    terms = {"STAT1": ["GO:0000002", "GO:0000001"], "IRF1": {"GO:0000003"}, "ZZZ": []}
    path = tmp_path / "gene2go_all.pkl"
    write_gears_gene2go(terms, path)
    with open(path, "rb") as handle:
        loaded = pickle.load(handle)  # plain pickle, as PertData reads it
    assert loaded == {"IRF1": {"GO:0000003"}, "STAT1": {"GO:0000001", "GO:0000002"}, "ZZZ": set()}
    assert all(type(v) is set for v in loaded.values())
    assert list(loaded) == ["IRF1", "STAT1", "ZZZ"]
    assert read_gears_gene2go(path) == loaded
    # same bytes whatever the str hash seed (set order would otherwise vary between processes)
    many = {f"G{i}": {f"GO:{j:07d}" for j in range(i, i + 30)} for i in range(20)}
    script = (
        "import sys; from perturb_select.knowledge.annotations import write_gears_gene2go; "
        f"write_gears_gene2go({many!r}, sys.argv[1])"
    )
    blobs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"h{hash_seed}.pkl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")]
        )
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env)
        blobs.append(out.read_bytes())
    assert blobs[0] == blobs[1]
    with pytest.raises(InputError, match="non-empty"):
        write_gears_gene2go({"": ["GO:1"]}, tmp_path / "bad.pkl")
    assert not (tmp_path / "bad.pkl").exists()


def test_cycle_predictions_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    de = np.full((2, 20), -1, dtype=np.int64)
    de[:, :3] = [[4, 0, 2], [1, 3, 5]]
    cp = CyclePredictions(
        conditions=np.array(["A+ctrl", "B+ctrl"]),
        genes=np.array([f"g{i}" for i in range(6)]),
        pred=rng.random((2, 6)),
        truth=rng.random((2, 6)),
        ctrl_mean=rng.random(6),
        de_idx=de,
        de_idx_non_dropout=de[::-1],
        info={"seed": np.int64(3), "seconds": {"train": np.float32(1.5)}, "val": ["A+ctrl"]},
    )
    path = tmp_path / "cycle1" / "predictions.npz"
    cp.save(path)
    back = CyclePredictions.load(path)
    for name in ("conditions", "genes", "pred", "truth", "ctrl_mean", "de_idx", "de_idx_non_dropout"):
        np.testing.assert_array_equal(getattr(back, name), getattr(cp, name))
        assert getattr(back, name).dtype == getattr(cp, name).dtype
    assert back.pred.dtype == np.float32 and back.de_idx.dtype == np.int64
    assert back.info == {"seed": 3, "seconds": {"train": 1.5}, "val": ["A+ctrl"]}
    with pytest.raises(ValueError, match="de_idx"):
        CyclePredictions(cp.conditions, cp.genes, cp.pred, cp.truth, cp.ctrl_mean, de[:, :5], de)
    np.savez(tmp_path / "partial.npz", format=np.array("perturb-select predictions v1"), pred=cp.pred)
    with pytest.raises(InputError, match="missing"):
        CyclePredictions.load(tmp_path / "partial.npz")
    np.savez(tmp_path / "untagged.npz", pred=cp.pred)
    with pytest.raises(InputError, match="field 'format'"):
        CyclePredictions.load(tmp_path / "untagged.npz")


# --------------------------------------------------------------------------------------------------
# Subgraph equivalence on gears.model.GEARS_Model
# --------------------------------------------------------------------------------------------------


def _import_gears_model():
    pytest.importorskip("gears")
    with warnings.catch_warnings():  # gears switches every warning off at import
        from gears.model import GEARS_Model
    return GEARS_Model


def _random_graph(n=150, seed=0) -> KnowledgeGraph:
    """Directed graph, every node with 1-3 random in-edges (weights in [0.1, 1])."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i:03d}" for i in range(n)]
    rows = []
    for t in range(n):
        k = int(rng.integers(1, 4))
        for s in rng.choice(np.delete(np.arange(n), t), k, replace=False):
            rows.append((genes[s], genes[t], float(rng.uniform(0.1, 1.0))))
    return KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target", "importance"]))


N_GENES = 12  # measured genes of the toy screen


def _model(GEARS_Model, graph: KnowledgeGraph, hops: int):
    import torch

    from perturb_select.gears.common import go_edge_index

    rng = np.random.default_rng(42)  # same co-expression graph for every model
    co_src = rng.integers(0, N_GENES, 30)
    co_dst = rng.integers(0, N_GENES, 30)
    edge_index, edge_weight = go_edge_index(graph)
    config = {
        "num_genes": N_GENES,
        "num_perts": graph.n_nodes,
        "hidden_size": 16,
        "uncertainty": False,
        "num_go_gnn_layers": hops,
        "decoder_hidden_size": 16,
        "num_gene_gnn_layers": 1,
        "no_perturb": False,
        "G_coexpress": torch.tensor(np.vstack([co_src, co_dst]), dtype=torch.long),
        "G_coexpress_weight": torch.tensor(rng.uniform(0.4, 1, 30), dtype=torch.float32),
        "G_go": edge_index,
        "G_go_weight": edge_weight,
        "device": "cpu",
    }
    return GEARS_Model(config)


def _copy_weights(src_model, src_graph, dst_model, dst_graph):
    """Every parameter/buffer identical; ``pert_emb`` rows matched by gene name."""
    state = src_model.state_dict()
    rows = src_graph.index_of(dst_graph.genes)
    new = {k: (v[rows].clone() if k == "pert_emb.weight" else v.clone()) for k, v in state.items()}
    dst_model.load_state_dict(new)


def _batch(graph: KnowledgeGraph, genes, seed=0):
    """One cell per perturbed gene plus a control cell, all with the same basal expression."""
    import torch
    from torch_geometric.data import Batch, Data

    x = torch.tensor(np.random.default_rng(seed).random((N_GENES, 1)), dtype=torch.float32)
    cells = [Data(x=x.clone(), pert_idx=[int(graph.index_of([g])[0])]) for g in genes]
    cells.append(Data(x=x.clone(), pert_idx=[-1]))
    return Batch.from_data_list(cells)


def _randomise_batchnorm(model, seed):
    import torch

    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=gen))
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen) + 0.5)


def _forward(model, batch):
    import torch

    model.eval()
    with torch.no_grad():
        return model(batch).numpy().copy()


@pytest.mark.gears
@pytest.mark.parametrize("hops", [1, 2])
def test_subgraph_gives_identical_gears_outputs(hops):
    import torch

    GEARS_Model = _import_gears_model()
    whole = _random_graph()
    perturbed = ["G007", "G042", "G120"]
    sub = receptive_field_subgraph(whole, perturbed, hops=hops)
    assert sub.n_nodes < whole.n_nodes and sub.n_edges < whole.n_edges  # a real reduction

    torch.manual_seed(0)
    m_whole = _model(GEARS_Model, whole, hops)
    _randomise_batchnorm(m_whole, seed=hops)
    m_sub = _model(GEARS_Model, sub, hops)
    _copy_weights(m_whole, whole, m_sub, sub)

    out_whole = _forward(m_whole, _batch(whole, perturbed))
    out_sub = _forward(m_sub, _batch(sub, perturbed))
    assert out_whole.shape == (len(perturbed) + 1, N_GENES)
    np.testing.assert_allclose(out_sub, out_whole, rtol=1e-6, atol=1e-6)
    # the perturbation matters: every perturbed cell differs from the control cell
    for i in range(len(perturbed)):
        assert np.abs(out_whole[i] - out_whole[-1]).max() > 1e-3

    # Negative control: drop one in-edge u -> s of a node s one hop upstream of a perturbed gene
    # (s's degree enters the SGC normalisation of the edge s -> v), keeping every node.
    # The edge u -> s whose removal changes s's degree most (the effect of one edge is diluted by the
    # decoder, so pick a visible one).
    v = sub.index_of(["G007"])[0]
    a = sub.adjacency.tocsc()
    in_degree = 1.0 + np.asarray(a.sum(axis=0)).ravel()
    candidates = [(a[u, s] / in_degree[s], u, s) for s in a[:, v].nonzero()[0] for u in a[:, s].nonzero()[0]]
    _, u, s = max(candidates)
    cut = sub.adjacency.tolil()
    cut[u, s] = 0
    cut = sp.csr_matrix(cut.tocsr(), dtype=np.float32)
    cut.eliminate_zeros()
    broken = KnowledgeGraph(sub.genes, cut)
    m_broken = _model(GEARS_Model, broken, hops)
    _copy_weights(m_whole, whole, m_broken, broken)
    out_broken = _forward(m_broken, _batch(broken, perturbed))
    equivalence_gap = np.abs(out_sub - out_whole).max()
    broken_gap = np.abs(out_broken[0] - out_whole[0]).max()
    print(f"hops={hops}: subgraph max |diff| {equivalence_gap:.2e}, one in-edge dropped {broken_gap:.2e}")
    assert broken_gap > 1e-5 and broken_gap > 20 * max(equivalence_gap, 1e-7)


def _train_steps(model, graph, perturbed, target, steps, freeze=()):
    """GEARS.train's update (Adam with weight decay, clip_grad_value_(1.0)) on one fixed batch."""
    import torch

    for name, param in model.named_parameters():
        param.requires_grad_(name not in freeze)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=5e-4)
    batch = _batch(graph, perturbed)
    model.train()
    grads = None
    for step in range(steps):
        opt.zero_grad()
        loss = ((model(batch) - target) ** 2).mean()
        loss.backward()
        if step == 0:
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
        opt.step()
    return grads


@pytest.mark.gears
def test_subgraph_equivalence_survives_training_steps():
    """Training keeps the equivalence: same gradients, and Adam/clipping/weight decay are elementwise.

    One exception, measured and explained: the bias of GEARS's GO SGConv has a mathematically zero
    gradient (``pert_fuse`` batch-normalises the perturbation embeddings in training mode, which
    cancels any constant shift), so its gradient is float noise (~1e-7) that differs between the two
    graph sizes, and Adam turns noise into lr-sized steps. With that bias frozen the trained models
    agree to 1e-5; with it trained, predictions differ by ~1e-4 after a few steps.
    """
    import torch

    GEARS_Model = _import_gears_model()
    hops = 1
    whole = _random_graph(seed=1)
    perturbed = ["G003", "G077", "G140"]
    sub = receptive_field_subgraph(whole, perturbed, hops=hops)
    assert sub.n_nodes < whole.n_nodes
    target = torch.tensor(np.random.default_rng(5).random((len(perturbed) + 1, N_GENES)), dtype=torch.float32)
    rows = torch.from_numpy(whole.index_of(sub.genes))

    def pair():
        torch.manual_seed(1)
        m_whole = _model(GEARS_Model, whole, hops)
        m_sub = _model(GEARS_Model, sub, hops)
        _copy_weights(m_whole, whole, m_sub, sub)
        return m_whole, m_sub

    m_whole, m_sub = pair()
    g_whole = _train_steps(m_whole, whole, perturbed, target, steps=1)
    g_sub = _train_steps(m_sub, sub, perturbed, target, steps=1)
    assert set(g_whole) == set(g_sub)
    for name in g_whole:
        expected = g_whole[name][rows] if name == "pert_emb.weight" else g_whole[name]
        np.testing.assert_allclose(g_sub[name].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    outside = np.setdiff1d(np.arange(whole.n_nodes), rows.numpy())
    assert np.all(g_whole["pert_emb.weight"][outside].numpy() == 0)  # no gradient outside the subgraph
    assert g_whole["sim_layers.0.lin.bias"].abs().max() < 1e-5  # the zero-gradient parameter

    frozen = ("sim_layers.0.lin.bias",)
    m_whole, m_sub = pair()
    _train_steps(m_whole, whole, perturbed, target, steps=3, freeze=frozen)
    _train_steps(m_sub, sub, perturbed, target, steps=3, freeze=frozen)
    out_whole = _forward(m_whole, _batch(whole, perturbed))
    np.testing.assert_allclose(_forward(m_sub, _batch(sub, perturbed)), out_whole, rtol=1e-5, atol=1e-5)

    m_whole, m_sub = pair()
    _train_steps(m_whole, whole, perturbed, target, steps=3)
    _train_steps(m_sub, sub, perturbed, target, steps=3)
    gap = np.abs(_forward(m_sub, _batch(sub, perturbed)) - _forward(m_whole, _batch(whole, perturbed))).max()
    print(f"trained 3 steps, bias trained: max |diff| {gap:.2e}")
    assert gap < 1e-3


# --------------------------------------------------------------------------------------------------
# train_and_predict on the real Papalexi screen
# --------------------------------------------------------------------------------------------------

TRAIN = ["IFNGR1", "IFNGR2", "IRF1", "JAK2", "STAT1"]
TEST = ["SMAD4"]
CAP = 40


class _IdentityResolver:
    """Every symbol is official (the targets used here are current symbols)."""

    def resolve(self, symbol):
        from perturb_select.knowledge.symbols import Resolution

        return Resolution(query=symbol, symbol=symbol, status="official")


def _processed_screen():
    """Papalexi, 6 targets + control capped at CAP cells, in GEARS layout (data.py's preprocess_screen)."""
    import anndata as ad

    if not PAPALEXI.exists():
        pytest.skip(f"real screen not found at {PAPALEXI}")
    raw = ad.read_h5ad(PAPALEXI)
    raw = raw[raw.obs["perturbation"].isin([*TRAIN, *TEST, "non-targeting"]).to_numpy()].copy()
    from perturb_select.screens.raw import preprocess_screen

    screen = preprocess_screen(
        raw,
        graph_genes=set(TRAIN + TEST),
        resolver=_IdentityResolver(),
        cell_type="THP-1",
        max_cells_per_condition=CAP,
        seed=0,
        source=str(PAPALEXI),
    )
    return screen.adata


def _toy_graph(measured, targets=None) -> tuple[KnowledgeGraph, dict]:
    """The targets (default the 6 above) + 50 measured genes, 3-4 random in-edges each, made-up GO term sets."""
    rng = np.random.default_rng(7)
    genes = sorted(set(TRAIN + TEST if targets is None else targets) | set(measured[:50]))
    rows = []
    for t in genes:
        for s in rng.choice([g for g in genes if g != t], int(rng.integers(3, 5)), replace=False):
            rows.append((s, t, float(rng.uniform(0.1, 1.0))))
    graph = KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target", "importance"]))
    gene2go = {g: {f"GO:{int(j):07d}" for j in rng.choice(200, 4, replace=False)} for g in genes}
    return graph, gene2go


def _files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.fixture(scope="module")
def cycle_runs(tmp_path_factory):
    """Three 1-epoch runs: seed 0 into a stale work_dir, seed 0 again, seed 1; offline, cwd watched."""
    pytest.importorskip("gears")
    adata = _processed_screen()
    graph, gene2go = _toy_graph(list(adata.var_names))
    root = tmp_path_factory.mktemp("gears_cycle")
    cwd = root / "cwd"
    cwd.mkdir()

    # A stale run left a co-expression CSV naming genes that do not exist: reusing it would crash
    # GEARS (node_map lookup), so a passing run proves the work_dir was emptied.
    stale = root / "work_a"
    cache = stale / "gears_data" / "screen"
    cache.mkdir(parents=True)
    (stale / WORK_MARKER).write_text("")
    pd.DataFrame({"source": ["NOT_A_GENE"], "target": ["NOR_THIS"], "importance": [0.9]}).to_csv(
        cache / "custom_0_None_0.4_20_co_expression_network.csv", index=False
    )
    (stale / "leftover.txt").write_text("stale")

    import requests

    def offline(*args, **kwargs):  # any download attempt fails the run
        raise AssertionError(f"network access attempted: {args}")

    mp = pytest.MonkeyPatch()
    mp.setattr(requests, "get", offline)
    mp.chdir(cwd)
    config = gears_config(trainer="cell-gears", epochs=1, cells_per_step=32, hidden_size=16, device="cpu", threads=1)
    whole = dataclasses.replace(config, use_subgraph=False)
    try:
        runs = {
            "a": train_and_predict(adata, graph, gene2go, TRAIN, TEST, seed=0, work_dir=stale, config=config),
            "b": train_and_predict(adata, graph, gene2go, TRAIN, TEST, seed=0, work_dir=root / "work_b", config=config),
            "c": train_and_predict(adata, graph, gene2go, TRAIN, TEST, seed=1, work_dir=root / "work_c", config=config),
            "whole": train_and_predict(
                adata, graph, gene2go, TRAIN, TEST, seed=0, work_dir=root / "work_d", config=whole
            ),
        }
    finally:
        mp.undo()
    return {"runs": runs, "root": root, "cwd": cwd, "adata": adata, "graph": graph, "gene2go": gene2go}


@pytest.mark.gears
@pytest.mark.slow
def test_train_and_predict_shapes_and_values(cycle_runs):
    adata, graph = cycle_runs["adata"], cycle_runs["graph"]
    p = cycle_runs["runs"]["a"]
    n_genes = adata.n_vars
    assert list(p.conditions) == ["SMAD4+ctrl"]
    assert list(p.genes) == list(adata.var_names)
    assert p.pred.shape == p.truth.shape == (1, n_genes) and p.pred.dtype == np.float32
    assert np.isfinite(p.pred).all() and np.isfinite(p.truth).all()
    # truth is the mean observed expression of the test cells; ctrl_mean that of all control cells
    cond = adata.obs["condition"].astype(str).to_numpy()
    X = adata.X.toarray().astype(np.float64)
    np.testing.assert_allclose(p.truth[0], X[cond == "SMAD4+ctrl"].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.ctrl_mean, X[cond == "ctrl"].mean(axis=0), rtol=1e-5, atol=1e-6)
    # DE indices: the first 20 of GEARS's ranking, in rank order
    name = adata.obs.loc[cond == "SMAD4+ctrl", "condition_name"].astype(str).iloc[0]
    ranked = list(adata.uns["rank_genes_groups_cov_all"][name][:20])
    assert list(adata.var_names[p.de_idx[0]]) == ranked
    nd = p.de_idx_non_dropout[0]
    assert list(adata.var_names[nd[nd >= 0]]) == list(adata.uns["top_non_dropout_de_20"][name])
    # the model moved away from the control input: predictions are not the control mean
    assert np.abs(p.pred[0] - p.ctrl_mean).max() > 1e-3

    info = p.info
    assert info["test_conditions"] == ["SMAD4+ctrl"]
    assert len(info["val_conditions"]) == 1  # max(1, round(0.1 * 5))
    assert sorted(info["train_conditions"] + info["val_conditions"]) == sorted(f"{g}+ctrl" for g in TRAIN)
    assert info["n_cells"] == {"ctrl": CAP, "train": CAP * 5, "val": CAP, "test": CAP}
    sub = receptive_field_subgraph(graph, TRAIN + TEST, hops=1)
    assert info["graph"]["nodes"] == sub.n_nodes < graph.n_nodes
    assert info["graph"]["edges"] == sub.n_edges
    assert info["device"] == "cpu" and info["config"]["epochs"] == 1 and info["torch_threads"] == 1
    assert info["trainer"] == "cell-gears" and info["diagnostics"] is None  # one run-record schema
    from perturb_select.gears.results import RUN_INFO_KEYS

    assert tuple(info) == RUN_INFO_KEYS
    assert np.isfinite(info["best_val_mse_top20_de"])


@pytest.mark.gears
@pytest.mark.slow
def test_score_train_predicts_the_fitted_conditions_and_leaves_the_test_alone(cycle_runs, tmp_path):
    from perturb_select.evaluation.metrics import evaluate_predictions

    config = gears_config(trainer="cell-gears", epochs=1, cells_per_step=32, hidden_size=16, device="cpu", threads=1)
    test, inner = train_and_predict(
        cycle_runs["adata"],
        cycle_runs["graph"],
        cycle_runs["gene2go"],
        TRAIN,
        TEST,
        seed=0,
        work_dir=tmp_path / "work",
        config=config,
        score_train=True,
    )
    same = cycle_runs["runs"]["b"]  # seed 0, same config, no in-sample scoring
    np.testing.assert_array_equal(test.pred, same.pred)
    fit = test.info["train_conditions"]
    assert inner.conditions.tolist() == fit and inner.info == {"split": "train", "trainer": "cell-gears", "seed": 0}
    adata = cycle_runs["adata"]
    labels = adata.obs["condition"].astype(str).to_numpy()
    observed = np.stack([np.asarray(adata.X[labels == c].mean(axis=0)).ravel() for c in fit])
    np.testing.assert_allclose(inner.truth, observed, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(inner.ctrl_mean, test.ctrl_mean)
    assert np.isfinite(evaluate_predictions(inner)["mean"]["mse_top20_de"])


@pytest.mark.gears
@pytest.mark.slow
def test_train_and_predict_files_stay_in_work_dir(cycle_runs):
    root, graph = cycle_runs["root"], cycle_runs["graph"]
    assert not any(cycle_runs["cwd"].iterdir()), "GEARS wrote into the current directory"
    assert {p.name for p in root.iterdir()} == {"cwd", "work_a", "work_b", "work_c", "work_d"}
    work = root / "work_a"
    files = _files_under(work)
    assert "leftover.txt" not in files  # emptied at the start
    assert {
        WORK_MARKER,
        "gears_data/gene2go_all.pkl",
        "gears_data/pert_genes.pkl",
        "gears_data/screen/perturb_processed.h5ad",
    } <= files
    # the gene2go pickle and gene set are the perturbation graph's genes: GEARS's pert_names
    sub = receptive_field_subgraph(graph, TRAIN + TEST, hops=1)
    with open(work / "gears_data" / "gene2go_all.pkl", "rb") as handle:
        gene2go = pickle.load(handle)
    assert sorted(gene2go) == list(sub.genes)
    assert gene2go == {g: cycle_runs["gene2go"][g] for g in sub.genes}
    with open(work / "gears_data" / "pert_genes.pkl", "rb") as handle:
        assert pickle.load(handle) == list(sub.genes)
    # the co-expression CSV was recomputed from the data (the stale one named unknown genes)
    csv = pd.read_csv(work / "gears_data" / "screen" / "custom_0_None_0.4_20_co_expression_network.csv")
    assert "NOT_A_GENE" not in set(csv["source"])
    assert set(csv["source"]) <= set(cycle_runs["adata"].var_names)


@pytest.mark.gears
@pytest.mark.slow
def test_train_and_predict_is_deterministic(cycle_runs):
    runs = cycle_runs["runs"]
    np.testing.assert_array_equal(runs["a"].pred, runs["b"].pred)  # bit for bit
    assert runs["a"].info["val_conditions"] == runs["b"].info["val_conditions"]
    assert not np.array_equal(runs["a"].pred, runs["c"].pred)
    np.testing.assert_array_equal(runs["a"].truth, runs["c"].truth)  # same cells, other seed


@pytest.mark.gears
@pytest.mark.slow
def test_whole_graph_and_subgraph_train_alike(cycle_runs):
    """Same seed, whole graph vs receptive-field subgraph: the same model up to float noise.

    The noise is the SGConv bias (see test_subgraph_equivalence_survives_training_steps); a different
    seed moves predictions far more.
    """
    runs = cycle_runs["runs"]
    whole, sub, other_seed = runs["whole"], runs["a"], runs["c"]
    assert whole.info["graph"]["nodes"] == cycle_runs["graph"].n_nodes > sub.info["graph"]["nodes"]
    gap = np.abs(whole.pred - sub.pred).max()
    seed_gap = np.abs(other_seed.pred - sub.pred).max()
    print(f"whole vs subgraph max |diff| {gap:.2e}; other seed {seed_gap:.2e}")
    assert gap < 1e-2 and gap < seed_gap / 10


def _tiny_layout():
    """A minimal GEARS-layout AnnData (no real DE needed for the input checks)."""
    import anndata as ad

    genes = [f"g{i}" for i in range(25)]
    conds = ["ctrl"] * 4 + ["A+ctrl"] * 3 + ["B+ctrl"] * 3 + ["C+ctrl"] * 3
    names = [f"T_{c}_1" for c in conds]
    obs = pd.DataFrame(
        {"condition": conds, "condition_name": names, "cell_type": "T"}, index=[f"c{i}" for i in range(len(conds))]
    ).astype("category")
    adata = ad.AnnData(
        X=sp.csr_matrix(np.ones((len(conds), 25), dtype=np.float32)),
        obs=obs,
        var=pd.DataFrame({"gene_name": genes}, index=genes),
    )
    ranked = {n: genes for n in set(names) if "ctrl_1" not in n or "+" in n}
    adata.uns["rank_genes_groups_cov_all"] = ranked
    adata.uns["top_non_dropout_de_20"] = {n: np.array(genes[:20]) for n in ranked}
    adata.uns["non_zeros_gene_idx"] = {n: np.arange(25) for n in ranked}
    return adata


def test_bad_inputs_raise_before_any_file(tmp_path):
    adata = _tiny_layout()
    graph = KnowledgeGraph.from_edges(
        pd.DataFrame(
            {"source": ["A", "B", "C", "D"], "target": ["B", "C", "A", "A"], "importance": [0.5, 0.5, 0.5, 0.5]}
        )
    )
    gene2go = {g: {"GO:1"} for g in "ABCD"}
    work = tmp_path / "work"

    def call(train, test, g2g=gene2go, seed=0, **settings):
        config = gears_config(trainer="cell-gears", **settings)
        return train_and_predict(adata, graph, g2g, train, test, seed=seed, work_dir=work, config=config)

    with pytest.raises(InputError, match=">= 2 training perturbations"):
        call(["A"], ["B"])
    with pytest.raises(InputError, match="not nodes"):
        call(["A", "X"], ["B"])
    with pytest.raises(InputError, match="also in the test set"):
        call(["A", "B"], ["B"])
    with pytest.raises(InputError, match="no cells"):
        call(["A", "D"], ["B"])  # D is a graph node without cells in the screen
    with pytest.raises(InputError, match="no GO entry"):
        call(["A", "B"], ["C"], g2g={g: {"GO:1"} for g in "ABC"})  # D is in the receptive field
    with pytest.raises(InputError, match="cells_per_step"):
        call(["A", "B"], ["C"], cells_per_step=32)  # 4 ctrl + 3 cells < 32
    for key, value in (("epochs", 0), ("seed", -1), ("cells_per_step", 2.5), ("threads", 0)):
        with pytest.raises(InputError, match=key):
            call(["A", "B"], ["C"], **{key: value})
    bad = adata.copy()
    del bad.uns["rank_genes_groups_cov_all"]
    with pytest.raises(InputError, match="rank_genes_groups_cov_all"):
        train_and_predict(bad, graph, gene2go, ["A", "B"], ["C"], seed=0, work_dir=work)
    assert not work.exists()


def test_foreign_work_dir_is_not_emptied(tmp_path):
    adata = _tiny_layout()
    graph = KnowledgeGraph.from_edges(
        pd.DataFrame({"source": ["A", "B", "C"], "target": ["B", "C", "A"], "importance": [0.5, 0.5, 0.5]})
    )
    work = tmp_path / "results"
    work.mkdir()
    (work / "predictions.npz").write_text("precious")
    with pytest.raises(InputError, match="marker"):
        train_and_predict(
            adata,
            graph,
            {g: {"GO:1"} for g in "ABC"},
            ["A", "B"],
            ["C"],
            seed=0,
            work_dir=work,
            config=gears_config(trainer="cell-gears", cells_per_step=2),
        )
    assert (work / "predictions.npz").read_text() == "precious"


def test_corrupt_predictions_file_is_one_input_error(tmp_path):
    rng = np.random.default_rng(0)
    de = np.zeros((1, 20), dtype=np.int64)
    cp = CyclePredictions(
        np.array(["A+ctrl"]), np.array(["g0", "g1"]), rng.random((1, 2)), rng.random((1, 2)), rng.random(2), de, de
    )
    good = tmp_path / "predictions.npz"
    cp.save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    flipped = tmp_path / "flipped.npz"
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    for path in (truncated, flipped):
        with pytest.raises(InputError, match=path.name):
            CyclePredictions.load(path)


def test_corrupt_gene2go_pickle_is_one_input_error(tmp_path):
    path = tmp_path / "gene2go.pkl"
    write_gears_gene2go({"A": ["GO:1"]}, path)
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(InputError, match="gene2go.pkl: unreadable gene2go pickle"):
        read_gears_gene2go(path)


class _RunsACommand:
    """What a crafted pickle holds: unpickling it calls os.system (issue 27.5)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("payload", ["top", "inside"])
def test_a_crafted_gene2go_pickle_runs_nothing_and_is_one_input_error(tmp_path, payload):
    """results/graph/gene2go.pkl was read with plain pickle.load: a crafted file ran a shell command. The
    restricted unpickler refuses every global but set and frozenset before calling it."""
    marker = tmp_path / "ran"
    crafted = _RunsACommand(marker)
    path = tmp_path / "gene2go.pkl"
    data = crafted if payload == "top" else {"STAT1": {"GO:0000001"}, "IRF1": [crafted]}
    path.write_bytes(pickle.dumps(data, protocol=4))
    with pytest.raises(
        InputError,
        match=r"gene2go.pkl: unreadable gene2go pickle \(UnpicklingError: global "
        r"posix.system is not allowed in a gene2go pickle",
    ):
        read_gears_gene2go(path)
    assert not marker.exists()
    # a pickle of the right classes but the wrong contents is refused too
    path.write_bytes(pickle.dumps({"STAT1": {1, 2}}, protocol=4))
    with pytest.raises(InputError, match="expected a pickled dict of gene symbol -> set of GO IDs"):
        read_gears_gene2go(path)
