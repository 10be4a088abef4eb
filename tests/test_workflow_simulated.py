"""config/simulated.yaml's DAG, small: a SIMULATED screen drawn on the real GO graph, processed as a raw screen,
selected on, trained on, and reported with the oracle beside the baselines and "SIMULATED" in every title."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, dataset_block
from test_workflow import _missing_distributions, _planned_jobs, _rule_envs, _snakemake

DATASET = "simulated_small"


def _simulated_config(workdir: Path, shared_data: Path, **simulation) -> dict:
    """config/simulated.yaml, shrunk: one screen of 40 Replogle candidates, 2 seeds x 2 cycles x 5 picks."""
    config = yaml.safe_load((REPO / "config" / "simulated.yaml").read_text())
    config["go"]["mirror"] = str(shared_data / "go")
    template = config["datasets"]["simulated_kernel_gs09"]
    listed = Path(template["candidates"].replace("../shared/data", str(shared_data))).read_text().split()
    candidates = workdir / "candidates.txt"
    candidates.write_text("\n".join(listed[:40]) + "\n")
    settings = {
        **template["simulation"],
        "n_genes": 150,
        "cells_per_perturbation": 20,
        "control_cells": 100,
        "programmes": 3,
        "genes_per_programme": 30,
        "truth_cells": 50,
        "replicate_screens": False,
        **simulation,
    }
    config["datasets"] = {
        DATASET: {
            **template,
            "candidates": str(candidates),
            "reference": str(shared_data / "perturbseq" / "papalexi2021_thp1.h5ad"),
            "simulation": settings,
        }
    }
    config["experiment"].update(seeds=[1, 2], cycles=2, perturbations_per_cycle=5, stability={"inits": 2})
    config["experiment"]["strategies"] = {"random": {}, "graphreach": {}, "typiclust": {}}
    config["gears"].update(trainer="perturbations", epochs=1)
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
    assert sorted(metrics["model"].unique()) == [
        "gears",
        "go_kernel_ridge",
        "no_change",
        "oracle",
        "sgc_ridge",
        "train_mean",
    ]
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
    oracle = metrics[
        (metrics["model"] == "oracle")
        & (metrics["strategy"] == "random")
        & (metrics["seed"] == 1)
        & (metrics["cycle"] == 1)
    ]
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
    assert conclusions.startswith(f"SIMULATED screen {DATASET} (mechanism kernel, graph_signal 0.9")
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


# --- replicated screens (simulation.replicate_screens): one screen per experiment seed ------------------------

RING = [f"G{i:02d}" for i in range(12)]


def _tiny_simulated_dataset(tmp_path: Path, replicate_screens: bool = True) -> tuple[dict, dict]:
    """(stage file arguments, dataset block): a ring of 12 genes both ways (npz), its gene_info, a list of 10
    candidates, a reference screen of 30 control cells; a screen of 20 genes, 6 cells per perturbation."""
    import gzip

    import anndata as ad
    import scipy.sparse as sp

    from perturb_select.knowledge.graph import KnowledgeGraph

    rows = [(RING[i], RING[(i + 1) % 12]) for i in range(12)] + [(RING[(i + 1) % 12], RING[i]) for i in range(12)]
    edges = tmp_path / "graph.npz"
    KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target"]).assign(importance=1.0)).write(edges)
    gene_info = tmp_path / "gene_info.gz"
    gene_info.write_bytes(
        gzip.compress(
            (
                "#tax_id\tGeneID\tSymbol\tLocusTag\tSynonyms\tdbXrefs\n"
                + "".join(f"9606\t{i + 1}\t{g}\t-\t-\t-\n" for i, g in enumerate(RING))
            ).encode()
        )
    )
    candidates = tmp_path / "candidates.txt"
    candidates.write_text("\n".join(RING[:10]) + "\n")
    counts = np.random.default_rng(0).poisson(5.0, (30, 25)).astype(np.float32)
    reference = tmp_path / "reference.h5ad"
    ad.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame({"perturbation": ["non-targeting"] * 30}, index=[f"c{i}" for i in range(30)]),
        var=pd.DataFrame(index=[f"R{j}" for j in range(25)]),
    ).write_h5ad(reference)
    block = {
        "format": "simulated",
        "candidates": str(candidates),
        "reference": str(reference),
        "seed": 3,
        "simulation": {
            "n_genes": 20,
            "cells_per_perturbation": 6,
            "control_cells": 12,
            "programmes": 2,
            "genes_per_programme": 5,
            "truth_cells": 5,
            "replicate_screens": replicate_screens,
        },
    }
    files = {
        "edges": str(edges),
        "gene_info": str(gene_info),
        "candidates": str(candidates),
        "reference": str(reference),
    }
    return files, block


def _simulate(files: dict, block: dict, folder: Path, replicate=None) -> tuple[Path, Path]:
    from perturb_select.stages.data import simulate_dataset

    folder.mkdir(parents=True, exist_ok=True)
    screen, truth = folder / "simulated_counts.h5ad", folder / "simulated_truth.npz"
    simulate_dataset(
        **files,
        screen_out=str(screen),
        truth_out=str(truth),
        dataset=dataset_block("simulated_tiny", block),
        taxid=9606,
        hops=1,
        replicate=replicate,
    )
    return screen, truth


def test_a_replicate_is_the_same_bytes_twice_and_replicates_are_different_screens(tmp_path):
    import anndata as ad

    from perturb_select.config import DatasetConfig
    from perturb_select.knowledge.graph import KnowledgeGraph
    from perturb_select.screens.simulated import fit_control_model, simulate_screen

    files, block = _tiny_simulated_dataset(tmp_path)
    first = _simulate(files, block, tmp_path / "replicate1", replicate="1")  # the {seed} wildcard, a string
    again = _simulate(files, block, tmp_path / "again" / "replicate1", replicate=1)
    other = _simulate(files, block, tmp_path / "replicate2", replicate=2)
    assert first[0].read_bytes() == again[0].read_bytes()
    assert first[1].read_bytes() == again[1].read_bytes()  # containers carry a fixed zip time
    one, two = ad.read_h5ad(first[0]), ad.read_h5ad(other[0])
    assert list(one.obs["perturbation"]) == list(two.obs["perturbation"])  # the same candidates and cells
    assert (one.X != two.X).nnz > 0
    effects = [np.load(t)["effects"] for t in (first[1], other[1])]
    assert not np.allclose(*effects)
    assert json.loads(one.uns["simulated"])["replicate"] == 1
    assert json.loads(np.load(other[1])["info"].item())["replicate"] == 2

    # a dataset without replicate_screens: its one screen, simulate_screen's without a replicate, as before
    single_block = {**block, "simulation": {**block["simulation"], "replicate_screens": False}}
    single = _simulate(files, single_block, tmp_path / "single")
    config = DatasetConfig.from_config("simulated_tiny", single_block)
    reference = ad.read_h5ad(files["reference"])
    expected = simulate_screen(
        KnowledgeGraph.read(files["edges"]), RING[:10], fit_control_model(reference.X), config.simulation, seed=3
    )
    drawn = ad.read_h5ad(single[0])
    assert (drawn.X != expected.counts).nnz == 0
    np.testing.assert_array_equal(np.load(single[1])["effects"], expected.effects)
    assert "replicate" not in json.loads(drawn.uns["simulated"])
    assert not np.array_equal(np.load(single[1])["effects"], effects[0])


def test_every_replicate_keeps_the_dataset_candidates_or_its_processing_fails(tmp_path):
    from perturb_select.io import InputError
    from perturb_select.stages.data import preprocess_dataset, simulated_candidates

    files, block = _tiny_simulated_dataset(tmp_path)
    table = tmp_path / "candidates.tsv"
    simulated_candidates(
        candidates=files["candidates"],
        edges=files["edges"],
        gene_info=files["gene_info"],
        candidates_out=str(table),
        dataset=dataset_block("simulated_tiny", block),
        taxid=9606,
    )
    written = pd.read_csv(table, sep="\t")
    assert list(written["gene"]) == RING[:10] and (written["n_cells"] == 6).all()
    for seed in (1, 2):
        screen, _ = _simulate(files, block, tmp_path / f"replicate{seed}", replicate=seed)
        out = tmp_path / f"replicate{seed}"
        preprocess_dataset(
            screen=str(screen),
            edges=files["edges"],
            gene_info=files["gene_info"],
            adata_out=str(out / "perturb_processed.h5ad"),
            arrays_out=str(out / "screen.npz"),
            candidates_out=str(out / "candidates.tsv"),
            dropped_out=str(out / "dropped.tsv"),
            dataset=dataset_block("simulated_tiny", block),
            taxid=9606,
            dataset_candidates=str(table),
        )
        # the dataset's table is the one each replicate's processing writes
        pd.testing.assert_frame_equal(pd.read_csv(out / "candidates.tsv", sep="\t"), written)

    # a replicate that lost a candidate (here: the dataset's table names one more) is refused
    written.iloc[[0]].assign(gene="G11", perturbation="G11", condition="G11+ctrl").pipe(
        lambda extra: pd.concat([written, extra])
    ).to_csv(table, sep="\t", index=False)
    with pytest.raises(InputError, match=r"differ from the dataset's .* 1 lost \(e.g. G11: not in the screen\)"):
        preprocess_dataset(
            screen=str(screen),
            edges=files["edges"],
            gene_info=files["gene_info"],
            adata_out=str(out / "x.h5ad"),
            arrays_out=str(out / "x.npz"),
            candidates_out=str(out / "x.tsv"),
            dropped_out=str(out / "y.tsv"),
            dataset=dataset_block("simulated_tiny", block),
            taxid=9606,
            dataset_candidates=str(table),
        )
    assert not (out / "x.h5ad").exists()


def _dry_run_jobs(result) -> list[dict]:
    """The jobs a dry run prints: [{'rule', 'input', 'output', 'wildcards'}], files as lists, wildcards a dict."""
    jobs = []
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            jobs.append({"rule": line.split()[1].rstrip(":"), "input": [], "output": [], "wildcards": {}})
        elif jobs and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            if key in ("input", "output"):
                jobs[-1][key] = value.split(", ")
            elif key == "wildcards":
                jobs[-1][key] = dict(item.split("=", 1) for item in value.split(", "))
    return jobs


def test_a_replicated_dataset_plans_one_screen_per_seed_read_by_that_seed_only(tmp_path, shared_data):
    config = _simulated_config(tmp_path, shared_data)
    block = config["datasets"][DATASET]
    replicated = "simulated_replicated"
    config["datasets"][replicated] = {**block, "simulation": {**block["simulation"], "replicate_screens": True}}
    result = _snakemake(tmp_path, config, "--dry-run")
    counts = _planned_jobs(result)
    # seeds 1 and 2: a screen each, processed each; the candidates once
    assert counts["simulate_replicate"] == 2 and counts["preprocess_replicate"] == 2
    assert counts["simulated_candidates"] == 1
    # the unreplicated dataset: one screen, as before
    assert counts["simulate_dataset"] == 1 and counts["preprocess_dataset"] == 1
    # what depends on the candidates only is not multiplied: a split per seed, kernels once per dataset
    assert counts["split_test_set"] == 2 * 2 and counts["graph_kernel"] == 2

    jobs = _dry_run_jobs(result)
    data = f"results/data/{replicated}"
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
    assert sorted(j["output"][0] for j in by_rule["simulate_replicate"]) == [
        f"{data}/replicate{s}/simulated_counts.h5ad" for s in (1, 2)
    ]
    assert by_rule["simulate_dataset"][0]["output"][0] == f"results/data/{DATASET}/simulated_counts.h5ad"
    assert all(f"{data}/candidates.tsv" in j["input"] for j in by_rule["preprocess_replicate"])
    assert [j["output"] for j in by_rule["simulated_candidates"]] == [[f"{data}/candidates.tsv"]]
    splits = [j for j in by_rule["split_test_set"] if j["wildcards"]["dataset"] == replicated]
    assert all(j["input"] == [f"{data}/candidates.tsv"] for j in splits)

    runs = set()
    for job in by_rule["train_gears"] + by_rule["train_gears_active"]:
        dataset, run = job["wildcards"]["dataset"], job["wildcards"]["run"]
        screens = [f for f in job["input"] if f.startswith("results/data/")]
        if dataset == replicated:
            folder = f"{data}/replicate{run.split('-')[0]}"  # a stability run reads its split's replicate
            assert sorted(screens) == [f"{folder}/screen.npz", f"{folder}/simulated_truth.npz"], job
            runs.add(run)
        else:
            assert sorted(screens) == [
                f"results/data/{DATASET}/screen.npz",
                f"results/data/{DATASET}/simulated_truth.npz",
            ], job
    assert runs == {"1", "2", "1-2"}


@pytest.mark.slow
def test_each_seed_trains_and_scores_on_its_own_replicate(simulated_run):
    from perturb_select.evaluation.conclusions import simulated_statement
    from perturb_select.screens.arrays import ScreenArrays
    from perturb_select.screens.simulated import read_truth

    workdir, config = simulated_run  # its GO graph; the replicated dataset is added beside simulated_small
    replicated = "simulated_replicated"
    block = config["datasets"][DATASET]
    config = {
        **config,
        "datasets": {
            **config["datasets"],
            replicated: {**block, "simulation": {**block["simulation"], "replicate_screens": True}},
        },
    }
    targets = [f"results/baselines/{replicated}/random/seed{s}/cycle1.json" for s in (1, 2)]
    _snakemake(workdir, config, *targets, env={"PERTURB_SELECT_TRACE_IMPORTS": str(workdir / "import_trace")})
    data = workdir / "results" / "data" / replicated
    candidates = (data / "candidates.tsv").read_text()
    assert all((data / f"replicate{s}" / "candidates.tsv").read_text() == candidates for s in (1, 2))
    screens = {s: ScreenArrays.load(data / f"replicate{s}" / "screen.npz") for s in (1, 2)}
    truths = {s: read_truth(data / f"replicate{s}" / "simulated_truth.npz", screens[s].genes) for s in (1, 2)}
    for seed in (1, 2):
        split = json.loads((workdir / "results" / "splits" / replicated / f"seed{seed}.json").read_text())
        scored = json.loads((workdir / targets[seed - 1]).read_text())["models"]["oracle"]["per_perturbation"]
        for gene in split["test"]:
            condition = f"{gene}+ctrl"
            screen = screens[seed]
            de = screen.de_idx[screen.condition_index(condition)]
            own = np.mean((truths[seed][condition][de] - screen.mean_expression(condition)[de]) ** 2)
            assert scored[condition]["mse_top20_de"] == pytest.approx(own, rel=1e-5)
    # two screens: each draws its readout genes beyond the candidates, and its truth
    shared = sorted(set(screens[1].genes) & set(screens[2].genes))
    first, second = (read_truth(data / f"replicate{s}" / "simulated_truth.npz", shared) for s in (1, 2))
    assert not np.allclose(first["ctrl"], second["ctrl"])
    assert "Every seed drew its own screen" in simulated_statement({"replicate_screens": True}, replicated)
    assert "own screen" not in simulated_statement({"replicate_screens": False}, DATASET)

    # the new rules import only what their environment holds
    import importlib.metadata as metadata

    envs, owners = _rule_envs(), metadata.packages_distributions()
    for rule in ("simulated_candidates", "simulate_replicate", "preprocess_replicate"):
        modules = {m for t in (workdir / "import_trace" / rule).glob("*.txt") for m in t.read_text().split()}
        assert "numpy" in modules and envs[rule] == "envs/scanpy.yaml", rule
        assert _missing_distributions(modules, envs[rule], owners) == [], rule


def test_a_candidate_list_where_nothing_resolves_names_its_file(tmp_path):
    from perturb_select.io import InputError
    from perturb_select.stages.data import simulated_candidates

    files, block = _tiny_simulated_dataset(tmp_path)
    Path(files["candidates"]).write_text("NOTAGENE1\nNOTAGENE2\nG00\n")
    for stage in (
        lambda: _simulate(files, block, tmp_path / "screen"),
        lambda: simulated_candidates(
            candidates=files["candidates"],
            edges=files["edges"],
            gene_info=files["gene_info"],
            candidates_out=str(tmp_path / "c.tsv"),
            dataset=dataset_block("simulated_tiny", block),
            taxid=9606,
        ),
    ):
        with pytest.raises(InputError, match="only 1 of its 3 symbols are GO-graph nodes") as err:
            stage()
        assert err.value.source == files["candidates"] and "NOTAGENE1" in str(err.value)
    assert not (tmp_path / "screen").exists() or not list((tmp_path / "screen").iterdir())
    assert not (tmp_path / "c.tsv").exists()
