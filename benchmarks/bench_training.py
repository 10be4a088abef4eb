"""GEARS training benchmarks: the batched trainer against cell-gears's own path, in the same run.

* ``bench_gears_job``: one ``train_gears`` job of the main job (Papalexi, cycle 5 of ``random`` seed 1:
  20 training perturbations of 100 cells) as Snakemake starts it (a cold process running
  ``scripts/train_gears.py``); wall seconds and peak RSS from the rule's ``benchmark:`` file, for both
  trainers, after the upstream jobs (GO graph, preprocessing, split, selection) ran once.
* ``bench_gears_throughput``: warm training throughput (cells per second over a fixed number of steps) on
  a synthetic screen with the shape of Replogle K562 essential (the resolved Replogle targets as
  perturbations, ~150 cells each, 5,000 measured genes, sparse log1p-like values). Labelled synthetic:
  timing only. Ours: ``BatchedGears`` steps. Peer: ``GEARS.train``'s step (PyG ``DataLoader`` over
  cell graphs made by ``PertData.create_cell_graph``, ``model(batch)``, ``loss_fct``, backward, clipping,
  Adam) on the same model size, graph and cells.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _row(benchmark, ours, ours_s, peer=None, peer_s=None, note="", **extra):
    from bench_suite import make_row

    return make_row(benchmark, ours, ours_s, peer=peer, peer_s=peer_s, note=note, **extra)


# --------------------------------------------------------------------------------------------------
# One cold train_gears job, as Snakemake runs it
# --------------------------------------------------------------------------------------------------


def _benchmark_file(path: Path) -> dict:
    with open(path) as handle:
        row = next(csv.DictReader(handle, delimiter="\t"))
    return {"s": float(row["s"]), "max_rss_mib": float(row["max_rss"])}


def bench_gears_job(data: str | os.PathLike, workdir: str | os.PathLike, epochs: int = 5,
                    cycle: int = 5, seed: int = 1) -> list[dict]:
    """Both trainers on the same cold job (see module docstring); returns one table row."""
    import yaml

    data, workdir = Path(data), Path(workdir) / "gears_job"
    workdir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["go"]["mirror"] = str(data / "go")
    for dataset in config["datasets"].values():
        dataset["mirror"] = str(data / "perturbseq")
    config["design"] = None
    # one strategy (the cell-gears trainer does not score the pool for active ones) and no stability runs
    config["experiment"]["strategies"] = {"random": {}}
    config["experiment"]["stability"] = {"inits": 0}
    # GEARS's own schedule for both (the cell-gears trainer cannot change its learning-rate decay)
    config["gears"].update(epochs=epochs, device="cpu", threads=1, lr=1e-3, lr_decay=0.5)
    target = f"results/train/papalexi2021/random/seed{seed}/cycle{cycle}/predictions.npz"
    bench = workdir / f"results/benchmarks/train_gears/papalexi2021/random/seed{seed}/cycle{cycle}.tsv"
    measured = {}
    for trainer in ("batched", "cell-gears"):
        config["gears"]["trainer"] = trainer
        config_path = workdir / f"config_{trainer}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        for path in (workdir / target, bench):
            path.unlink(missing_ok=True)
        command = [sys.executable, "-m", "snakemake", target, "--snakefile", str(REPO / "Snakefile"),
                   "--directory", str(workdir), "--configfile", str(config_path), "--cores", "1",
                   "--rerun-triggers", "mtime"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"snakemake failed for {trainer}:\n{result.stderr[-3000:]}")
        with np.load(workdir / target, allow_pickle=False) as npz:
            info = json.loads(str(npz["info"]))
        measured[trainer] = {**_benchmark_file(bench), "seconds": info["seconds"], "n_cells": info["n_cells"]}
    ours, peer = measured["batched"], measured["cell-gears"]
    note = (f"{epochs} epochs, {ours['n_cells']['train']} training cells; inside the job, batched "
            f"{_stages(ours['seconds'])}, cell-gears {_stages(peer['seconds'])}; peak RSS "
            f"{ours['max_rss_mib']:.0f} vs {peer['max_rss_mib']:.0f} MiB")
    return [_row(f"train_gears job, Papalexi cycle {cycle}, cold process", "batched", ours["s"], peer="cell-gears",
                 peer_s=peer["s"], note=note, ours_rss_mib=ours["max_rss_mib"], peer_rss_mib=peer["max_rss_mib"])]


def _stages(seconds: dict) -> str:
    return "/".join(f"{seconds[k]:.1f}" for k in ("load", "train", "predict", "total")) + " s load/train/predict/total"


# --------------------------------------------------------------------------------------------------
# Warm throughput at the paper's scale (synthetic values)
# --------------------------------------------------------------------------------------------------


def synthetic_screen(perturbations, genes, cells_per_perturbation: int = 150, n_ctrl: int = 1000, seed: int = 0):
    """A GEARS-layout ``ScreenArrays`` with random sparse values (timing only: not biology).

    ~10 % non-zero entries, values log1p of Poisson counts; DE genes and loss filters are random gene sets.
    """
    import scipy.sparse as sp

    from perturb_select.screens.layout import N_DE

    from perturb_select.screens.arrays import ScreenArrays

    rng = np.random.default_rng(seed)
    conditions = np.array(sorted([f"{p}+ctrl" for p in perturbations] + ["ctrl"]))
    ctrl_code = int(np.flatnonzero(conditions == "ctrl")[0])
    counts = np.full(len(conditions), cells_per_perturbation)
    counts[ctrl_code] = n_ctrl
    cell_condition = np.repeat(np.arange(len(conditions), dtype=np.int32), counts)
    n_cells, n_genes = len(cell_condition), len(genes)
    per_row = max(1, n_genes // 10)  # ~10 % non-zero; built directly (scipy.sparse.random samples without
    # replacement over all n_cells x n_genes positions, which takes gigabytes at this size)
    indices = np.sort(rng.integers(0, n_genes, (n_cells, per_row), dtype=np.int32), axis=1)
    data = np.log1p(rng.poisson(2.0, (n_cells, per_row)) + 1).astype(np.float32)
    X = sp.csr_matrix((data.ravel(), indices.ravel(), np.arange(0, n_cells * per_row + 1, per_row)),
                      shape=(n_cells, n_genes))
    X.sum_duplicates()
    k = min(N_DE, n_genes)
    de = np.full((len(conditions), N_DE), -1, dtype=np.int64)
    for i in range(len(conditions)):
        if i != ctrl_code:
            de[i, :k] = rng.choice(n_genes, k, replace=False)
    nz = [np.sort(rng.choice(n_genes, n_genes // 2, replace=False)) for _ in conditions]
    nz[ctrl_code] = np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in nz])]).astype(np.int64)
    return ScreenArrays(genes=np.asarray(genes).astype(str), conditions=conditions, cell_condition=cell_condition,
                        X=X, de_idx=de, de_idx_non_dropout=de.copy(), nz_offsets=offsets,
                        nz_indices=np.concatenate(nz).astype(np.int64))


def bench_gears_throughput(workdir: str | os.PathLike, n_genes: int = 5000, cells_per_perturbation: int = 150,
                           n_perturbations: int | None = None, steps: int = 10, cells_per_step: int = 32,
                           device: str = "cpu", fit_perturbations: int = 50) -> list[dict]:
    """Training cells per second, both trainers' steps on the same synthetic screen (module docstring)."""
    import torch
    import torch.nn as nn
    import torch.optim as optim

    from bench_suite import candidate_pool, load_graph
    from perturb_select.gears.batched import BatchedGears
    from perturb_select.knowledge.graph import compact_receptive_field, receptive_field_subgraph
    from perturb_select.config import TrainingConfig

    torch.set_num_threads(1)
    graph = load_graph(workdir)
    perts = candidate_pool(graph, workdir, "replogle", n_candidates=n_perturbations)
    measured = [f"gene{i:05d}" for i in range(n_genes)]  # measured genes need not be graph nodes
    screen = synthetic_screen(perts, measured, cells_per_perturbation=cells_per_perturbation)
    # Steps draw from the cells of the first `fit_perturbations` perturbations (the co-expression graph of
    # all 160k cells is a dense 5,000-gene correlation, GEARS's own cost, not a step's); the GO graph is the
    # receptive field of all of them, as in a real cycle.
    fit = [f"{p}+ctrl" for p in perts[:fit_perturbations]]
    config = TrainingConfig(cells_per_step=cells_per_step, device=device, epochs=1)
    rows = []

    # ours
    t0 = time.perf_counter()
    compact, loops = compact_receptive_field(graph, perts, 1)
    runner = BatchedGears(screen, compact, fit[:-1], fit[-1:], config, seed=0, self_loop=loops)
    setup_ours = time.perf_counter() - t0
    model = runner.model
    model.train()
    optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
    order = np.random.default_rng(0).permutation(len(runner.train["cells"]))

    def step_ours(i):
        idx = order[i * cells_per_step:(i + 1) * cells_per_step]
        optimizer.zero_grad()
        loss = runner._loss(model(runner._batch(runner.train, idx)), runner._take(runner.train["y"], idx),
                            runner.train["conditions"][idx].tolist())
        loss.backward()
        nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
        optimizer.step()

    ours_s = _time_steps(step_ours, steps, device)

    # cell-gears's step on its own cell graphs
    import warnings

    from torch_geometric.loader import DataLoader

    with warnings.catch_warnings():
        from gears.pertdata import PertData
        from gears.utils import loss_fct
    sub = receptive_field_subgraph(graph, perts, 1)
    gears_model = _gears_model_like(runner, sub)
    t0 = time.perf_counter()
    cells = order[: (steps + 1) * cells_per_step]
    x = screen.X[runner.train["inputs"][cells]].toarray()
    y = screen.X[runner.train["cells"][cells]].toarray()
    conds = runner.train["conditions"][cells]
    node = [None if c == "ctrl" else [int(sub.index_of([c.split("+")[0]])[0])] for c in conds]
    graphs = [PertData.create_cell_graph(None, x[i:i + 1], y[i:i + 1], [-1] * 20, str(conds[i]), node[i])
              for i in range(len(cells))]
    setup_peer_per_cell = (time.perf_counter() - t0) / len(cells)
    loader = iter(DataLoader(graphs, batch_size=cells_per_step, shuffle=False, drop_last=True))
    g_opt = optim.Adam(gears_model.parameters(), lr=1e-3, weight_decay=5e-4)
    gears_model.train()
    dict_filter = {c: screen.nonzero_genes(c) for c in set(conds.tolist()) if c != "ctrl"}

    def step_peer(i):
        batch = next(loader)
        batch.to(device)
        g_opt.zero_grad()
        loss = loss_fct(gears_model(batch), batch.y, batch.pert, ctrl=runner.ctrl_expression,
                        dict_filter=dict_filter, direction_lambda=0.1)
        loss.backward()
        nn.utils.clip_grad_value_(gears_model.parameters(), clip_value=1.0)
        g_opt.step()

    peer_s = _time_steps(step_peer, steps, device)
    n_train = len(perts) * cells_per_perturbation + 1000
    rows.append(_row(
        f"training throughput, synthetic Replogle shape ({len(perts)} perturbations x {cells_per_perturbation} "
        f"cells, {n_genes} genes), {device}",
        "batched", ours_s, peer="cell-gears step", peer_s=peer_s,
        note=(f"seconds per {cells_per_step}-cell step (best of {steps}); cells/s {cells_per_step / ours_s:.1f} vs "
              f"{cells_per_step / peer_s:.1f}; GO graph {compact.n_nodes} nodes (compact) vs {sub.n_nodes} "
              f"(subgraph); one epoch = {n_train // cells_per_step} steps = {n_train // cells_per_step * ours_s / 3600:.1f} h "
              f"(ours); setup: ours {setup_ours:.1f} s ({len(runner.train['cells'])} cells), cell graphs "
              f"{setup_peer_per_cell * 1e3:.2f} ms per cell"),
        cells_per_s_ours=cells_per_step / ours_s, cells_per_s_peer=cells_per_step / peer_s,
    ))
    return rows


