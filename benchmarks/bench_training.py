"""GEARS training benchmarks: the three trainers side by side in the same run.

* ``bench_gears_job``: one ``train_gears`` job of the main job (Papalexi, cycle 5 of ``random`` seed 1:
  20 training perturbations of 100 cells) as Snakemake starts it (a cold process running
  ``scripts/run_stage.py`` for rule train_gears); wall seconds and peak RSS from the rule's ``benchmark:``
  file, after the upstream jobs (GO graph, preprocessing, split, selection) ran once. Two rows: the main
  job's trainer and schedule (``perturbations``, config/config.yaml) against the cells trainer's schedule of
  the previous main job; and the cells trainer against cell-gears's own ``GEARS.train`` on GEARS's schedule.
* ``bench_gears_throughput``: one training epoch at the shape of Replogle K562 essential (the resolved
  Replogle targets as perturbations, ~150 cells each, 5,000 measured genes, sparse log1p-like values:
  synthetic, timing only), one thread. The perturbations trainer's step (``perturbations_per_step``
  perturbations, all their cells) against the cells trainer's step (32 cells) and cell-gears's step (PyG
  ``DataLoader`` over cell graphs made by ``PertData.create_cell_graph``, ``model(batch)``, ``loss_fct``,
  backward, clipping, Adam) on the same model size, graph and cells; an epoch is the step's mean time times
  the steps of one pass (over the perturbations, or over the cells).
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


def bench_gears_job(
    data: str | os.PathLike, workdir: str | os.PathLike, epochs: int = 5, cycle: int = 5, seed: int = 1
) -> list[dict]:
    """The trainers on the same cold job (module docstring); ``epochs`` is the GEARS-schedule comparison's.
    Returns two table rows."""
    import yaml

    from perturb_select.config import GEARS_SCHEDULE

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
    main_job = dict(config["gears"], device="cpu", threads=1)
    gears_schedule = {**main_job, **GEARS_SCHEDULE, "epochs": epochs}
    runs = {
        "perturbations (main job)": main_job,
        "cells (previous main job)": {**main_job, "trainer": "cells", "epochs": 5, "lr": 3e-3, "lr_decay": 0.8},
        "cells (GEARS's schedule)": {**gears_schedule, "trainer": "cells"},
        "cell-gears (GEARS's schedule)": {**gears_schedule, "trainer": "cell-gears"},
    }
    target = f"results/train/papalexi2021/random/seed{seed}/cycle{cycle}/predictions.npz"
    bench = workdir / f"results/benchmarks/train_gears/papalexi2021/random/seed{seed}/cycle{cycle}.tsv"
    measured = {}
    for i, (name, gears) in enumerate(runs.items()):
        config["gears"] = gears
        config_path = workdir / f"config_{i}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        for path in (workdir / target, bench):
            path.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "snakemake",
            target,
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(config_path),
            "--cores",
            "1",
            "--rerun-triggers",
            "mtime",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"snakemake failed for {name}:\n{result.stderr[-3000:]}")
        with np.load(workdir / target, allow_pickle=False) as npz:
            info = json.loads(str(npz["info"]))
        measured[name] = {
            **_benchmark_file(bench),
            "seconds": info["seconds"],
            "n_cells": info["n_cells"],
            "epochs": gears["epochs"],
        }
    rows = []
    for ours, peer in (
        ("perturbations (main job)", "cells (previous main job)"),
        ("cells (GEARS's schedule)", "cell-gears (GEARS's schedule)"),
    ):
        a, b = measured[ours], measured[peer]
        note = (
            f"{a['epochs']} vs {b['epochs']} epochs, {a['n_cells']['train']} training cells; inside the job, "
            f"{_stages(a['seconds'])} vs {_stages(b['seconds'])}; peak RSS {a['max_rss_mib']:.0f} vs "
            f"{b['max_rss_mib']:.0f} MiB"
        )
        rows.append(
            _row(
                f"train_gears job, Papalexi cycle {cycle}, cold process",
                ours,
                a["s"],
                peer=peer,
                peer_s=b["s"],
                note=note,
                ours_rss_mib=a["max_rss_mib"],
                peer_rss_mib=b["max_rss_mib"],
            )
        )
    return rows


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

    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.screens.layout import CTRL, N_DE, condition_of

    rng = np.random.default_rng(seed)
    conditions = np.array(sorted([condition_of(p) for p in perturbations] + [CTRL]))
    ctrl_code = int(np.flatnonzero(conditions == CTRL)[0])
    counts = np.full(len(conditions), cells_per_perturbation)
    counts[ctrl_code] = n_ctrl
    cell_condition = np.repeat(np.arange(len(conditions), dtype=np.int32), counts)
    n_cells, n_genes = len(cell_condition), len(genes)
    per_row = max(1, n_genes // 10)  # ~10 % non-zero; built directly (scipy.sparse.random samples without
    # replacement over all n_cells x n_genes positions, which takes gigabytes at this size)
    indices = np.sort(rng.integers(0, n_genes, (n_cells, per_row), dtype=np.int32), axis=1)
    data = np.log1p(rng.poisson(2.0, (n_cells, per_row)) + 1).astype(np.float32)
    X = sp.csr_matrix(
        (data.ravel(), indices.ravel(), np.arange(0, n_cells * per_row + 1, per_row)), shape=(n_cells, n_genes)
    )
    X.sum_duplicates()
    k = min(N_DE, n_genes)
    de = np.full((len(conditions), N_DE), -1, dtype=np.int64)
    for i in range(len(conditions)):
        if i != ctrl_code:
            de[i, :k] = rng.choice(n_genes, k, replace=False)
    nz = [np.sort(rng.choice(n_genes, n_genes // 2, replace=False)) for _ in conditions]
    nz[ctrl_code] = np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in nz])]).astype(np.int64)
    return ScreenArrays(
        genes=np.asarray(genes).astype(str),
        conditions=conditions,
        cell_condition=cell_condition,
        X=X,
        de_idx=de,
        de_idx_non_dropout=de.copy(),
        nz_offsets=offsets,
        nz_indices=np.concatenate(nz).astype(np.int64),
    )


def bench_gears_throughput(
    workdir: str | os.PathLike,
    n_genes: int = 5000,
    cells_per_perturbation: int = 150,
    n_perturbations: int | None = None,
    steps: int = 10,
    cells_per_step: int = 32,
    device: str = "cpu",
    fit_perturbations: int = 50,
) -> list[dict]:
    """One epoch's time, the three trainers' steps on the same synthetic screen (module docstring)."""
    import torch
    import torch.nn as nn
    import torch.optim as optim

    from bench_suite import candidate_pool, load_graph
    from perturb_select.config import TrainingConfig
    from perturb_select.gears.cells import BatchedGears
    from perturb_select.gears.perturbations import PerturbationGears
    from perturb_select.knowledge.graph import compact_receptive_field, receptive_field_subgraph
    from perturb_select.screens.layout import condition_of

    torch.set_num_threads(1)
    graph = load_graph(workdir)
    perts = candidate_pool(graph, workdir, "replogle", n_candidates=n_perturbations)
    measured = [f"gene{i:05d}" for i in range(n_genes)]  # measured genes need not be graph nodes
    screen = synthetic_screen(perts, measured, cells_per_perturbation=cells_per_perturbation)
    # Steps draw from the cells of the first `fit_perturbations` perturbations (the co-expression graph of
    # all 160k cells is a dense 5,000-gene correlation, GEARS's own cost, not a step's); the GO graph is the
    # receptive field of all of them, as in a real cycle.
    fit = [condition_of(p) for p in perts[:fit_perturbations]]
    n_train = len(perts) * cells_per_perturbation + 1000  # an epoch over every perturbation's cells
    config = TrainingConfig(cells_per_step=cells_per_step, device=device, epochs=1)
    compact, loops = compact_receptive_field(graph, perts, 1)

    def optimizer_step(model, optimizer, loss):
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
        optimizer.step()

    # the perturbations trainer
    t0 = time.perf_counter()
    ours = PerturbationGears(screen, compact, fit[:-1], fit[-1:], config, seed=0, self_loop=loops)
    setup_ours = time.perf_counter() - t0
    ours.model.train()
    ours_optimizer = optim.Adam(ours.model.parameters(), lr=1e-3, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(0)
    per_step = min(config.perturbations_per_step, len(ours._names))
    ours_s = _time_steps(
        lambda i: optimizer_step(
            ours.model, ours_optimizer, ours._step_loss(ours._next_conditions(per_step, generator))
        ),
        steps,
        device,
    )
    ours_epoch = -(-(len(perts) + 1) // per_step) * ours_s
    cells_in_step = int(np.mean([len(ours.train_groups[c]) for c in ours._names]) * per_step)

    # the cells trainer
    cells = BatchedGears(screen, compact, fit[:-1], fit[-1:], config, seed=0, self_loop=loops)
    model = cells.model
    model.train()
    optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
    order = np.random.default_rng(0).permutation(len(cells.train["cells"]))

    def step_cells(i):
        idx = order[i * cells_per_step : (i + 1) * cells_per_step]
        loss = cells._loss(
            model(cells._batch(cells.train, idx)),
            cells._take(cells.train["y"], idx),
            cells.train["conditions"][idx].tolist(),
        )
        optimizer_step(model, optimizer, loss)

    cells_s = _time_steps(step_cells, steps, device)
    cells_epoch = n_train // cells_per_step * cells_s

    # cell-gears's step on its own cell graphs
    import warnings

    from torch_geometric.loader import DataLoader

    from perturb_select.screens.layout import CTRL, condition_gene

    with warnings.catch_warnings():
        from gears.pertdata import PertData
        from gears.utils import loss_fct
    sub = receptive_field_subgraph(graph, perts, 1)
    gears_model = _gears_model_like(cells, sub)
    t0 = time.perf_counter()
    picked = order[: (steps + 1) * cells_per_step]
    x = screen.X[cells.train["inputs"][picked]].toarray()
    y = screen.X[cells.train["cells"][picked]].toarray()
    conds = cells.train["conditions"][picked]
    node = [None if c == CTRL else [int(sub.index_of([condition_gene(c)])[0])] for c in conds]
    graphs = [
        PertData.create_cell_graph(None, x[i : i + 1], y[i : i + 1], [-1] * 20, str(conds[i]), node[i])
        for i in range(len(picked))
    ]
    setup_peer_per_cell = (time.perf_counter() - t0) / len(picked)
    loader = iter(DataLoader(graphs, batch_size=cells_per_step, shuffle=False, drop_last=True))
    g_opt = optim.Adam(gears_model.parameters(), lr=1e-3, weight_decay=5e-4)
    gears_model.train()
    dict_filter = {c: screen.nonzero_genes(c) for c in set(conds.tolist()) if c != CTRL}

    def step_peer(i):
        batch = next(loader)
        batch.to(device)
        loss = loss_fct(
            gears_model(batch),
            batch.y,
            batch.pert,
            ctrl=cells.ctrl_expression,
            dict_filter=dict_filter,
            direction_lambda=0.1,
        )
        optimizer_step(gears_model, g_opt, loss)

    peer_s = _time_steps(step_peer, steps, device)
    shape = (
        f"synthetic Replogle K562 shape ({len(perts)} perturbations x {cells_per_perturbation} cells, "
        f"{n_genes} genes), {device}, 1 thread"
    )
    return [
        _row(
            f"one training epoch, {shape}",
            "perturbations",
            ours_epoch,
            peer="cells",
            peer_s=cells_epoch,
            note=(
                f"a step: {per_step} perturbations (~{cells_in_step} cells) in {ours_s * 1e3:.0f} ms, "
                f"{-(-(len(perts) + 1) // per_step)} steps per epoch; cells: {cells_per_step} cells in "
                f"{cells_s * 1e3:.0f} ms, {n_train // cells_per_step} steps ({cells_epoch / 3600:.1f} h); "
                f"mean of {steps} steps after one warm-up; GO graph {compact.n_nodes} nodes (compact); "
                f"setup {setup_ours:.1f} s"
            ),
            epoch_s_ours=ours_epoch,
            epoch_s_peer=cells_epoch,
        ),
        _row(
            f"training step of {cells_per_step} cells, {shape}",
            "cells",
            cells_s,
            peer="cell-gears step",
            peer_s=peer_s,
            note=(
                f"cells/s {cells_per_step / cells_s:.1f} vs {cells_per_step / peer_s:.1f}; GO graph "
                f"{compact.n_nodes} nodes (compact) vs {sub.n_nodes} (subgraph); cell graphs "
                f"{setup_peer_per_cell * 1e3:.2f} ms per cell"
            ),
            cells_per_s_ours=cells_per_step / cells_s,
            cells_per_s_peer=cells_per_step / peer_s,
        ),
    ]


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
    """Mean seconds of one step over ``steps`` steps, after one warm-up step."""
    import torch

    step(0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


# --------------------------------------------------------------------------------------------------
# Active-learning batch rules at the paper's scale
# --------------------------------------------------------------------------------------------------


def bench_active_selection(
    n_pool: int = 1000, n_labelled: int = 100, dim: int = 100, batch: int = 100, seed: int = 0
) -> list[dict]:
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
        rows.append(
            _row(
                f"active batch selection, {n_pool} pool + {n_labelled} labelled, {dim}-d features, batch {batch}",
                name,
                best,
                note=f"{len(set(picks.tolist()))} distinct picks",
            )
        )
    return rows
