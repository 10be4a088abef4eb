#!/usr/bin/env python
"""Which end of GEARS's uncertainty score means "uncertain"? Checked against the error on unseen perturbations.

    .venv/bin/python benchmarks/uncertainty_check.py --screen results/data/papalexi2021/screen.npz \
        --graph results/graph/go_jaccard.npz --candidates results/data/papalexi2021/candidates.tsv

For each seed: the seed's test split is set aside (never read), a cycle's worth of random picks from the
pool is trained with the uncertainty head (cells trainer), and every *other* pool perturbation is scored
with GEARS's ``exp(-mean log-variance)`` over a fixed control sample (``BatchedGears.predict_perturbations``)
and compared with its actual top-20 DE MSE (its cells are in the screen, the model never saw them).
Prints the Spearman correlation per seed: negative means a small score goes with a large error, i.e.
the least certain perturbations are those with the smallest score (``active.rules.uncertainty_batch``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screen", required=True)
    parser.add_argument("--graph", required=True)
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--train", type=int, default=12, help="training perturbations (cycle 3 of batch 4)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)

    import pandas as pd
    import torch
    from scipy.stats import spearmanr

    from perturb_select.config import TrainingConfig
    from perturb_select.evaluation.metrics import perturbation_metrics
    from perturb_select.experiment.splits import split_test_set
    from perturb_select.gears.cells import BatchedGears
    from perturb_select.gears.common import split_validation
    from perturb_select.knowledge.graph import KnowledgeGraph, compact_receptive_field
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.screens.layout import condition_of
    from perturb_select.selection.registry import select

    torch.set_num_threads(1)
    screen, graph = ScreenArrays.load(args.screen), KnowledgeGraph.read(args.graph)
    candidates = pd.read_csv(args.candidates, sep="\t")["gene"].astype(str).tolist()
    config = TrainingConfig(epochs=args.epochs, lr=3e-3, lr_decay=0.8, uncertainty=True, device="cpu")
    print("| seed | unseen pool perturbations | Spearman(score, top-20 DE MSE) | p |")
    print("|--:|--:|--:|--:|")
    rhos = []
    for seed in args.seeds:
        split = split_test_set(candidates, test_fraction=0.1, seed=seed)
        picks = select("random", graph, split["pool"], args.train, seed=seed).genes
        unseen = sorted(set(split["pool"]) - set(picks))
        fit, val = split_validation(picks, config.val_fraction, seed)
        sub, loops = compact_receptive_field(graph, picks + unseen, config.num_go_gnn_layers)
        runner = BatchedGears(screen, sub, fit, val, config, seed=seed, self_loop=loops)
        runner.fit()
        pred, score = runner.predict_perturbations(unseen, n_ctrl=300, seed=seed)
        conds = [condition_of(g) for g in unseen]
        truth = np.stack([screen.mean_expression(c) for c in conds])
        de = np.stack([screen.de_idx[screen.condition_index(c)] for c in conds])
        error = perturbation_metrics(pred, truth, runner.ctrl_mean, de)["mse_top20_de"]
        rho, p = spearmanr(score, error)
        rhos.append(rho)
        print(f"| {seed} | {len(unseen)} | {rho:+.3f} | {p:.3f} |")
    print(
        f"\nmean Spearman over {len(rhos)} seeds: {np.mean(rhos):+.3f}; negative in {int(np.sum(np.array(rhos) < 0))}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
