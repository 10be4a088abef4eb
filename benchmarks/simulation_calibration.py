#!/usr/bin/env python
"""Calibration statistics of processed screens, real and SIMULATED, side by side (docs/simulation.md's table).

    .venv/bin/python benchmarks/simulation_calibration.py results/data/papalexi2021/screen.npz \
        results/data/simulated_kernel_gs09/screen.npz ... [--graph results/graph/go_jaccard.npz]

Per screen (``screen.npz``, the arrays every training job reads): over perturbations, the mean |change| of
each one's top-20 DE genes against the control mean (median, 25 % and 90 % quantiles), the number of genes
moved by more than 0.25 (median), and top-20 DE MSE of ``train_mean`` / ``no_change`` over all perturbations
(each predicted by the mean of the others). With ``--graph``: the correlation of the changes of two
perturbations that are GO-graph neighbours (an edge either way) minus that of other pairs, the knob's
measured effect. Expression is GEARS's ``log1p(normalize_total)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def screen_statistics(path: str, graph=None) -> dict:
    """The statistics of the module docstring for one ``screen.npz``."""
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.screens.layout import CTRL, condition_gene

    screen = ScreenArrays.load(path)
    conditions = [str(c) for c in screen.conditions if str(c) != CTRL]
    ctrl = screen.mean_expression(CTRL)
    means = np.stack([screen.mean_expression(c) for c in conditions])
    change = means - ctrl
    de = screen.de_idx[[screen.condition_index(c) for c in conditions]]
    top = np.array([np.abs(change[i, row[row >= 0]]).mean() for i, row in enumerate(de)])
    total = means.sum(axis=0)
    loo_mean = (total[None, :] - means) / (len(means) - 1)  # each perturbation by the mean of the others
    train_mean = np.array(
        [np.mean((loo_mean[i, row[row >= 0]] - means[i, row[row >= 0]]) ** 2) for i, row in enumerate(de)]
    )
    no_change = np.array([np.mean((ctrl[row[row >= 0]] - means[i, row[row >= 0]]) ** 2) for i, row in enumerate(de)])
    out = {
        "screen": path,
        "perturbations": len(conditions),
        "genes": len(ctrl),
        "top20_abs_median": float(np.median(top)),
        "top20_abs_q25": float(np.quantile(top, 0.25)),
        "top20_abs_q90": float(np.quantile(top, 0.9)),
        "moved_median": float(np.median((np.abs(change) > 0.25).sum(axis=1))),
        "mse_train_mean": float(train_mean.mean()),
        "mse_no_change": float(no_change.mean()),
    }
    if graph is not None:
        genes = [condition_gene(c) for c in conditions]
        idx = graph.index_of(genes)
        adjacency = graph.adjacency[idx][:, idx].toarray() != 0
        neighbours = adjacency | adjacency.T
        np.fill_diagonal(neighbours, False)
        others = ~neighbours & ~np.eye(len(genes), dtype=bool)
        correlation = np.corrcoef(change)
        out["neighbour_excess_correlation"] = float(correlation[neighbours].mean() - correlation[others].mean())
        out["neighbour_pairs"] = int(neighbours.sum() // 2)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("screens", nargs="+")
    parser.add_argument("--graph", help="GO graph (.npz) for the neighbour correlation")
    args = parser.parse_args(argv)
    graph = None
    if args.graph:
        from perturb_select.knowledge.graph import KnowledgeGraph

        graph = KnowledgeGraph.read(args.graph)
    rows = [screen_statistics(path, graph) for path in args.screens]
    columns = [k for k in rows[0] if k != "screen"]
    print("| screen | " + " | ".join(columns) + " |")
    print("|---|" + "--:|" * len(columns))
    for row in rows:
        cells = [
            f"{row.get(c, float('nan')):.3f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns
        ]
        print(f"| {row['screen']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
