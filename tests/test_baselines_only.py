"""gears.trainer: none: no GEARS job; every run's baselines scored in a job of their own (rule score_baselines,
no torch), on the same picks and split, into the same file; the report from the baselines only; the active
strategies refused before any job."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from perturb_select.config import TrainingConfig
from test_workflow import _config, _missing_distributions, _planned_jobs, _rule_envs, _snakemake

ACTIVE_STRATEGIES = ["uncertainty", "typiclust", "acsfw", "hybrid"]
GENES = [f"G{i:02d}" for i in range(10)]


def _no_gears(config: dict) -> dict:
    config["gears"]["trainer"] = "none"
    for strategy in ACTIVE_STRATEGIES:
        config["experiment"]["strategies"].pop(strategy, None)
    return config


def _tiny_screen(tmp_path: Path):
    """Arrays of a screen of 10 perturbations (4 cells each) and 40 control cells over 30 genes, and the
    graph kernels of a ring over the 10 perturbed genes."""
    from perturb_select.evaluation.baselines import graph_kernels, save_kernels
    from perturb_select.knowledge.graph import KnowledgeGraph
    from perturb_select.screens.arrays import ScreenArrays

    rng = np.random.default_rng(0)
    conditions = np.array(["ctrl"] + [f"{g}+ctrl" for g in GENES])
    cell_condition = np.concatenate([np.zeros(40, dtype=np.int64), np.repeat(np.arange(1, 11), 4)])
    n_genes = 30
    X = sp.csr_matrix(rng.gamma(2.0, 1.0, (len(cell_condition), n_genes)).astype(np.float32))
    de = np.stack([rng.permutation(n_genes)[:20] for _ in conditions]).astype(np.int64)
    arrays = ScreenArrays(
        genes=np.array(GENES + [f"R{j:02d}" for j in range(n_genes - 10)]),
        conditions=conditions,
        cell_condition=cell_condition,
        X=X,
        de_idx=de,
        de_idx_non_dropout=de,
        nz_offsets=np.zeros(len(conditions) + 1, dtype=np.int64),
        nz_indices=np.zeros(0, dtype=np.int64),
    )
    screen = tmp_path / "screen.npz"
    arrays.save(screen)
    rows = [(GENES[i], GENES[(i + 1) % 10], 1.0) for i in range(10)] + [
        (GENES[(i + 1) % 10], GENES[i], 1.0) for i in range(10)
    ]
    graph = KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target", "importance"]))
    kernels = tmp_path / "kernels.npz"
    save_kernels(kernels, graph_kernels(graph, GENES, 1, (1.0, 4.0)))
    return arrays, str(screen), str(kernels)


def test_score_baselines_writes_what_the_training_job_writes(tmp_path):
    """The stage's file is evaluation.baselines.score_baselines on the cycle's picks and the split's test
    perturbations, with the run's keys, exactly as train_gears writes it beside GEARS."""
    from perturb_select.evaluation.baselines import load_kernels
    from perturb_select.evaluation.baselines import score_baselines as score_models
    from perturb_select.io import InputError
    from perturb_select.stages.baselines import score_baselines
    from perturb_select.stages.train import train_gears

    arrays, screen, kernels = _tiny_screen(tmp_path)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": ["G08", "G09"], "pool": GENES[:8]}))
    selection = tmp_path / "ranking.tsv"
    pd.DataFrame(
        {"rank": range(1, 9), "gene": GENES[7::-1], "cycle": [1, 1, 1, 2, 2, 2, 3, 3], "gain": 0.0, "objective": 0.0}
    ).to_csv(selection, sep="\t", index=False)
    common = dict(
        split=str(split),
        selection=str(selection),
        dataset="toy",
        strategy="random",
        perturbations_per_cycle=3,
        screen=screen,
        kernels=kernels,
    )
    out = tmp_path / "cycle2.json"
    score_baselines(baselines_out=str(out), run="4", cycle=2, **common)
    written = json.loads(out.read_text())
    expected = score_models(arrays, load_kernels(kernels), GENES[7:1:-1], ["G08", "G09"], source=kernels)
    assert written == json.loads(
        json.dumps({**expected, "dataset": "toy", "strategy": "random", "seed": 4, "cycle": 2})
    )
    assert written["n_train_perturbations"] == 6
    assert set(written["models"]) == {"no_change", "train_mean", "go_kernel_ridge", "sgc_ridge"}
    # a stability run: its split seed is the record's seed, its label the run
    score_baselines(baselines_out=str(tmp_path / "stability.json"), run="4-9", cycle=1, **common)
    record = json.loads((tmp_path / "stability.json").read_text())
    assert (record["seed"], record["run"], record["n_train_perturbations"]) == (4, "4-9", 3)
    # the training stage does not train a trainer that is none
    with pytest.raises(InputError, match=r"gears\.trainer.*none trains no GEARS: rule score_baselines"):
        train_gears(
            output=str(tmp_path / "p.npz"),
            metrics_out=str(tmp_path / "m.json"),
            baselines_out=str(tmp_path / "b.json"),
            run="4",
            cycle=1,
            gears=TrainingConfig(trainer="none").to_params(),  # as the rule passes it
            edges="absent.npz",
            **common,
        )
    assert not (tmp_path / "b.json").exists()


