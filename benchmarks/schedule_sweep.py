#!/usr/bin/env python
"""Choose GEARS's training schedule for a screen from validation data only (never the test set).

    .venv/bin/python benchmarks/schedule_sweep.py --screen results/data/papalexi2021/screen.npz \
        --graph results/graph/go_jaccard.npz --candidates results/data/papalexi2021/candidates.tsv \
        --json schedule.json [--seeds 1 2 3] [--cycles 2 5] [--workers 2] [--only NAME ...]

For every seed, the seed's test split is set aside exactly as the workflow does
(``experiment.splits.split_test_set``); the cycle's training perturbations are random picks from the pool,
and each schedule (a trainer and its settings, :data:`SCHEDULES`) is trained on them. Only the validation
part of those picks is scored: per epoch the validation top-20 DE MSE, next to the no-change and
training-mean baselines of the same validation perturbations. The table gives, per cycle and schedule, the
mean over seeds of the best validation MSE, the epoch and CPU seconds at which the best was reached, and the
whole run's training seconds. A run of E epochs also gives every shorter run of the same schedule (the
learning-rate schedule does not depend on E).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

#: name -> TrainingConfig settings. The cells trainer's rows repeat the earlier sweep (GEARS's schedule and
#: the previous main job's 5-epoch choice); the perturbations trainer's rows vary the learning rate and its
#: decay, the perturbations per step and the cells scored per perturbation (the first sweep, 4 seeds: 32 per
#: step, i.e. every perturbation each step, and lr 1e-3 to 1e-2 were no better than 8 per step).
SCHEDULES = {
    "cells: gears (lr 1e-3, decay 0.5, 20 ep)": {"trainer": "cells", "lr": 1e-3, "lr_decay": 0.5, "epochs": 20},
    "cells: lr 3e-3, decay 0.8, 5 ep (previous main job)": {
        "trainer": "cells",
        "lr": 3e-3,
        "lr_decay": 0.8,
        "epochs": 5,
    },
    "perts: 8 per step, lr 1e-3, decay 0.99": {
        "trainer": "perturbations",
        "perturbations_per_step": 8,
        "lr": 1e-3,
        "lr_decay": 0.99,
        "epochs": 150,
    },
    "perts: 8 per step, lr 3e-3, decay 0.99": {
        "trainer": "perturbations",
        "perturbations_per_step": 8,
        "lr": 3e-3,
        "lr_decay": 0.99,
        "epochs": 150,
    },
    "perts: 8 per step, lr 3e-3, decay 0.98": {
        "trainer": "perturbations",
        "perturbations_per_step": 8,
        "lr": 3e-3,
        "lr_decay": 0.98,
        "epochs": 150,
    },
    "perts: 8 per step, lr 1e-2, decay 0.98": {
        "trainer": "perturbations",
        "perturbations_per_step": 8,
        "lr": 1e-2,
        "lr_decay": 0.98,
        "epochs": 150,
    },
    "perts: 4 per step, lr 3e-3, decay 0.99": {
        "trainer": "perturbations",
        "perturbations_per_step": 4,
        "lr": 3e-3,
        "lr_decay": 0.99,
        "epochs": 150,
    },
    "perts: 8 per step, 16 cells, lr 3e-3, decay 0.99": {
        "trainer": "perturbations",
        "perturbations_per_step": 8,
        "cells_per_perturbation": 16,
        "lr": 3e-3,
        "lr_decay": 0.99,
        "epochs": 150,
    },
    "perts: all per step, lr 3e-3, decay 0.99": {
        "trainer": "perturbations",
        "lr": 3e-3,
        "lr_decay": 0.99,
        "epochs": 150,
    },
    # the second sweep: 4 per step with a decay that lets the learning rate fall within the main job's epochs
    "perts: 4 per step, lr 3e-3, decay 0.97, 60 ep": {
        "trainer": "perturbations",
        "perturbations_per_step": 4,
        "lr": 3e-3,
        "lr_decay": 0.97,
        "epochs": 60,
    },
    "perts: 4 per step, lr 3e-3, decay 0.95, 60 ep": {
        "trainer": "perturbations",
        "perturbations_per_step": 4,
        "lr": 3e-3,
        "lr_decay": 0.95,
        "epochs": 60,
    },
    "perts: 4 per step, lr 1e-2, decay 0.95, 60 ep": {
        "trainer": "perturbations",
        "perturbations_per_step": 4,
        "lr": 1e-2,
        "lr_decay": 0.95,
        "epochs": 60,
    },
    "perts: 2 per step, lr 3e-3, decay 0.95, 60 ep": {
        "trainer": "perturbations",
        "perturbations_per_step": 2,
        "lr": 3e-3,
        "lr_decay": 0.95,
        "epochs": 60,
    },
}


def one_run(args: tuple) -> dict:
    screen_path, graph_path, candidates, name, schedule, seed, cycle, perturbations_per_cycle, test_fraction = args
    import resource

    import torch

    from perturb_select.config import TrainingConfig
    from perturb_select.experiment.splits import split_test_set
    from perturb_select.gears import TrainingData, train
    from perturb_select.knowledge.graph import KnowledgeGraph
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.selection.registry import select

    torch.set_num_threads(1)
    screen, graph = ScreenArrays.load(screen_path), KnowledgeGraph.read(graph_path)
    split = split_test_set(candidates, test_fraction=test_fraction, seed=seed)
    picks = select("random", graph, split["pool"], cycle * perturbations_per_cycle, seed=seed).genes
    config = TrainingConfig(device="cpu", **schedule)
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    run = train(TrainingData(graph=graph, screen=screen), picks, split["test"], seed=seed, config=config).predictions
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    diag = run.info["diagnostics"]  # validation only: the test predictions are not read
    return {
        "schedule": name,
        "seed": seed,
        "cycle": cycle,
        "val_mse_top20_de": diag["val_mse_top20_de"],
        "train_loss": diag["train_loss"],
        "baselines": diag["val_baselines"],
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "seconds_train": run.info["seconds"]["train"],
        "steps_per_epoch": diag["steps_per_epoch"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def summary_rows(runs: list[dict], cycles, names) -> list[dict]:
    """Per cycle and schedule: best validation MSE (mean over seeds), its epoch, the CPU seconds to reach it
    (training seconds in proportion to the epochs run), the run's training seconds."""
    rows = []
    for cycle in cycles:
        for name in names:
            group = [r for r in runs if r["cycle"] == cycle and r["schedule"] == name]
            if not group:
                continue
            best = [float(np.min(r["val_mse_top20_de"])) for r in group]
            epoch = [int(np.argmin(r["val_mse_top20_de"])) + 1 for r in group]
            to_best = [r["cpu_seconds"] * e / len(r["val_mse_top20_de"]) for r, e in zip(group, epoch)]
            rows.append(
                {
                    "cycle": cycle,
                    "schedule": name,
                    "seeds": len(group),
                    "best_val_mse": float(np.mean(best)),
                    "best_val_mse_sd": float(np.std(best, ddof=1)) if len(best) > 1 else float("nan"),
                    "best_epoch": epoch,
                    "cpu_s_to_best": float(np.mean(to_best)),
                    "cpu_s_run": float(np.mean([r["cpu_seconds"] for r in group])),
                    "no_change": float(np.mean([r["baselines"]["no_change"] for r in group])),
                    "train_mean": float(np.mean([r["baselines"]["train_mean"] for r in group])),
                }
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screen", required=True)
    parser.add_argument("--graph", required=True)
    parser.add_argument("--candidates", required=True, help="candidates.tsv of preprocess_dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cycles", type=int, nargs="+", default=[2, 5])
    parser.add_argument(
        "--perturbations-per-cycle",
        "--per-cycle",
        type=int,
        default=4,
        help="perturbations per cycle (experiment.perturbations_per_cycle)",
    )
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="+", help="schedule names (substrings) to run")
    parser.add_argument("--json", help="write every run's curves here")
    args = parser.parse_args(argv)
    import pandas as pd

    names = [n for n in SCHEDULES if not args.only or any(o in n for o in args.only)]
    candidates = pd.read_csv(args.candidates, sep="\t")["gene"].astype(str).tolist()
    jobs = [
        (
            args.screen,
            args.graph,
            candidates,
            name,
            SCHEDULES[name],
            seed,
            cycle,
            args.perturbations_per_cycle,
            args.test_fraction,
        )
        for cycle in args.cycles
        for seed in args.seeds
        for name in names
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(one_run, jobs))
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print(
        "| cycle | schedule | best val top-20 DE MSE (mean ± sd over seeds) | best epoch | CPU s to best | "
        "CPU s run | no change | training mean |"
    )
    print("|--:|:--|:--|:--|--:|--:|--:|--:|")
    for r in summary_rows(runs, args.cycles, names):
        print(
            f"| {r['cycle']} | {r['schedule']} | {r['best_val_mse']:.4f} ± {r['best_val_mse_sd']:.4f} | "
            f"{r['best_epoch']} | {r['cpu_s_to_best']:.1f} | {r['cpu_s_run']:.1f} | {r['no_change']:.4f} | "
            f"{r['train_mean']:.4f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
