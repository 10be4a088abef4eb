"""config/simulated.yaml's DAG, small: a SIMULATED screen drawn on the real GO graph, processed as a raw screen,
selected on, trained on, and reported with the oracle beside the baselines and "SIMULATED" in every title."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from test_workflow import _missing_distributions, _planned_jobs, _rule_envs, _snakemake

DATASET = "simulated_small"


def _simulated_config(workdir: Path, shared_data: Path, **simulation) -> dict:
    """config/simulated.yaml, shrunk: one screen of 40 Replogle candidates, 2 seeds x 2 cycles x 5 picks."""
    config = yaml.safe_load((REPO / "config" / "simulated.yaml").read_text())
    config["go"]["mirror"] = str(shared_data / "go")
    template = config["datasets"]["simulated_gs09"]
    listed = Path(template["candidates"].replace("../shared/data", str(shared_data))).read_text().split()
    candidates = workdir / "candidates.txt"
    candidates.write_text("\n".join(listed[:40]) + "\n")
    settings = {**template["simulation"], "n_genes": 150, "cells_per_perturbation": 20, "control_cells": 100,
                "programmes": 3, "genes_per_programme": 30, "truth_cells": 50, **simulation}
    config["datasets"] = {DATASET: {**template, "candidates": str(candidates),
                                    "reference": str(shared_data / "perturbseq" / "papalexi2021_thp1.h5ad"),
                                    "simulation": settings}}
    config["experiment"].update(seeds=[1, 2], cycles=2, perturbations_per_cycle=5, stability={"inits": 2})
    config["experiment"]["strategies"] = {"random": {}, "graphreach": {}, "typiclust": {}}
    config["gears"]["epochs"] = 1
    return config


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory, shared_data):
    workdir = tmp_path_factory.mktemp("simulated_workflow")
    config = _simulated_config(workdir, shared_data)
    _snakemake(workdir, config, env={"PERTURB_SELECT_TRACE_IMPORTS": str(workdir / "import_trace")})
    return workdir, config


@pytest.mark.slow
def test_simulated_dag_runs_and_reports_the_oracle_labelled_simulated(simulated_run):
    workdir, config = simulated_run
    data = workdir / "results" / "data" / DATASET
    assert (data / "simulated_counts.h5ad").exists() and (data / "simulated_truth.npz").exists()
    candidates = pd.read_csv(data / "candidates.tsv", sep="\t")
    assert 35 <= len(candidates) <= 40  # 40 listed symbols, resolved to graph nodes

    report = workdir / "results" / "report" / DATASET
    metrics = pd.read_csv(report / "metrics.tsv", sep="\t")
    assert sorted(metrics["model"].unique()) == ["gears", "go_kernel_ridge", "no_change", "oracle", "sgc_ridge",
                                                    "train_mean"]
    assert len(metrics) == 3 * 2 * 2 * 6
    # the oracle by hand for one run: the truth file's rows against the processed screen's test means
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.screens.simulated import read_truth

    screen = ScreenArrays.load(data / "screen.npz")
    truth = read_truth(data / "simulated_truth.npz", screen.genes)
    split = json.loads((workdir / "results" / "splits" / DATASET / "seed1.json").read_text())
    mse = []
    for gene in split["test"]:
        condition = f"{gene}+ctrl"
        de = screen.de_idx[screen.condition_index(condition)]
        mse.append(np.mean((truth[condition][de] - screen.mean_expression(condition)[de]) ** 2))
    oracle = metrics[(metrics["model"] == "oracle") & (metrics["strategy"] == "random") & (metrics["seed"] == 1)
                     & (metrics["cycle"] == 1)]
    assert oracle["mse_top20_de"].item() == pytest.approx(np.mean(mse), rel=1e-5)
    # the truth is the floor: below no change in every run, and it does not depend on the picks
    wide = metrics.pivot_table(index=["strategy", "seed", "cycle"], columns="model", values="mse_top20_de")
    assert (wide["oracle"] < wide["no_change"]).all()
    assert (metrics[metrics["model"] == "oracle"].groupby("seed")["mse_top20_de"].nunique() == 1).all()

    models = pd.read_csv(report / "models.tsv", sep="\t")
    # metric x cycle x (3 strategies + all) x learned models (gears, go_kernel_ridge and, where the kernels
    # file holds it, sgc_ridge) x 3 references
    learned = set(models["model"])
    assert {"gears", "go_kernel_ridge"} <= learned <= {"gears", "go_kernel_ridge", "sgc_ridge"}
    assert len(models) == 2 * 2 * 4 * len(learned) * 3
    assert (models["p_holm"] >= models["p"]).all() and models["p_holm"].notna().all()
    assert set(models["reference"]) == {"train_mean", "no_change", "oracle"}
    assert (models[models["strategy"] == "all"]["n_pairs"] == 2).all()
    conclusions = (report / "conclusions.txt").read_text()
    assert conclusions.startswith(f"SIMULATED screen {DATASET} (graph_signal 0.9")
    assert "go_kernel_ridge vs oracle" in conclusions
    for figure in ("mse_top20_de.svg", "models_mse_top20_de.svg", "learning_curves.svg", "stability.svg"):
        assert "SIMULATED screen" in (report / figure).read_text(), figure


@pytest.mark.slow
def test_simulate_dataset_imports_only_what_its_env_holds(simulated_run):
    import importlib.metadata as metadata

    workdir, _ = simulated_run
    modules = {m for t in (workdir / "import_trace" / "simulate_dataset").glob("*.txt") for m in t.read_text().split()}
    assert {"anndata", "numpy", "scipy"} <= modules
    envs = _rule_envs()
    assert envs["simulate_dataset"] == "envs/scanpy.yaml"
    assert _missing_distributions(modules, envs["simulate_dataset"], metadata.packages_distributions()) == []


@pytest.mark.slow
def test_a_simulation_setting_redraws_the_screen_and_reruns_what_follows(simulated_run, shared_data):
    workdir, config = simulated_run
    assert _planned_jobs(_snakemake(workdir, config, "--dry-run")) == {}
    changed = _simulated_config(workdir, shared_data, graph_signal=0.0)
    jobs = _planned_jobs(_snakemake(workdir, changed, "--dry-run"))
    assert jobs["simulate_dataset"] == 1 and jobs["preprocess_dataset"] == 1
    assert "build_go_graph" not in jobs and "fetch_go_annotation" not in jobs
    assert jobs["train_gears"] == 2 * 2 * 2  # random and graphreach, 2 seeds x 2 cycles: the screen changed