def test_a_test_gene_missing_from_the_kernels_blames_the_split_file(tmp_path):
    """Issue 27.4: the split (or the ranking) is the file at fault, not the kernels, which cover every candidate."""
    from perturb_select.io import InputError
    from perturb_select.stages.baselines import score_baselines

    _, screen, kernels = _tiny_screen(tmp_path)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": ["G08", "NOTACANDIDATE"], "pool": GENES[:8]}))
    selection = tmp_path / "ranking.tsv"
    pd.DataFrame(
        {"rank": range(1, 9), "gene": GENES[7::-1], "cycle": [1, 1, 1, 2, 2, 2, 3, 3], "gain": 0.0, "objective": 0.0}
    ).to_csv(selection, sep="\t", index=False)
    common = dict(
        selection=str(selection),
        dataset="toy",
        strategy="random",
        perturbations_per_cycle=3,
        screen=screen,
        kernels=kernels,
        run="4",
        cycle=1,
    )
    out = tmp_path / "cycle1.json"
    with pytest.raises(InputError, match="1 genes are not candidates of the dataset") as err:
        score_baselines(split=str(split), baselines_out=str(out), **common)
    assert err.value.source == str(split) and err.value.field == "test" and "NOTACANDIDATE" in str(err.value)
    assert not out.exists()


def _baselines_file(tmp_path: Path, strategy: str, seed: int, cycle: int, values: dict) -> Path:
    from perturb_select.evaluation.report import REPORTED_METRICS

    record = {
        "dataset": "toy",
        "strategy": strategy,
        "seed": seed,
        "cycle": cycle,
        "n_train_perturbations": 3 * cycle,
        "models": {m: {"mean": {k: v for k in REPORTED_METRICS}} for m, v in values.items()},
    }
    path = tmp_path / f"{strategy}_{seed}_{cycle}.json"
    path.write_text(json.dumps(record))
    return path