def _gears_model_like(runner, pert_graph):
    """A GEARS_Model with the runner's configuration on ``pert_graph`` (the cell-gears trainer's graph)."""
    from perturb_select.gears.common import go_edge_index, graph_independent_init
    from perturb_select.gears.upstream import gears_model_class

    GEARS_Model = gears_model_class()
    config = dict(runner.model.args)
    config["G_go"], config["G_go_weight"] = go_edge_index(pert_graph)
    config["num_perts"] = pert_graph.n_nodes
    model = GEARS_Model(config)
    graph_independent_init(model, pert_graph.genes, 0, GEARS_Model)
    return model.to(runner.device)


def _time_steps(step, steps: int, device: str) -> float:
    """Best seconds of one step over ``steps`` steps, after one warm-up step."""
    import torch

    step(0)
    best = np.inf
    for i in range(1, steps + 1):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(i)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


# --------------------------------------------------------------------------------------------------
# Active-learning batch rules at the paper's scale
# --------------------------------------------------------------------------------------------------


def bench_active_selection(n_pool: int = 1000, n_labelled: int = 100, dim: int = 100, batch: int = 100,
                           seed: int = 0) -> list[dict]:
    """TypiClust and ACS-FW picking ``batch`` of ``n_pool`` perturbations from ``dim``-dimensional features.

    Features are a seeded Gaussian mixture (20 centres), the shape of IterPert's PCA-reduced predictions at
    Replogle scale; timing only. Seconds of one call each (best of 3), one thread.
    """
    import torch

    from perturb_select.active.rules import acsfw_batch, typiclust_batch

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (20, dim))
    features = centres[rng.integers(0, 20, n_pool + n_labelled)] + rng.normal(0, 1, (n_pool + n_labelled, dim))
    labelled = np.zeros(len(features), dtype=bool)
    labelled[:n_labelled] = True
    rows = []
    for name, call in (
        ("typiclust", lambda: typiclust_batch(features, labelled, batch, seed=seed)[0]),
        ("acs-fw (bmdal-reg)", lambda: acsfw_batch(features[n_labelled:], features[:n_labelled], batch, seed=seed)),
    ):
        call()  # warm-up: imports, first-call costs
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            picks = call()
            best = min(best, time.perf_counter() - t0)
        rows.append(_row(f"active batch selection, {n_pool} pool + {n_labelled} labelled, {dim}-d features, batch {batch}",
                         name, best, note=f"{len(set(picks.tolist()))} distinct picks"))
    return rows
