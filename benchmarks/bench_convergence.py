"""GEARS trainers to convergence: the perturbations trainer against GEARS's cell mini-batches (``cells``).

* ``bench_time_to_reach``: per seed, the cells trainer on its best schedule from the sweeps (lr 3e-3,
  decay 0.8) gives its best validation top-20 DE MSE and the seconds it took to get there; the
  perturbations trainer (the default schedule) is timed until its validation score first reaches that
  value. Same screen, same picks, same validation perturbations, one thread each. On the real screen
  (Papalexi 2021) and on a SIMULATED Replogle-shaped screen (``screens.simulated``, labelled so in every
  row).
* ``bench_replogle_job``: one cycle-5 training job of the paper's protocol at Replogle K562 shape (500
  training perturbations of the 1,085 resolved Replogle targets, 150 cells each, 5,000 readout genes; the
  SIMULATED screen), the perturbations trainer to convergence on one core; from it, the core-hours of
  ``config/paper.yaml`` on CPU.
* ``bench_trainer_accuracy``: the test top-20 DE MSE of both trainers on the real screen, cycle 5 of
  ``random``, paired over seeds (Wilcoxon signed-rank), each with the schedule it runs in a main job.

Seconds to an epoch are wall seconds of one torch thread on an otherwise idle machine: building the model and
its data, then every epoch (steps and validation) up to that one, as the trainer records them
(``info['seconds']``); a whole run's seconds are ``time.process_time`` of the training call.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: The cells trainer's schedule in the main job before the perturbations trainer (README history).
PREVIOUS_MAIN_JOB = {"trainer": "cells", "epochs": 5, "lr": 3e-3, "lr_decay": 0.8}


def _row(benchmark, ours, ours_s, peer=None, peer_s=None, note="", **extra):
    from bench_suite import make_row

    return make_row(benchmark, ours, ours_s, peer=peer, peer_s=peer_s, note=note, **extra)


# --------------------------------------------------------------------------------------------------
# Screens: the real one and a simulated one at Replogle shape
# --------------------------------------------------------------------------------------------------


def real_screen(data: str | os.PathLike, workdir: str | os.PathLike):
    """The Papalexi screen processed as the main job processes it (config/config.yaml's dataset block),
    cached in ``workdir/papalexi``: ``(ScreenArrays, candidates)``."""
    import yaml

    from bench_suite import load_graph
    from perturb_select.config import DatasetConfig
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.screens.layout import read_candidates
    from perturb_select.stages.data import preprocess_dataset

    data, folder = Path(data), Path(workdir) / "papalexi"
    arrays, candidates = folder / "screen.npz", folder / "candidates.tsv"
    if not arrays.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        block = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["datasets"]["papalexi2021"]
        graph_npz = folder / "go_jaccard.npz"
        load_graph(workdir).write(graph_npz)
        preprocess_dataset(
            str(data / "perturbseq" / block["mirror_name"]),
            str(graph_npz),
            str(data / "go" / "Homo_sapiens.gene_info.gz"),
            str(folder / "perturb_processed.h5ad"),
            str(arrays),
            str(candidates),
            str(folder / "dropped.tsv"),
            dataset=DatasetConfig.from_config("papalexi2021", block).screen_params(),
            taxid=9606,
        )
    return ScreenArrays.load(arrays), read_candidates(candidates)


def simulated_replogle_screen(
    data: str | os.PathLike,
    workdir: str | os.PathLike,
    *,
    n_genes: int = 5000,
    cells_per_perturbation: int = 150,
    graph_signal: float = 0.5,
    seed: int = 0,
):
    """A SIMULATED screen on the resolved Replogle K562 targets (``screens.simulated``, controls fitted on the
    Papalexi non-targeting cells), processed by ``screens.raw`` as a raw screen would be; cached in
    ``workdir``. Returns ``(ScreenArrays, candidates, seconds)`` (seconds to simulate and to process)."""
    import anndata as ad

    from bench_suite import candidate_pool, load_graph
    from perturb_select.config import SimulationConfig
    from perturb_select.knowledge.symbols import SymbolResolver
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.screens.layout import CTRL, condition_gene
    from perturb_select.screens.raw import preprocess_screen
    from perturb_select.screens.simulated import fit_control_model, simulate_screen, simulated_anndata

    name = f"simulated_replogle_g{n_genes}_c{cells_per_perturbation}_s{graph_signal}_seed{seed}"
    folder = Path(workdir) / name
    arrays = folder / "screen.npz"
    if arrays.is_file():
        meta = json.loads((folder / "meta.json").read_text())
        return ScreenArrays.load(arrays), meta["candidates"], meta["seconds"]
    folder.mkdir(parents=True, exist_ok=True)
    graph = load_graph(workdir)
    candidates = candidate_pool(graph, workdir, "replogle")
    papalexi = ad.read_h5ad(Path(data) / "perturbseq" / "papalexi2021_thp1.h5ad")
    control = fit_control_model(papalexi[papalexi.obs["perturbation"] == "non-targeting"].X, "papalexi2021 controls")
    t0 = time.perf_counter()
    settings = SimulationConfig(
        graph_signal=graph_signal, n_genes=n_genes, cells_per_perturbation=cells_per_perturbation
    )
    screen = simulate_screen(graph, candidates, control, settings, seed=seed, with_truth=False)
    simulate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    adata = simulated_anndata(screen)
    resolver = SymbolResolver.from_gene_info(Path(data) / "go" / "Homo_sapiens.gene_info.gz", universe=graph.genes)
    result = preprocess_screen(
        adata, graph_genes=frozenset(graph.genes), resolver=resolver, cell_type="simulated", source=name
    )
    processed = ScreenArrays.from_anndata(result.adata, source=name)
    process_s = time.perf_counter() - t0
    processed.save(arrays)
    kept = sorted(condition_gene(c) for c in processed.conditions if c != CTRL)
    seconds = {"simulate": round(simulate_s, 1), "process": round(process_s, 1)}
    (folder / "meta.json").write_text(json.dumps({"candidates": kept, "seconds": seconds}))
    return processed, kept, seconds


# --------------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------------


def _picks(graph, candidates: Sequence[str], seed: int, n_picks: int, test_fraction: float = 0.1):
    """The seed's split (as the workflow draws it) and ``n_picks`` random picks from its pool."""
    from perturb_select.experiment.splits import split_test_set
    from perturb_select.selection.registry import select

    split = split_test_set(list(candidates), test_fraction=test_fraction, seed=seed)
    return select("random", graph, split["pool"], n_picks, seed=seed).genes, split["test"]


def train_once(graph, screen, train_genes, test_genes, seed: int, **settings) -> dict:
    """One training run, one torch thread: the validation curve, CPU seconds, test top-20 DE MSE."""
    import torch

    from perturb_select.config import TrainingConfig
    from perturb_select.evaluation.metrics import evaluate_predictions
    from perturb_select.gears import TrainingData, train

    torch.set_num_threads(1)
    config = TrainingConfig(**{"device": "cpu", "threads": 1, **settings})
    cpu0 = time.process_time()
    predictions = train(
        TrainingData(graph=graph, screen=screen), train_genes, test_genes, seed=seed, config=config
    ).predictions
    cpu = time.process_time() - cpu0
    diag = predictions.info["diagnostics"]
    seconds = predictions.info["seconds"]
    return {
        "val": list(diag["val_mse_top20_de"]),
        "train_loss": list(diag["train_loss"]),
        "cpu_s": cpu,
        "train_s": seconds["train"],
        "load_s": seconds["load"],
        "epoch_s": seconds["epochs"],
        "steps_per_epoch": diag["steps_per_epoch"],
        "best_epoch": diag["best_epoch"],
        "val_baselines": diag["val_baselines"],
        "test_mse_top20_de": evaluate_predictions(predictions)["mean"]["mse_top20_de"],
    }


def seconds_to_reach(run: dict, target: float) -> float | None:
    """Seconds until the run's validation score first reaches ``target`` (None: never): building the model
    and its data, then the epochs up to that one with their validation (one thread, nothing else running)."""
    hits = [i for i, v in enumerate(run["val"]) if v <= target]
    if not hits:
        return None
    return run["load_s"] + run["epoch_s"][hits[0]]


def bench_time_to_reach(
    data: str | os.PathLike,
    workdir: str | os.PathLike,
    screen: str = "real",
    seeds: Sequence[int] = (1, 2, 3),
    cycle: int = 5,
    perturbations_per_cycle: int = 4,
    cells_epochs: int = 20,
) -> list[dict]:
    """Time for the perturbations trainer to reach the cells trainer's best validation score (module
    docstring); the cells trainer runs the schedule that did best for it on validation data (lr 3e-3,
    decay 0.8: docs/benchmarks.md), for ``cells_epochs`` epochs. ``screen``: ``real`` (Papalexi) or
    ``simulated`` (Replogle-shaped, 1,000 readout genes and 50 cells per perturbation so that the cells
    trainer's epochs fit the benchmark)."""
    from bench_suite import load_graph

    graph = load_graph(workdir)
    if screen == "real":
        arrays, candidates = real_screen(data, workdir)
        label = f"Papalexi 2021 (real), cycle {cycle} ({cycle * perturbations_per_cycle} picks)"
    else:
        arrays, candidates, _ = simulated_replogle_screen(data, workdir, n_genes=1000, cells_per_perturbation=50)
        label = (
            f"SIMULATED Replogle-shaped screen ({len(candidates)} candidates, {arrays.n_genes} genes, 50 cells "
            f"each), cycle {cycle} ({cycle * perturbations_per_cycle} picks)"
        )
    ratios, cells_s, perts_s, details = [], [], [], []
    for seed in seeds:
        picks, test = _picks(graph, candidates, seed, cycle * perturbations_per_cycle)
        cells = train_once(graph, arrays, picks, test, seed, **{**PREVIOUS_MAIN_JOB, "epochs": cells_epochs})
        perts = train_once(graph, arrays, picks, test, seed)  # the default: the perturbations trainer
        target = min(cells["val"])
        reach_cells = seconds_to_reach(cells, target)
        reach_perts = seconds_to_reach(perts, target)
        cells_s.append(reach_cells)
        perts_s.append(reach_perts)
        if reach_perts is not None:
            ratios.append(reach_cells / reach_perts)
        details.append(
            f"seed {seed}: target {target:.4f} at cells epoch {cells['val'].index(target) + 1} "
            f"({reach_cells:.1f} s), perturbations "
            + (
                f"{reach_perts:.1f} s (epoch {next(i for i, v in enumerate(perts['val']) if v <= target) + 1})"
                if reach_perts is not None
                else f"never (best {min(perts['val']):.4f})"
            )
        )
    reached = [s for s in perts_s if s is not None]
    return [
        _row(
            f"time to the cells trainer's best validation top-20 DE MSE, {label}",
            "perturbations",
            float(np.mean(reached)) if reached else None,
            peer=f"cells ({cells_epochs} epochs, lr 3e-3 decaying 0.8: its best schedule in the sweeps)",
            peer_s=float(np.mean(cells_s)),
            note=(
                f"{len(reached)}/{len(seeds)} seeds reached it; seconds ratio per seed "
                f"{', '.join(f'{r:.0f}x' for r in ratios)}; " + "; ".join(details)
            ),
            seeds=list(seeds),
            ratios=ratios,
        )
    ]


def bench_replogle_job(
    data: str | os.PathLike,
    workdir: str | os.PathLike,
    n_train: int = 500,
    seed: int = 1,
    epochs: int | None = None,
    n_genes: int = 5000,
    cells_per_perturbation: int = 150,
) -> list[dict]:
    """One cycle-5 job of the paper's protocol at Replogle shape on one core (module docstring); ``epochs``
    None: the default schedule's."""
    import yaml

    from bench_suite import load_graph
    from perturb_select.config import TrainingConfig

    graph = load_graph(workdir)
    arrays, candidates, sim_seconds = simulated_replogle_screen(
        data, workdir, n_genes=n_genes, cells_per_perturbation=cells_per_perturbation
    )
    picks, test = _picks(graph, candidates, seed, n_train)
    settings = {} if epochs is None else {"epochs": epochs}
    run = train_once(graph, arrays, picks, test, seed, **settings)
    config = TrainingConfig(**settings)
    last = run["train_loss"][-10:]
    previous = run["train_loss"][-20:-10]
    plateau = (np.mean(last) / np.mean(previous) - 1) if previous else float("nan")
    # config/paper.yaml's jobs: each strategy x seed x cycle of each dataset; a job's cost grows with its
    # training perturbations (cycle c: c x perturbations_per_cycle), so the mean job costs (cycles + 1) / (2 cycles) of
    # this cycle-5 job at the same shape (Adamson's 8 perturbations per cycle add next to nothing)
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    n_seeds, cycles = len(paper["experiment"]["seeds"]), paper["experiment"]["cycles"]
    n_strategies = len(paper["experiment"]["strategies"])
    per_job_h = run["cpu_s"] / 3600 * (cycles + 1) / (2 * cycles)
    paper_h = n_strategies * n_seeds * cycles * per_job_h
    return [
        _row(
            f"one cycle-5 training job at Replogle K562 shape ({n_train} training perturbations x "
            f"{cells_per_perturbation} cells, "
            f"{arrays.n_genes} genes; SIMULATED screen), 1 core, {config.epochs} epochs",
            "perturbations",
            run["cpu_s"],
            note=(
                f"{run['steps_per_epoch']} steps per epoch; best validation epoch {run['best_epoch']}; "
                f"training loss over the last 10 epochs {plateau:+.2%} against the 10 before; "
                f"validation top-20 DE MSE {min(run['val']):.4f} (training mean "
                f"{run['val_baselines']['train_mean']:.4f}, no change {run['val_baselines']['no_change']:.4f}); "
                f"config/paper.yaml's Replogle runs on CPU ~{paper_h:.0f} core-hours "
                f"({n_strategies} strategies x {n_seeds} seeds x {cycles} cycles, stability runs not "
                f"counted); simulated screen built in {sim_seconds['simulate']:.0f} s, processed in "
                f"{sim_seconds['process']:.0f} s"
            ),
            paper_core_hours=paper_h,
            best_epoch=run["best_epoch"],
            train_loss_plateau=plateau,
        )
    ]


def bench_trainer_accuracy(
    data: str | os.PathLike,
    workdir: str | os.PathLike,
    seeds: Sequence[int] = tuple(range(1, 11)),
    cycle: int = 5,
    perturbations_per_cycle: int = 4,
) -> list[dict]:
    """Test top-20 DE MSE of both trainers, paired over seeds, on the real screen (module docstring)."""
    from scipy.stats import wilcoxon

    from bench_suite import load_graph

    graph = load_graph(workdir)
    arrays, candidates = real_screen(data, workdir)
    ours, peer, cpu = [], [], []
    for seed in seeds:
        picks, test = _picks(graph, candidates, seed, cycle * perturbations_per_cycle)
        a = train_once(graph, arrays, picks, test, seed)
        b = train_once(graph, arrays, picks, test, seed, **PREVIOUS_MAIN_JOB)
        ours.append(a["test_mse_top20_de"])
        peer.append(b["test_mse_top20_de"])
        cpu.append((a["cpu_s"], b["cpu_s"]))
    diff = np.array(ours) - np.array(peer)
    p = float(wilcoxon(ours, peer).pvalue)
    return [
        _row(
            f"test top-20 DE MSE, Papalexi 2021 (real) cycle {cycle} of random, {len(seeds)} seeds paired",
            "perturbations",
            float(np.mean([c[0] for c in cpu])),
            peer="cells (previous main job, 5 epochs)",
            peer_s=float(np.mean([c[1] for c in cpu])),
            note=(
                f"MSE {np.mean(ours):.4f} ± {np.std(ours, ddof=1):.4f} vs {np.mean(peer):.4f} ± "
                f"{np.std(peer, ddof=1):.4f}; paired difference median {np.median(diff):+.4f} "
                f"(lower in {(diff < 0).sum()}/{len(seeds)} seeds), Wilcoxon p = {p:.3f}; seconds are "
                f"CPU per run"
            ),
            mse_ours=ours,
            mse_peer=peer,
            wilcoxon_p=p,
        )
    ]