def test_the_report_of_the_baselines_alone(tmp_path):
    """aggregate_report with no GEARS metrics (gears.trainer: none): every table from the baselines, the
    learned models compared are go_kernel_ridge and sgc_ridge, GEARS's figures and the conclusions say that
    GEARS was not trained, once, and nothing about GEARS results."""
    from perturb_select.stages.report import aggregate_report

    rng = np.random.default_rng(1)
    files = [
        _baselines_file(
            tmp_path,
            strategy,
            seed,
            cycle,
            {
                "no_change": 1.0,
                "train_mean": 0.5,
                "go_kernel_ridge": 0.4 + rng.normal(0, 0.05),
                "sgc_ridge": 0.45 + rng.normal(0, 0.05),
                "oracle": 0.1,
            },
        )
        for strategy in ("random", "graphreach")
        for seed in range(1, 7)
        for cycle in (1, 2)
    ]
    out = tmp_path / "report"
    names = ("metrics", "summary", "comparison", "auc", "conclusions", "learning", "models", "power")
    paths = {name: str(out / f"{name}.tsv") for name in names}
    aggregate_report(
        [],
        files,
        paths["metrics"],
        paths["summary"],
        paths["comparison"],
        paths["auc"],
        paths["conclusions"],
        paths["learning"],
        str(out / "learning.svg"),
        "toy",
        paths["models"],
        paths["power"],
        simulation={"graph_signal": 0.9},
        trainer="none",
        mse_plot=str(out / "mse.svg"),
        models_mse_plot=str(out / "models_mse.svg"),
        vs_random_mse_plot=str(out / "vs_random_mse.svg"),
    )
    tables = {name: pd.read_csv(paths[name], sep="\t") for name in names if name != "conclusions"}
    baselines = ["go_kernel_ridge", "no_change", "oracle", "sgc_ridge", "train_mean"]
    assert sorted(tables["metrics"]["model"].unique()) == baselines and len(tables["metrics"]) == 2 * 6 * 2 * 5
    assert sorted(tables["summary"]["model"].unique()) == baselines and (tables["summary"]["n_seeds"] == 6).all()
    assert sorted(tables["comparison"]["model"].unique()) == baselines
    assert sorted(tables["auc"]["model"].unique()) == baselines
    assert sorted(tables["models"]["model"].unique()) == ["go_kernel_ridge", "sgc_ridge"]
    assert set(tables["models"]["reference"]) == {"train_mean", "no_change", "oracle"}
    assert sorted(tables["power"]["model"].unique()) == ["go_kernel_ridge", "sgc_ridge"]
    assert tables["learning"].empty
    text = Path(paths["conclusions"]).read_text()
    assert text.startswith("SIMULATED screen toy (graph_signal 0.9;")
    assert text.count("GEARS was not trained (gears.trainer: none)") == 1
    assert "GEARS" not in text.replace("GEARS was not trained", "") and "gears" not in text.replace(
        "gears.trainer: none", ""
    )
    assert "go_kernel_ridge, power: with 6 seeds" in text and "sgc_ridge vs oracle" in text
    for figure in ("mse.svg", "learning.svg"):
        assert "GEARS was not trained (gears.trainer: none)" in (out / figure).read_text(), figure
    models_figure = (out / "models_mse.svg").read_text()
    assert "sgc_ridge" in models_figure and ">gears<" not in models_figure
    # the baselines' panels, each strategy minus random; no GEARS panel, no panel for the pick-free models
    vs_random = (out / "vs_random_mse.svg").read_text()
    assert "SIMULATED screen toy" in vs_random and "graphreach" in vs_random
    assert all(f">{m}<" in vs_random for m in ("go_kernel_ridge", "sgc_ridge", "train_mean"))
    assert not any(f">{m}<" in vs_random for m in ("gears", "no_change", "oracle"))


def test_a_config_without_gears_plans_baseline_jobs_and_no_training(tmp_path, shared_data):
    config = _config(shared_data, **{"gears.trainer": "none"})
    result = _snakemake(tmp_path, config, "--dry-run", check=False)
    # the active strategies need GEARS's predictions: refused before any job, naming the strategy and the trainer
    assert result.returncode != 0
    assert (
        "config, field 'experiment.strategies.acsfw': an active strategy selects from GEARS's predictions of "
        "the pool, and gears.trainer: none trains no GEARS: remove experiment.strategies.acsfw, "
        "experiment.strategies.hybrid"
    ) in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()

    jobs = _planned_jobs(_snakemake(tmp_path, _no_gears(config), "--dry-run"))
    runs = len(config["experiment"]["seeds"]) * config["experiment"]["cycles"] * 3  # random, graphreach, maxspec
    assert jobs["score_baselines"] == runs and jobs["aggregate_report"] == 1 and jobs["stability"] == 1
    assert not {"train_gears", "train_gears_active", "select_active"} & set(jobs)
    assert _rule_envs()["score_baselines"] == "envs/numeric.yaml"
    assert not (tmp_path / "results").exists()


def _simulated_no_gears_config(workdir: Path, shared_data: Path) -> dict:
    """A small SIMULATED experiment without GEARS: 40 Replogle candidates drawn on the real GO graph (a screen
    of 150 genes, 20 cells per perturbation), 2 seeds x 2 cycles x 5 picks of random and graphreach, the
    stability analysis with 2 initialisations (config/test.yaml's GO sources)."""
    config = _no_gears(_config(shared_data))
    listed = (shared_data / "genelists" / "replogle2022_k562_essential_1092_genes.txt").read_text().split()
    candidates = workdir / "candidates.txt"
    candidates.write_text("\n".join(listed[:40]) + "\n")
    config["datasets"] = {
        "simulated_small": {
            "format": "simulated",
            "candidates": str(candidates),
            "reference": str(shared_data / "perturbseq" / "papalexi2021_thp1.h5ad"),
            "perturbation_key": "perturbation",
            "control_label": "non-targeting",
            "seed": 0,
            "simulation": {
                "graph_signal": 0.9,
                "n_genes": 150,
                "cells_per_perturbation": 20,
                "control_cells": 100,
                "programmes": 3,
                "genes_per_programme": 30,
                "truth_cells": 50,
            },
        }
    }
    config["experiment"].update(seeds=[1, 2], cycles=2, perturbations_per_cycle=5, stability={"inits": 2})
    config["experiment"]["strategies"] = {"random": {}, "graphreach": {}}
    config.pop("design", None)
    return config


