#!/usr/bin/env python
"""Does GEARS learn from the graph here? GEARS's trainers against the reference models on SIMULATED screens
(issue 23): held out and in sample, and the receptive-field mechanism measured per test perturbation.

    .venv/bin/python benchmarks/gears_verdict.py --quick          # ~6-9 min on 2 cores, one seed, small screens
    .venv/bin/python benchmarks/gears_verdict.py                  # the full run (hours: see docs/benchmarks.md)
    .venv/bin/python benchmarks/gears_verdict.py --help

Everything here is SIMULATED (``screens.simulated``): the screens have config/simulated.yaml's shape (the
Replogle K562 essential targets resolved to GO-graph nodes, 1,200 readout genes, 50 cells per perturbation,
1,000 control cells, control expression fitted on the Papalexi non-targeting cells), at graph_signal 0 and 0.9.
Per seed: a fixed random test set (10 %), random picks from the rest (``selection`` 'random', as the pipeline's
``random`` strategy), cycles of 100 picks (cycle 2: 200 training perturbations, cycle 5: 500). Each model is
trained on the picks and scored on the test perturbations and, in sample, on the perturbations GEARS was fitted
on (the picks less GEARS's validation tenth; the reference models are trained on all picks):

* ``gears`` / ``cell-gears``: cell-gears 0.1.2's own ``PertData`` + ``GEARS.train`` (the project's trainer
  ``cell-gears``) at GEARS's schedule (``config.GEARS_SCHEDULE``: lr 1e-3 halved every epoch, 32 cells per step;
  20 epochs in the full run). ``GEARS.train`` halves the learning rate after every epoch (``StepLR`` gamma 0.5, not
  a parameter), so by epoch 10 it is 1/512 of the start and further epochs cannot move the model: its 20 epochs
  are its convergence. The learning curve is read from what ``GEARS.train`` prints.
* ``gears`` / ``perturbations``: the project's default trainer with early stopping on validation (``patience``)
  and an epoch budget large enough for the validation curve to stop improving before it ends; its learning curve
  is the trainer's own record.
* ``gears`` / ``cells``: GEARS's mini-batches of cells on our data path at GEARS's schedule (the same epochs as
  ``cell-gears``): where ``perturbations`` and ``cell-gears`` differ, it says whether the data path or the
  schedule makes the difference. Not in ``--quick``.
* every model of ``evaluation.baselines.score_baselines`` (``no_change``, ``train_mean``, ``go_kernel_ridge``,
  ``sgc_ridge``) and the ``oracle`` (the screen's true expression).

Outputs (``--output``, default ``results/benchmarks/gears_verdict_simulated[_quick].tsv``): the table
(``evaluation.verdict.VERDICT_COLUMNS``), ``*_mechanism.tsv`` (per test perturbation: the share of its receptive
field covered by the picks' fields, the share of its propagation weight from nodes no pick reaches, and every
model's top-20 DE MSE), ``*_curves.tsv`` (GEARS's learning curves) and ``*.png`` (per screen and cycle, each
model's top-20 DE MSE minus ``train_mean``'s, test and train, paired over seeds). The printed tables are the
report: mean over seeds and the seeds a model beats ``train_mean`` in, the learning curves' ends, and the error
binned by the two shares, with counts.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # one BLAS thread unless asked otherwise (2 shared cores), before numpy loads
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import argparse
import contextlib
import io
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
DEFAULT_DATA = REPO.parent / "shared" / "data"
CANDIDATE_LIST = Path("genelists") / "replogle2022_k562_essential_1092_genes.txt"
REFERENCE = Path("perturbseq") / "papalexi2021_thp1.h5ad"

#: The full run: config/simulated.yaml's screens and protocol, 5 seeds, cycles 2 and 5, every trainer.
FULL = {
    "seeds": [1, 2, 3, 4, 5],
    "cycles": [2, 5],
    "graph_signals": [0.0, 0.9],
    "candidates": None,
    "n_genes": 1200,
    "cells": 50,
    "control_cells": 1000,
    "truth_cells": 250,
    "gears_epochs": 20,
    "budget": 300,
    "patience": 30,
    "trainers": ["cell-gears", "perturbations", "cells"],
}
#: --quick: the same code on smaller SIMULATED screens (a seeded 400 of the 1,085 candidates, 600 readout genes,
#: 20 cells per perturbation, 300 control cells), one seed, cycle 2; cell-gears two epochs of GEARS's schedule (the
#: learning rate halves every epoch: 3/4 of the 20 epochs' learning-rate sum), the perturbations trainer at most 40
#: epochs with patience 10, no cells trainer.
QUICK = {
    "seeds": [1],
    "cycles": [2],
    "graph_signals": [0.0, 0.9],
    "candidates": 400,
    "n_genes": 600,
    "cells": 20,
    "control_cells": 300,
    "truth_cells": 100,
    "gears_epochs": 2,
    "budget": 40,
    "patience": 10,
    "trainers": ["cell-gears", "perturbations"],
}
#: The perturbations trainer's schedule besides epochs and patience: config/simulated.yaml's (16 perturbations per
#: step, 20 of their cells in the loss, lr 2e-2; chosen on validation data, docs/simulation.md) with a slower decay
#: (0.95 per epoch instead of 0.8) so that the learning rate is still useful when early stopping decides.
PERTURBATIONS_SCHEDULE = {"perturbations_per_step": 16, "cells_per_perturbation": 20, "lr": 2e-2, "lr_decay": 0.95}
#: GEARS's model as config/simulated.yaml sets it (GEARS's defaults).
MODEL = {"hidden_size": 64, "num_go_gnn_layers": 1, "weight_decay": 5e-4, "val_fraction": 0.1}


def parse_args(argv=None) -> argparse.Namespace:
    from perturb_select.config import GEARS_TRAINERS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small, one-seed run (<= 10 min on 2 cores)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the TSV (default results/benchmarks/gears_verdict_simulated[_quick].tsv); the mechanism "
        "and curve tables and the figure go beside it",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (../shared/data)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=REPO / "results" / "benchmarks" / "cache",
        help="GO graph, gene2go pickle and kernels kept between runs",
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="split, pick and training seeds")
    parser.add_argument("--cycles", type=int, nargs="+", help="cycles of --per-cycle picks (2 and 5)")
    parser.add_argument("--perturbations-per-cycle", "--per-cycle", type=int, default=100)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--graph-signals", type=float, nargs="+")
    parser.add_argument(
        "--mechanisms",
        nargs="+",
        default=["kernel"],
        choices=["kernel", "receptive_field"],
        help="simulation.mechanism of the screens",
    )
    parser.add_argument(
        "--replicate-screens",
        action="store_true",
        help="every seed draws its own screen (simulation.replicate_screens) instead of one per setting",
    )
    parser.add_argument("--candidates", type=int, help="a seeded subset of the resolved candidates (default all)")
    parser.add_argument("--n-genes", type=int)
    parser.add_argument("--cells", type=int, help="cells per perturbation")
    parser.add_argument("--control-cells", type=int)
    parser.add_argument("--truth-cells", type=int)
    parser.add_argument("--trainers", nargs="+", choices=GEARS_TRAINERS)
    parser.add_argument("--gears-epochs", type=int, help="epochs of GEARS.train's schedule (cell-gears and cells)")
    parser.add_argument("--budget", type=int, help="the perturbations trainer's epoch budget")
    parser.add_argument("--patience", type=int, help="the perturbations trainer's early stopping")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training run")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.output is None:
        args.output = REPO / "results" / "benchmarks" / f"gears_verdict_simulated{'_quick' if args.quick else ''}.tsv"
    if "simulated" not in args.output.name:
        parser.error("--output: a SIMULATED result's file name must contain 'simulated'")
    return args


def simulation_settings(args, graph_signal: float, mechanism: str):
    """config.SimulationConfig of one screen."""
    from perturb_select.config import SimulationConfig

    return SimulationConfig(
        graph_signal=graph_signal,
        mechanism=mechanism,
        n_genes=args.n_genes,
        cells_per_perturbation=args.cells,
        control_cells=args.control_cells,
        truth_cells=args.truth_cells,
    )


def training_configs(args) -> dict:
    """``(trainer, schedule label) -> TrainingConfig`` of the GEARS runs."""
    from perturb_select.config import GEARS_SCHEDULE, TrainingConfig

    common = {**MODEL, "device": args.device, "threads": args.threads}
    gears = {**GEARS_SCHEDULE, "epochs": args.gears_epochs}
    configs = {}
    if "cell-gears" in args.trainers:
        configs[("cell-gears", f"GEARS.train, {args.gears_epochs} ep")] = TrainingConfig(
            trainer="cell-gears", **gears, **common
        )
    if "perturbations" in args.trainers:
        configs[("perturbations", f"early stopping, patience {args.patience}")] = TrainingConfig(
            trainer="perturbations", epochs=args.budget, patience=args.patience, **PERTURBATIONS_SCHEDULE, **common
        )
    if "cells" in args.trainers:
        configs[("cells", f"GEARS.train schedule, {args.gears_epochs} ep")] = TrainingConfig(
            trainer="cells", **gears, **common
        )
    return configs


def run_gears(config, case, go, train_genes, test_genes, seed: int, work: Path):
    """One GEARS run through ``perturb_select.gears.train`` (the pipeline's entry point), with its in-sample
    predictions. Returns (TrainingResult, curve DataFrame, cpu s, wall s)."""
    from perturb_select.evaluation.verdict import parse_gears_log
    from perturb_select.gears import TrainingData, train

    if config.trainer == "cell-gears":
        data = TrainingData(
            graph=go.graph,
            adata_path=work / f"{case.name}.h5ad",
            gene2go_path=go.gene2go_path,
            work_dir=work / "cell_gears",
        )
    else:
        data = TrainingData(graph=go.graph, screen=case.arrays)
    log = io.StringIO()
    cpu, wall = time.process_time(), time.perf_counter()
    with contextlib.redirect_stderr(log):  # GEARS.train prints its learning curve here
        result = train(data, train_genes, test_genes, seed=seed, config=config, score_train=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    diagnostics = result.predictions.info.get("diagnostics")
    if diagnostics:
        curve = pd.DataFrame({key: diagnostics[key] for key in ("epoch", "train_loss", "val_mse_top20_de", "lr")})
    else:
        curve = parse_gears_log(log.getvalue())
    return result, curve, cpu, wall


def curve_columns(config, curve: pd.DataFrame) -> dict:
    """epochs run, best epoch (lowest validation top-20 DE MSE, the kept model), budget, stopped early."""
    epochs = int(len(curve))
    best = int(curve["epoch"].iloc[int(np.argmin(curve["val_mse_top20_de"].to_numpy()))]) if epochs else 0
    return {
        "epochs": epochs,
        "best_epoch": best,
        "budget_epochs": int(config.epochs),
        "stopped_early": bool(epochs < config.epochs),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    from perturb_select.evaluation.baselines import ORACLE
    from perturb_select.evaluation.mechanism import field_coverage, unreached_weight
    from perturb_select.evaluation.verdict import (
        cached_graph_kernels,
        gears_scores,
        go_inputs,
        reference_scores,
        resolved_candidates,
        simulated_case,
        verdict_rows,
    )
    from perturb_select.experiment.splits import split_test_set
    from perturb_select.gears.common import split_validation
    from perturb_select.screens.layout import condition_gene, condition_of
    from perturb_select.screens.raw import read_screen
    from perturb_select.screens.simulated import fit_control_model
    from perturb_select.selection.registry import select

    configs = training_configs(args)
    hops = MODEL["num_go_gnn_layers"]
    go = go_inputs(args.data / "go", args.cache)
    candidates = resolved_candidates(
        args.data / CANDIDATE_LIST, args.data / "go" / "Homo_sapiens.gene_info.gz", go.graph, n=args.candidates
    )
    reference = read_screen(args.data / REFERENCE, "perturbation")
    is_control = (reference.obs["perturbation"].astype(str) == "non-targeting").to_numpy()
    control = fit_control_model(reference.X[is_control], source=str(args.data / REFERENCE))
    t0 = time.perf_counter()
    kernels = cached_graph_kernels(go.graph, candidates, hops, args.cache)
    print(
        f"SIMULATED screens: {len(candidates)} candidates; GO graph {go.graph.n_nodes} nodes; kernels "
        f"{time.perf_counter() - t0:.0f} s; setup {time.perf_counter() - started:.0f} s",
        flush=True,
    )

    work = args.output.parent / (args.output.stem + "_work")
    work.mkdir(parents=True, exist_ok=True)
    rows, mechanism_rows, curve_rows = [], [], []
    for mechanism in args.mechanisms:
        for graph_signal in args.graph_signals:
            settings = simulation_settings(args, graph_signal, mechanism)
            case = None
            for seed in args.seeds:
                if case is None or args.replicate_screens:
                    t0 = time.perf_counter()
                    case = simulated_case(
                        go.graph,
                        candidates,
                        control,
                        settings,
                        seed=0,
                        hops=hops,
                        replicate=seed if args.replicate_screens else None,
                    )
                    if "cell-gears" in args.trainers:
                        case.adata.write_h5ad(work / f"{case.name}.h5ad")
                    print(
                        f"{case.name}: drawn and processed in {time.perf_counter() - t0:.0f} s {case.seconds}",
                        flush=True,
                    )
                split = split_test_set(case.candidates, test_fraction=args.test_fraction, seed=seed)
                ranking = select("random", go.graph, split["pool"], len(split["pool"]), seed=seed).genes
                test = split["test"]
                for cycle in args.cycles:
                    picks = list(ranking[: cycle * args.perturbations_per_cycle])
                    fitted = [condition_gene(c) for c in split_validation(picks, MODEL["val_fraction"], seed)[0]]
                    keys = {
                        "screen": case.name,
                        "mechanism": case.mechanism,
                        "graph_signal": graph_signal,
                        "cycle": cycle,
                        "seed": seed,
                    }
                    cpu = time.process_time()
                    references = reference_scores(case, kernels, picks, fitted, test)
                    ref_cpu = time.process_time() - cpu
                    errors = {}
                    for model in references["test"]["models"]:
                        scores = {split_: references[split_]["models"][model] for split_ in references}
                        rows += verdict_rows(keys, scores, model=model, cpu_s=round(ref_cpu, 3))
                        errors[(model, "", "")] = scores["test"]["per_perturbation"]
                    for (trainer, schedule), config in configs.items():
                        result, curve, cpu_s, wall_s = run_gears(config, case, go, picks, test, seed, work)
                        info = curve_columns(config, curve)
                        scores = gears_scores(result)
                        rows += verdict_rows(
                            keys,
                            scores,
                            model="gears",
                            trainer=trainer,
                            schedule=schedule,
                            **info,
                            cpu_s=round(cpu_s, 1),
                            wall_s=round(wall_s, 1),
                        )
                        errors[("gears", trainer, schedule)] = scores["test"]["per_perturbation"]
                        for record in curve.to_dict("records"):
                            curve_rows.append({**keys, "trainer": trainer, "schedule": schedule, **record})
                        print(
                            f"  {case.name} seed {seed} cycle {cycle} {trainer}: {info['epochs']} epochs "
                            f"(best {info['best_epoch']}), test {scores['test']['mean']['mse_top20_de']:.4f}, train "
                            f"{scores['train']['mean']['mse_top20_de']:.4f}, {cpu_s:.0f} CPU s",
                            flush=True,
                        )
                    coverage = field_coverage(go.graph, test, picks, hops)
                    unreached = unreached_weight(go.graph, test, picks, hops)
                    for gene, cov, unr in zip(test, coverage, unreached):
                        for (model, trainer, schedule), per in errors.items():
                            mechanism_rows.append(
                                {
                                    **keys,
                                    "perturbation": gene,
                                    "field_coverage": cov,
                                    "unreached_weight": unr,
                                    "model": model,
                                    "trainer": trainer,
                                    "schedule": schedule,
                                    "mse_top20_de": per[condition_of(gene)]["mse_top20_de"],
                                }
                            )
                # every finished seed is on disk: a run stopped early keeps the seeds it finished
                table, mechanism, curves = write_tables(rows, mechanism_rows, curve_rows, args.output)
    table, mechanism, curves = write_tables(rows, mechanism_rows, curve_rows, args.output)
    stem = args.output.with_suffix("")
    figure(table, f"{stem}.png", quick=args.quick)
    shutil.rmtree(work, ignore_errors=True)  # the screens' h5ad files and cell-gears's scratch: ours, made above
    report(table, mechanism, curves, configs, ORACLE)
    print(
        f"\nwrote {args.output}, {stem}_mechanism.tsv, {stem}_curves.tsv, {stem}.png; "
        f"wall {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return 0


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def run_label(row) -> str:
    return row["model"] if row["model"] != "gears" else f"gears/{row['trainer']}"


def _markdown(frame: pd.DataFrame) -> str:
    cells = [[str(v) for v in frame.columns]] + [[_fmt(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in cells[0]) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.4f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per screen, cycle, split and model run: mean top-20 DE MSE over seeds, its difference from train_mean
    (paired per seed), the seeds with a lower MSE than train_mean, and the mean CPU seconds."""
    table = table.assign(run=table.apply(run_label, axis=1))
    base = table[table["model"] == "train_mean"].set_index(["screen", "cycle", "seed", "split"])["mse_top20_de"]
    out = []
    for (screen, cycle, split, run), group in table.groupby(["screen", "cycle", "split", "run"], sort=False):
        ref = base.loc[[(screen, cycle, s, split) for s in group["seed"]]].to_numpy()
        diff = group["mse_top20_de"].to_numpy() - ref
        out.append(
            {
                "screen": screen,
                "cycle": cycle,
                "split": split,
                "model": run,
                "seeds": len(group),
                "mse_top20_de": group["mse_top20_de"].mean(),
                "minus_train_mean": diff.mean(),
                "beats_train_mean": f"{int((diff < 0).sum())}/{len(diff)}",
                "pearson_delta": group["pearson_delta"].mean(),
                "cpu_s": group["cpu_s"].mean(),
            }
        )
    return pd.DataFrame(out)


def report(table, mechanism, curves, configs, oracle: str) -> None:
    from perturb_select.evaluation.mechanism import binned_by_share

    print("\n## SIMULATED screens: top-20 DE MSE, mean over seeds (minus train_mean: paired per seed)\n")
    print(_markdown(summary(table)))
    gears = table[table["model"] == "gears"]
    if len(gears):
        print("\n## GEARS: held-out test against cell-gears's own training (paired over seeds)\n")
        test = gears[gears["split"] == "test"].pivot_table(
            index=["screen", "cycle", "seed"], columns="trainer", values="mse_top20_de"
        )
        if "cell-gears" in test.columns:
            lines = []
            for trainer in [t for t in test.columns if t != "cell-gears"]:
                diff = (test[trainer] - test["cell-gears"]).groupby(level=[0, 1])
                for (screen, cycle), d in diff:
                    lines.append(
                        {
                            "screen": screen,
                            "cycle": cycle,
                            "trainer": trainer,
                            "seeds": len(d),
                            "minus_cell_gears": d.mean(),
                            "lower_in": f"{int((d < 0).sum())}/{len(d)}",
                        }
                    )
            if lines:
                print(_markdown(pd.DataFrame(lines)))
        print("\n## GEARS's learning curves (validation top-20 DE MSE; the kept model is the best epoch)\n")
        lines = []
        for (screen, cycle, seed, trainer), c in curves.groupby(["screen", "cycle", "seed", "trainer"], sort=False):
            v = c["val_mse_top20_de"].to_numpy()
            best = int(np.argmin(v))
            budget = [cfg.epochs for (t, _), cfg in configs.items() if t == trainer][0]
            lines.append(
                {
                    "screen": screen,
                    "cycle": cycle,
                    "seed": seed,
                    "trainer": trainer,
                    "epochs": len(v),
                    "budget": budget,
                    "best_epoch": best + 1,
                    "best_val": v[best],
                    "first_val": v[0],
                    "last_val": v[-1],
                    "val_after_best_min": v[best + 1 :].min() if best + 1 < len(v) else np.nan,
                }
            )
        print(_markdown(pd.DataFrame(lines)))
    print(
        "\n## Error against the mechanism's shares (test perturbations pooled over seeds; model top-20 DE MSE "
        "minus train_mean's on the same perturbation; n per bin)\n"
    )
    keyed = mechanism.assign(run=mechanism.apply(run_label, axis=1))
    for (screen, cycle), group in keyed.groupby(["screen", "cycle"], sort=False):
        wide = group.pivot_table(
            index=["seed", "perturbation", "field_coverage", "unreached_weight"], columns="run", values="mse_top20_de"
        ).reset_index()
        models = [
            c
            for c in wide.columns
            if c
            not in ("seed", "perturbation", "field_coverage", "unreached_weight", "train_mean", "no_change", oracle)
        ]
        errors = {
            "train_mean (its MSE)": wide["train_mean"].to_numpy(),
            **{m: (wide[m] - wide["train_mean"]).to_numpy() for m in models},
        }
        for share in ("field_coverage", "unreached_weight"):
            binned = binned_by_share(wide[share].to_numpy(), errors, share_name=share)
            print(f"\n{screen}, cycle {cycle}, by {share}\n")
            print(_markdown(binned))


def write_tables(rows: list, mechanism_rows: list, curve_rows: list, output: Path):
    """The verdict TSV, its ``_mechanism`` and ``_curves`` tables beside it (each written whole); returns them."""
    from perturb_select.evaluation.verdict import write_verdict_tsv
    from perturb_select.io import write_tsv

    table = write_verdict_tsv(rows, output)
    stem = output.with_suffix("")
    mechanism = pd.DataFrame(mechanism_rows)
    write_tsv(mechanism, f"{stem}_mechanism.tsv", float_format="%.6g")
    curves = pd.DataFrame(curve_rows)
    if len(curves):
        write_tsv(curves, f"{stem}_curves.tsv", float_format="%.6g")
    return table, mechanism, curves


def figure(table: pd.DataFrame, path, quick: bool = False) -> None:
    """Per screen and cycle, each model's top-20 DE MSE minus train_mean's, on the test (filled) and training
    (open) perturbations; one point per seed, seeds joined across models (paired)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = table.assign(run=table.apply(run_label, axis=1))
    base = table[table["model"] == "train_mean"].set_index(["screen", "cycle", "seed", "split"])["mse_top20_de"]
    table = table.assign(
        diff=table["mse_top20_de"].to_numpy()
        - base.loc[list(zip(table["screen"], table["cycle"], table["seed"], table["split"]))].to_numpy()
    )
    panels = list(table.groupby(["screen", "cycle"], sort=False))
    runs = [r for r in table["run"].unique() if r != "train_mean"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.2), squeeze=False, sharey=True)
    for ax, ((screen, cycle), group) in zip(axes[0], panels):
        for split, marker, offset in (("test", "o", -0.15), ("train", "s", 0.15)):
            part = group[group["split"] == split]
            for seed, per_seed in part.groupby("seed"):
                xs = [runs.index(r) + offset for r in per_seed["run"] if r in runs]
                ys = [d for r, d in zip(per_seed["run"], per_seed["diff"]) if r in runs]
                ax.plot(xs, ys, color="0.8", lw=0.6, zorder=1)
            x = [runs.index(r) + offset for r in part["run"] if r in runs]
            y = [d for r, d in zip(part["run"], part["diff"]) if r in runs]
            ax.scatter(
                x,
                y,
                marker=marker,
                s=22,
                zorder=2,
                label=split,
                facecolors="C0" if split == "test" else "none",
                edgecolors="C0" if split == "test" else "C3",
            )
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels(runs, rotation=60, ha="right", fontsize=8)
        ax.set_title(f"{screen}, cycle {cycle}", fontsize=9)
    axes[0][0].set_ylabel("top-20 DE MSE minus train_mean")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        "SIMULATED screens: GEARS and reference models against train_mean"
        + (" (--quick: small screens, one seed)" if quick else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
