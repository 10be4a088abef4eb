#!/usr/bin/env python
"""The graph ridges' leave-one-out criterion: all genes (before) against the training perturbations' own top-20 DE
genes (now), on a dataset the pipeline has processed, with the pipeline's own splits and one-shot picks.

    .venv/bin/snakemake <screen.npz, kernels.npz, splits, selections of DATASET> --cores 2 --configfile CONFIG
    .venv/bin/python benchmarks/ridge_criterion.py --dataset papalexi2021 --per-cycle 4 --cycles 5

For every seed, cycle and strategy: ``go_kernel_ridge`` and ``sgc_ridge`` (``evaluation.baselines``) trained
on the cycle's picks with (beta, lambda) chosen by each criterion, scored on the seed's test perturbations
with the metric they are reported by (top-20 DE MSE), minus ``train_mean`` on the same split. Prints, per
model, criterion, strategy and cycle, the mean over seeds and how many seeds beat ``train_mean``. Nothing
here touches the test set before scoring: both criteria read the training perturbations only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

CRITERIA = ("all_genes", "top20_de")


def criterion_scores(screen, kernels, train_genes, test_genes) -> dict:
    """``{(model, criterion): top-20 DE MSE minus train_mean's}`` on ``test_genes`` (mean over them)."""
    from perturb_select.evaluation.baselines import baseline_predictions, de_mask
    from perturb_select.evaluation.metrics import evaluate_predictions
    from perturb_select.screens.layout import CTRL, condition_of

    position = {g: i for i, g in enumerate(kernels.genes)}
    rows = [position[g] for g in list(train_genes) + list(test_genes)]
    ctrl = screen.mean_expression(CTRL)
    train_means = np.stack([screen.mean_expression(condition_of(g)) for g in train_genes])
    test_conds = [condition_of(g) for g in test_genes]
    idx = [screen.condition_index(c) for c in test_conds]
    truth = np.stack([screen.mean_expression(c) for c in test_conds])
    masks = {
        "all_genes": None,
        "top20_de": de_mask(screen.de_idx[[screen.condition_index(condition_of(g)) for g in train_genes]], len(ctrl)),
    }

    def mse(pred):
        run = SimpleNamespace(
            conditions=np.array(test_conds),
            pred=pred,
            truth=truth,
            ctrl_mean=ctrl,
            de_idx=screen.de_idx[idx],
            de_idx_non_dropout=screen.de_idx_non_dropout[idx],
        )
        return evaluate_predictions(run)["mean"]["mse_top20_de"]

    out = {}
    for criterion, scored in masks.items():
        predicted = baseline_predictions(
            ctrl,
            train_means,
            kernels.diffusion[:, rows][:, :, rows],
            n_test=len(test_genes),
            sgc=kernels.sgc[np.ix_(rows, rows)],
            scored=scored,
        )
        reference = mse(predicted["train_mean"])
        for model in ("go_kernel_ridge", "sgc_ridge"):
            out[(model, criterion)] = mse(predicted[model]) - reference
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--results", default="results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--strategies", nargs="+", default=["random"])
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--perturbations-per-cycle", "--per-cycle", type=int, required=True)
    args = parser.parse_args(argv)

    from perturb_select.evaluation.baselines import load_kernels
    from perturb_select.experiment.splits import cycle_picks
    from perturb_select.io import read_json
    from perturb_select.screens.arrays import ScreenArrays

    root = Path(args.results)
    screen = ScreenArrays.load(root / "data" / args.dataset / "screen.npz")
    kernels = load_kernels(root / "baselines" / args.dataset / "kernels.npz")
    rows = []
    for seed in args.seeds:
        test = read_json(root / "splits" / args.dataset / f"seed{seed}.json")["test"]
        for strategy in args.strategies:
            for cycle in range(1, args.cycles + 1):
                picks = cycle_picks(
                    str(root / "select" / args.dataset / strategy / f"seed{seed}.tsv"),
                    cycle,
                    args.perturbations_per_cycle,
                )
                for key, value in criterion_scores(screen, kernels, picks, test).items():
                    rows.append((*key, strategy, cycle, seed, value))
    print(f"{args.dataset}: top-20 DE MSE minus train_mean (mean over {len(args.seeds)} seeds; seeds below 0)")
    print("| model | criterion | strategy | " + " | ".join(f"cycle {c}" for c in range(1, args.cycles + 1)) + " |")
    print("|---|---|---|" + "--:|" * args.cycles)
    for model in ("go_kernel_ridge", "sgc_ridge"):
        for criterion in CRITERIA:
            for strategy in args.strategies:
                cells = []
                for cycle in range(1, args.cycles + 1):
                    values = np.array([r[5] for r in rows if r[:4] == (model, criterion, strategy, cycle)])
                    cells.append(f"{values.mean():+.4f} ({int((values < 0).sum())}/{len(values)})")
                print(f"| {model} | {criterion} | {strategy} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
