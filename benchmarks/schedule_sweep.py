#!/usr/bin/env python
"""Choose GEARS's training schedule for a screen from validation data only (never the test set).

    .venv/bin/python benchmarks/schedule_sweep.py --screen results/data/papalexi2021/screen.npz \
        --graph results/graph/go_jaccard.npz --candidates results/data/papalexi2021/candidates.tsv \
        --json schedule.json [--seeds 1 2 3] [--cycles 2 5] [--workers 2]

For every seed, the seed's test split is set aside exactly as the workflow does (``experiment
.split_test_set``); the cycle's training perturbations are random picks from the pool, and each schedule is
trained with the batched trainer. Only the validation part of those picks is scored: per epoch the
validation top-20 DE MSE, next to the no-change and training-mean baselines of the same validation
perturbations. A run of E epochs also gives every shorter run of the same schedule (the learning-rate
schedule does not depend on E), so the table reports the best validation MSE up to 5, 10 and 20 epochs.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SCHEDULES = {
    "gears (lr 1e-3, decay 0.5)": {"lr": 1e-3, "lr_decay": 0.5},
    "lr 1e-3, decay 0.9": {"lr": 1e-3, "lr_decay": 0.9},
    "lr 1e-3, no decay": {"lr": 1e-3, "lr_decay": 1.0},
    "lr 3e-3, decay 0.8": {"lr": 3e-3, "lr_decay": 0.8},
}


def one_run(args: tuple) -> dict:
    screen_path, graph_path, candidates, name, schedule, seed, cycle, batch, epochs, test_fraction = args
    import torch

    from perturb_select.experiment.splits import split_test_set
    from perturb_select.gears import TrainingData
    from perturb_select.gears.batched import train_cells
    from perturb_select.knowledge.graph import KnowledgeGraph
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.selection.registry import select
    from perturb_select.config import TrainingConfig

    torch.set_num_threads(1)
    screen, graph = ScreenArrays.load(screen_path), KnowledgeGraph.read(graph_path)
    split = split_test_set(candidates, test_fraction=test_fraction, seed=seed)
    picks = select("random", graph, split["pool"], cycle * batch, seed=seed).genes
    config = TrainingConfig(epochs=epochs, device="cpu", **schedule)
    run = train_cells(TrainingData(graph=graph, screen=screen), picks, split["test"], seed=seed,
                        config=config).predictions
    diag = run.info["diagnostics"]  # validation only: the test predictions are not read
    return {"schedule": name, "seed": seed, "cycle": cycle, "val_mse_top20_de": diag["val_mse_top20_de"],
            "train_loss": diag["train_loss"], "baselines": diag["val_baselines"],
            "seconds_train": run.info["seconds"]["train"], "steps_per_epoch": diag["steps_per_epoch"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screen", required=True)
    parser.add_argument("--graph", required=True)
    parser.add_argument("--candidates", required=True, help="candidates.tsv of preprocess_dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cycles", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--batch", type=int, default=4, help="perturbations per cycle (config experiment.perturbations_per_cycle)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="write every run's curves here")
    args = parser.parse_args(argv)
    import pandas as pd

    candidates = pd.read_csv(args.candidates, sep="\t")["gene"].astype(str).tolist()
    jobs = [(args.screen, args.graph, candidates, name, schedule, seed, cycle, args.batch, args.epochs,
             args.test_fraction)
            for cycle in args.cycles for seed in args.seeds for name, schedule in SCHEDULES.items()]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(one_run, jobs))
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print("| cycle | schedule | best val top-20 DE MSE within 5 / 10 / 20 epochs (mean over seeds) | best epoch "
          "| no change | training mean | train s (20 epochs) |")
    print("|--:|:--|:--|:--|--:|--:|--:|")
    for cycle in args.cycles:
        for name in SCHEDULES:
            group = [r for r in runs if r["cycle"] == cycle and r["schedule"] == name]
            curves = np.array([r["val_mse_top20_de"] for r in group])
            best = [np.mean(curves[:, :e].min(axis=1)) for e in (5, 10, args.epochs)]
            best_epoch = [int(np.argmin(c)) + 1 for c in curves]
            print(f"| {cycle} | {name} | {' / '.join(f'{b:.4f}' for b in best)} | {best_epoch} | "
                  f"{np.mean([r['baselines']['no_change'] for r in group]):.4f} | "
                  f"{np.mean([r['baselines']['train_mean'] for r in group]):.4f} | "
                  f"{np.mean([r['seconds_train'] for r in group]):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