def test_without_gears_each_seed_scores_its_own_replicated_screen_and_truth(tmp_path, shared_data):
    from test_workflow_simulated import _dry_run_jobs

    config = _simulated_no_gears_config(tmp_path, shared_data)
    block = config["datasets"]["simulated_small"]
    config["datasets"]["simulated_small"] = {**block, "simulation": {**block["simulation"], "replicate_screens": True}}
    result = _snakemake(tmp_path, config, "--dry-run")
    jobs = [job for job in _dry_run_jobs(result) if job["rule"] == "score_baselines"]
    assert len(jobs) == 2 * 2 * 2 and "train_gears" not in _planned_jobs(result)
    for job in jobs:
        seed, strategy = job["wildcards"]["run"], job["wildcards"]["strategy"]
        folder = f"results/data/simulated_small/replicate{seed}"
        assert sorted(job["input"]) == [
            "results/baselines/simulated_small/kernels.npz",
            f"{folder}/screen.npz",
            f"{folder}/simulated_truth.npz",
            f"results/select/simulated_small/{strategy}/seed{seed}.tsv",
            f"results/splits/simulated_small/seed{seed}.json",
        ]
        assert job["output"] == [
            f"results/baselines/simulated_small/{strategy}/seed{seed}/cycle{job['wildcards']['cycle']}.json"
        ]


@pytest.mark.slow
def test_a_simulated_run_without_gears_reports_the_baselines_alone(tmp_path, shared_data):
    config = _simulated_no_gears_config(tmp_path, shared_data)
    _snakemake(tmp_path, config, env={"PERTURB_SELECT_TRACE_IMPORTS": str(tmp_path / "import_trace")})
    assert not (tmp_path / "results" / "metrics").exists() and not (tmp_path / "results" / "train").exists()
    report = tmp_path / "results" / "report" / "simulated_small"
    metrics = pd.read_csv(report / "metrics.tsv", sep="\t")
    baselines = ["go_kernel_ridge", "no_change", "oracle", "sgc_ridge", "train_mean"]
    assert sorted(metrics["model"].unique()) == baselines and len(metrics) == 2 * 2 * 2 * 5
    assert list(metrics.groupby("cycle")["n_train_perturbations"].first()) == [5, 10]
    summary = pd.read_csv(report / "summary.tsv", sep="\t")
    assert sorted(summary["model"].unique()) == baselines
    models = pd.read_csv(report / "models.tsv", sep="\t")
    assert set(models["model"]) == {"go_kernel_ridge", "sgc_ridge"}
    assert set(models["reference"]) == {"train_mean", "no_change", "oracle"}
    conclusions = (report / "conclusions.txt").read_text()
    assert conclusions.count("GEARS was not trained (gears.trainer: none)") == 1
    assert "GEARS beats" not in conclusions and "gears," not in conclusions
    assert (report / "stability.tsv").exists()
    # the file the report read is the one train_gears would write: the run's keys, the picks of its ranking
    record = json.loads((tmp_path / "results/baselines/simulated_small/graphreach/seed2/cycle2.json").read_text())
    ranking = pd.read_csv(tmp_path / "results/select/simulated_small/graphreach/seed2.tsv", sep="\t")
    assert (record["dataset"], record["strategy"], record["seed"], record["cycle"]) == (
        "simulated_small",
        "graphreach",
        2,
        2,
    )
    split = json.loads((tmp_path / "results/splits/simulated_small/seed2.json").read_text())
    assert record["n_train_perturbations"] == 10 and set(ranking["gene"][:10]) <= set(split["pool"])
    assert sorted(record["models"]["oracle"]["per_perturbation"]) == sorted(f"{g}+ctrl" for g in split["test"])
    # the new rule imports only its environment's packages, and no torch
    import importlib.metadata as metadata

    modules = {m for t in (tmp_path / "import_trace" / "score_baselines").glob("*.txt") for m in t.read_text().split()}
    assert "numpy" in modules and not modules & {"torch", "torch_geometric", "gears", "scanpy", "anndata"}, modules
    assert _missing_distributions(modules, _rule_envs()["score_baselines"], metadata.packages_distributions()) == []
    assert not (tmp_path / "import_trace" / "train_gears").exists()
