"""The Snakemake workflow end to end on the real data (config/test.yaml), and how it reacts to changes.

Runs in a temporary working directory, with the config's relative paths to ../shared/data rewritten to
absolute ones, so the repository's own results/ is never touched.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ONE_SHOT_STRATEGIES = ["random", "graphreach", "maxspec"]
ACTIVE_STRATEGIES = ["uncertainty", "typiclust", "acsfw", "hybrid"]


def _config(shared_data: Path, **changes) -> dict:
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["go"]["mirror"] = str(shared_data / "go")
    for dataset in config["datasets"].values():
        dataset["mirror"] = str(shared_data / "perturbseq")
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return config


def _snakemake(
    workdir: Path, config: dict, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = SNAKEMAKE + [
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_path),
        "--cores",
        "2",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def _planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line)
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    counts.pop("total", None)
    return counts


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, shared_data):
    workdir = tmp_path_factory.mktemp("workflow")
    config = _config(shared_data)
    # every job lists the modules it imported (test_conda_envs_hold_what_each_rule_imports)
    _snakemake(workdir, config, env={"PERTURB_SELECT_TRACE_IMPORTS": str(workdir / "import_trace")})
    return workdir, config


@pytest.mark.slow
def test_pipeline_runs_end_to_end_on_real_data(pipeline_run):
    workdir, config = pipeline_run
    strategies = sorted(config["experiment"]["strategies"])
    seeds, cycles, batch = (
        config["experiment"]["seeds"],
        config["experiment"]["cycles"],
        config["experiment"]["perturbations_per_cycle"],
    )

    stats = json.loads((workdir / "results/graph/go_jaccard.stats.json").read_text())
    assert 20_000 < stats["nodes"] < 20_728

    candidates = pd.read_csv(workdir / "results/data/papalexi2021/candidates.tsv", sep="\t")
    assert len(candidates) == 25
    assert candidates.set_index("perturbation").loc["MARCH8", "gene"] == "MARCHF8"

    for seed in seeds:
        split = json.loads((workdir / f"results/splits/papalexi2021/seed{seed}.json").read_text())
        assert len(split["test"]) == 2 and len(split["pool"]) == 23
        assert not set(split["test"]) & set(split["pool"])
        for strategy in ONE_SHOT_STRATEGIES:
            # a one-shot ranking of the whole pool; cycle c trains on the first c x batch
            picks = pd.read_csv(workdir / f"results/select/papalexi2021/{strategy}/seed{seed}.tsv", sep="\t")
            assert list(picks["rank"]) == list(range(1, 24))
            assert sorted(picks["gene"]) == sorted(split["pool"])
            assert list(picks["cycle"]) == [1 + i // batch for i in range(23)]
        random_first = pd.read_csv(workdir / f"results/select/papalexi2021/random/seed{seed}.tsv", sep="\t")
        for strategy in ACTIVE_STRATEGIES:
            run = workdir / f"results/select/papalexi2021/{strategy}/seed{seed}"
            batches = [pd.read_csv(run / f"cycle{c}.tsv", sep="\t") for c in range(1, cycles + 1)]
            genes = [g for b in batches for g in b["gene"]]
            assert len(set(genes)) == cycles * batch and set(genes) <= set(split["pool"])
            for c, b in enumerate(batches, start=1):
                assert b.columns.tolist() == ["rank", "gene", "cycle", "method", "score"]
                assert b["cycle"].tolist() == [c] * batch and b["rank"].tolist() == list(range(1, batch + 1))
            # cycle 1: random's first batch of the same seed (hybrid: GraphReach's); then the model's method
            expected_first = "graphreach" if strategy == "hybrid" else "random"
            assert batches[0]["method"].tolist() == [expected_first] * batch
            if strategy != "hybrid":
                assert batches[0]["gene"].tolist() == random_first["gene"].tolist()[:batch]
            method = "typiclust" if strategy == "hybrid" else strategy
            assert batches[1]["method"].tolist() == [method] * batch
            if method == "uncertainty":
                assert (batches[1]["score"] > 0).all()
            if method == "typiclust":  # typicality; 0 for the lone member of a cluster
                assert (batches[1]["score"] >= 0).all() and (batches[1]["score"] > 0).any()
            pool = np.load(workdir / f"results/train/papalexi2021/{strategy}/seed{seed}/cycle1/pool_scores.npz")
            assert pool["labelled"].sum() == batch and len(pool["genes"]) == 23
            assert pool["features"].shape == (23, 299) and np.isfinite(pool["features"]).all()
            assert np.isfinite(pool["uncertainty"]).all() == (strategy == "uncertainty")
            if strategy == "uncertainty":  # the batch is the least certain of the pool left
                left = ~pool["labelled"]
                least = np.sort(pool["uncertainty"][left])[:batch]
                np.testing.assert_allclose(np.sort(batches[1]["score"]), least)

    summary = pd.read_csv(workdir / "results/report/papalexi2021/summary.tsv", sep="\t")
    assert sorted(summary["strategy"].unique()) == strategies
    models = ["gears", "go_kernel_ridge", "no_change", "sgc_ridge", "train_mean"]
    assert sorted(summary["model"].unique()) == models
    assert len(summary) == len(strategies) * cycles * len(models)
    assert (summary["n_seeds"] == len(seeds)).all()
    assert summary["mse_top20_de_mean"].between(0, 100).all()
    assert summary["pearson_mean"].between(-1, 1).all()

    metrics = pd.read_csv(workdir / "results/report/papalexi2021/metrics.tsv", sep="\t")
    assert len(metrics) == len(strategies) * len(seeds) * cycles * len(models)
    gears = metrics[metrics["model"] == "gears"]
    assert list(gears.groupby("cycle")["n_train_perturbations"].first()) == [batch * c for c in range(1, cycles + 1)]
    # the baselines train on every pick of the cycle; no change is the same for every strategy of a seed
    baselines = metrics[metrics["model"] != "gears"]
    assert list(baselines.groupby("cycle")["n_train_perturbations"].first()) == [
        batch * c for c in range(1, cycles + 1)
    ]
    no_change = metrics[metrics["model"] == "no_change"]
    assert (no_change.groupby("seed")["mse_top20_de"].nunique() == 1).all()
    assert metrics[["mse_top20_de", "pearson_delta"]].notna().all().all()
    # the training mean by hand, from the screen arrays, for one run
    from perturb_select.screens.arrays import ScreenArrays

    screen = ScreenArrays.load(workdir / "results/data/papalexi2021/screen.npz")
    split = json.loads((workdir / f"results/splits/papalexi2021/seed{seeds[0]}.json").read_text())
    ranking = pd.read_csv(workdir / f"results/select/papalexi2021/graphreach/seed{seeds[0]}.tsv", sep="\t")
    train_mean = np.mean([screen.mean_expression(f"{g}+ctrl") for g in ranking["gene"][:batch]], axis=0)
    ctrl = screen.mean_expression("ctrl")
    mse = []
    for gene in split["test"]:
        de = screen.de_idx[screen.condition_index(f"{gene}+ctrl")]
        mse.append(np.mean((train_mean[de] - screen.mean_expression(f"{gene}+ctrl")[de]) ** 2))
    row = metrics[
        (metrics["strategy"] == "graphreach")
        & (metrics["seed"] == seeds[0])
        & (metrics["cycle"] == 1)
        & (metrics["model"] == "train_mean")
    ]
    assert row["mse_top20_de"].item() == pytest.approx(np.mean(mse), rel=1e-5)
    assert ctrl.shape == train_mean.shape
    comparison = pd.read_csv(workdir / "results/report/papalexi2021/comparison.tsv", sep="\t")
    assert len(comparison) == 2 * len(strategies) * len(models)
    assert comparison[["mean", "diff_to_random_mean", "p_vs_random"]].notna().all().all()
    assert (comparison[comparison["strategy"] == "random"]["diff_to_random_mean"] == 0).all()
    # Holm within each model's strategies (random vs random is no comparison), bootstrap interval around the mean
    compared = comparison[comparison["strategy"] != "random"]
    assert compared["p_holm"].notna().all() and (compared["p_holm"] >= compared["p_vs_random"]).all()
    assert comparison[comparison["strategy"] == "random"]["p_holm"].isna().all()
    assert (compared["diff_to_random_ci_low"] <= compared["diff_to_random_mean"] + 1e-12).all()
    assert (compared["diff_to_random_mean"] <= compared["diff_to_random_ci_high"] + 1e-12).all()
    power = pd.read_csv(workdir / "results/report/papalexi2021/power.tsv", sep="\t")
    assert "gears" in set(power["model"]) and (power["n_seeds"] == len(seeds)).all()
    assert power["wilcoxon_floor"].tolist() == pytest.approx([2 / 2 ** len(seeds)] * len(power))
    auc = pd.read_csv(workdir / "results/report/papalexi2021/auc.tsv", sep="\t")
    assert len(auc) == 2 * len(strategies) * len(models) and auc["auc_mean"].notna().all()
    conclusions = (workdir / "results/report/papalexi2021/conclusions.txt").read_text()
    assert "cannot show a difference" in conclusions and "GEARS beats the training mean in" in conclusions
    assert "p_holm" in conclusions and "gears, power: with" in conclusions
    for metric in ("mse_top20_de", "pearson_delta"):
        assert "go_kernel_ridge" in (workdir / f"results/report/papalexi2021/models_{metric}.svg").read_text()

    # GEARS's scratch is removed once predictions are written.
    assert not list((workdir / "results/train").rglob("gears_work"))

    # the perturbations trainer's learning curves, next to the validation baselines, one row per run and epoch
    curves = pd.read_csv(workdir / "results/report/papalexi2021/learning_curves.tsv", sep="\t")
    epochs = config["gears"]["epochs"]
    assert len(curves) == len(strategies) * len(seeds) * cycles * epochs
    assert curves[["train_loss", "val_mse_top20_de", "val_no_change", "val_train_mean"]].notna().all().all()
    assert (curves["val_no_change"] > 0).all() and (curves["val_train_mean"] > 0).all()
    assert (workdir / "results/report/papalexi2021/learning_curves.svg").read_text().startswith("<?xml")
    # the stability analysis: 2 initialisations of the first seed's split
    stability = pd.read_csv(workdir / "results/report/papalexi2021/stability.tsv", sep="\t")
    assert len(stability) == len(strategies) * cycles and (stability["runs"] == 2).all()
    one_shot = stability[stability["strategy"].isin(["graphreach", "maxspec"])]
    assert (one_shot["distinct_across_runs"] == one_shot["picks_per_run"]).all()
    assert (one_shot["mean_pairwise_jaccard"] == 1).all()
    assert (stability["distinct_across_runs"] >= stability["picks_per_run"]).all()
    assert (stability["distinct_across_runs"] <= 2 * stability["picks_per_run"]).all()
    random_runs = stability[stability["strategy"] == "random"]
    assert (random_runs["mean_pairwise_jaccard"] < 1).any()  # another seed, another permutation
    assert "initialisations on one split" in (workdir / "results/report/papalexi2021/stability.svg").read_text()
    record = json.loads((workdir / f"results/metrics/papalexi2021/random/seed{seeds[0]}/cycle1.json").read_text())
    assert record["trainer"] == "perturbations" and record["diagnostics"]["epoch"] == list(range(1, epochs + 1))
    assert (workdir / "results/graph/go_jaccard.npz").exists() and (
        workdir / "results/data/papalexi2021/screen.npz"
    ).exists()


@pytest.mark.slow
def test_report_html_is_built(pipeline_run):
    workdir, config = pipeline_run
    import zipfile

    _snakemake(workdir, config, "--report", "results/report.zip")  # what `make report` writes
    report = workdir / "results" / "report.zip"
    with zipfile.ZipFile(report) as bundle:
        names = bundle.namelist()
        html = bundle.read("report/report.html").decode(errors="replace")
    # the results are files beside report.html, linked from it, not embedded in it
    assert any(n.endswith("/summary.tsv") for n in names) and any(n.endswith("/mse_top20_de.svg") for n in names)
    assert "summary.tsv" in html and "mse_top20_de.svg" in html
    # the 409,214-edge table stays out (its caption names its path); the report stays small
    assert not any("go_jaccard.tsv" in n for n in names) and any(n.endswith("/go_jaccard.stats.json") for n in names)
    assert "results/graph/go_jaccard.tsv" in html
    assert report.stat().st_size < 3_000_000


@pytest.mark.slow
def test_nothing_reruns_and_a_selector_change_reruns_only_that_selector(pipeline_run):
    workdir, config = pipeline_run
    assert _planned_jobs(_snakemake(workdir, config, "--dry-run")) == {}

    n_seeds, n_cycles = len(config["experiment"]["seeds"]), config["experiment"]["cycles"]
    n_inits = config["experiment"]["stability"]["inits"]
    one_selector = {
        "select": n_seeds + n_inits - 1,  # the first initialisation is the main run of the split's seed
        "train_gears": n_seeds * n_cycles,
        "aggregate_report": 1,
        "stability": 1,
        "all": 1,
    }
    root = Path(config["go"]["mirror"]).parent
    # MaxSpec's direction and operator, GraphReach's tie rule (issue 25): each reruns that selector's jobs only
    # (lookahead is the default tie rule since issue 25, so the change is to symbol)
    for key, block in (
        ("experiment.strategies.maxspec", {"direction": "minimize"}),
        ("experiment.strategies.maxspec", {"direction": "maximize", "operator": "induced"}),
        ("experiment.strategies.graphreach", {"tie_break": "symbol"}),
    ):
        changed = _config(root, **{key: block})
        assert _planned_jobs(_snakemake(workdir, changed, "--dry-run")) == one_selector, block


def _reversed_keys(node):
    if isinstance(node, dict):
        return {key: _reversed_keys(node[key]) for key in reversed(list(node))}
    return [_reversed_keys(item) for item in node] if isinstance(node, list) else node


@pytest.mark.slow
def test_the_same_config_with_its_keys_in_another_order_reruns_nothing(pipeline_run):
    """Issue 27.2: rule params are compared as text; with every block's keys reversed the graph, the screen
    and every training job were planned again ("Params have changed since last execution")."""
    workdir, config = pipeline_run
    reordered = _reversed_keys(config)
    assert list(reordered["gears"]) == list(reversed(list(config["gears"])))
    assert _planned_jobs(_snakemake(workdir, reordered, "--dry-run")) == {}


@pytest.mark.slow
def test_an_active_strategy_change_reruns_only_that_strategy(pipeline_run):
    workdir, config = pipeline_run
    changed = _config(Path(config["go"]["mirror"]).parent, **{"experiment.strategies.typiclust": {"neighbours": 5}})
    jobs = _planned_jobs(_snakemake(workdir, changed, "--dry-run"))
    n_seeds, n_cycles = len(config["experiment"]["seeds"]), config["experiment"]["cycles"]
    n_extra = config["experiment"]["stability"]["inits"] - 1
    assert jobs == {
        "select_active": (n_seeds + n_extra) * n_cycles,
        # stability runs train only the cycles whose model picks a later batch
        "train_gears_active": n_seeds * n_cycles + n_extra * (n_cycles - 1),
        "aggregate_report": 1,
        "stability": 1,
        "all": 1,
    }


@pytest.mark.slow
def test_adding_a_cycle_or_a_seed_runs_only_new_jobs(pipeline_run):
    workdir, config = pipeline_run
    n_seeds, n_cycles = len(config["experiment"]["seeds"]), config["experiment"]["cycles"]
    n_extra = config["experiment"]["stability"]["inits"] - 1
    n_one_shot, n_active = len(ONE_SHOT_STRATEGIES), len(ACTIVE_STRATEGIES)
    more_cycles = _config(Path(config["go"]["mirror"]).parent, **{"experiment.cycles": n_cycles + 1})
    jobs = _planned_jobs(_snakemake(workdir, more_cycles, "--dry-run"))
    assert jobs == {
        "select_active": n_active * (n_seeds + n_extra),  # the new cycle's batch of every active run
        "train_gears": n_one_shot * n_seeds,
        "train_gears_active": n_active * (n_seeds + n_extra),  # the new cycle, and the stability runs' last
        "aggregate_report": 1,
        "stability": 1,
        "all": 1,
    }
    more_seeds = _config(
        Path(config["go"]["mirror"]).parent, **{"experiment.seeds": config["experiment"]["seeds"] + [9]}
    )
    jobs = _planned_jobs(_snakemake(workdir, more_seeds, "--dry-run"))
    assert jobs == {
        "split_test_set": 1,
        "select": n_one_shot,
        "select_active": n_active * n_cycles,
        "train_gears": n_one_shot * n_cycles,
        "train_gears_active": n_active * n_cycles,
        "aggregate_report": 1,
        "all": 1,
    }


@pytest.mark.slow
def test_switching_the_trainer_reruns_only_training_and_what_follows(pipeline_run):
    workdir, config = pipeline_run
    changed = _config(
        Path(config["go"]["mirror"]).parent, **{"gears.trainer": "cell-gears", "gears.lr": 1e-3, "gears.lr_decay": 0.5}
    )
    result = _snakemake(workdir, changed, "--dry-run", check=False)
    # active strategies need a trainer that scores the pool: refused before any job
    assert result.returncode != 0
    assert "config, field 'gears.trainer': the active strategies" in result.stdout + result.stderr
    for strategy in ACTIVE_STRATEGIES:
        del changed["experiment"]["strategies"][strategy]
    jobs = _planned_jobs(_snakemake(workdir, changed, "--dry-run"))
    n_runs = len(config["experiment"]["seeds"]) * config["experiment"]["cycles"] * len(ONE_SHOT_STRATEGIES)
    # the report and the stability figure now cover fewer strategies
    assert jobs == {"train_gears": n_runs, "aggregate_report": 1, "stability": 1, "all": 1}


def test_config_violating_the_schema_fails_before_any_job(tmp_path, shared_data):
    config = _config(shared_data, **{"experiment.cycles": 0})
    result = _snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "cycles" in output and "minimum" in output
    assert not (tmp_path / "results").exists()


def test_a_plan_larger_than_the_screen_fails_before_any_job(tmp_path, shared_data):
    # it failed at split_test_set, after the graph and preprocessing jobs (issue 20 finding 10)
    config = _config(shared_data, **{"experiment.cycles": 2, "experiment.perturbations_per_cycle": 12})
    result = _snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "2 cycles x 12 perturbations per cycle = 24, but" in output and "23 left to pick from" in output
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_the_config_passed_is_the_experiment_not_merged_into_the_default(tmp_path, shared_data):
    # config/config.yaml (the workflow profile's default) lists 7 strategies and 6 seeds; the file passed lists
    # one each
    config = _config(shared_data)
    config["experiment"]["strategies"] = {"graphreach": {}}
    config["experiment"]["seeds"] = [7]
    jobs = _planned_jobs(_snakemake(tmp_path, config, "--dry-run"))
    cycles = config["experiment"]["cycles"]
    # one split; the main run's ranking and the stability analysis's second initialisation (seed 7-8)
    assert (jobs["split_test_set"], jobs["select"], jobs["train_gears"]) == (1, 2, cycles)
    assert not (tmp_path / "results").exists()


def test_without_a_configfile_the_default_experiment_runs_and_config_edits_it(tmp_path):
    """profiles/default names config/config.yaml: a plain run in the repository plans the main job, and
    ``--config key=value`` edits that file's experiment (public Snakemake: a workflow profile's options are
    defaults that the command line overrides)."""
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base = SNAKEMAKE + ["--dry-run", "--cores", "1", "--directory", str(tmp_path)]
    plain = subprocess.run(base, capture_output=True, text=True, cwd=REPO)
    assert plain.returncode == 0, plain.stderr[-3000:]
    jobs = _planned_jobs(plain)
    n_seeds, n_cycles = len(default["experiment"]["seeds"]), default["experiment"]["cycles"]
    one_shot = [
        name
        for name, block in default["experiment"]["strategies"].items()
        if (block or {}).get("variant_of", name) in ("random", "graphreach", "maxspec", "facility")
    ]
    assert len(one_shot) == 5  # random, graphreach, maxspec, facility and the variant graphreach_weighted
    assert jobs["split_test_set"] == n_seeds and jobs["train_gears"] == len(one_shot) * n_seeds * n_cycles
    # --config edits the default (nested values arrive as strings, so a string key is edited here)
    edited = subprocess.run(base + ["--config", "gears={'device': 'cpu'}"], capture_output=True, text=True, cwd=REPO)
    assert edited.returncode == 0, edited.stderr[-3000:]
    assert _planned_jobs(edited) == jobs
    bad = subprocess.run(base + ["--config", "gears={'device': 'tpu'}"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode != 0 and "device" in bad.stdout + bad.stderr
    # without any configuration (the workflow profile switched off), one clear line
    none = subprocess.run(base + ["--workflow-profile", "none"], capture_output=True, text=True, cwd=REPO)
    assert none.returncode != 0 and "no configuration: pass --configfile" in none.stdout + none.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "changes, old, new",
    [
        ({"experiment.batch_size": 3}, "experiment.batch_size", "experiment.perturbations_per_cycle"),
        ({"gears.batch_size": 32}, "gears.batch_size", "gears.cells_per_step"),
        ({"gears.test_batch_size": 64}, "gears.test_batch_size", "gears.cells_per_prediction_step"),
        (
            {"datasets.papalexi2021.batch_size": 3},
            "datasets.papalexi2021.batch_size",
            "datasets.papalexi2021.perturbations_per_cycle",
        ),
    ],
)
def test_renamed_keys_are_refused_with_their_new_name_before_any_job(tmp_path, shared_data, changes, old, new):
    config = _config(shared_data, **changes)
    result = _snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    assert f"config, field '{old}': renamed to {new}" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def _alias_bomb(levels: int = 5) -> dict:
    """Nested lists of ten references to the level below (1.9 KB of YAML once dumped with anchors)."""
    node = [1] * 10
    bomb = {"a": node}
    for name in "bcdefg"[: levels - 1]:
        node = [node] * 10
        bomb[name] = node
    return bomb


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"gears.lr": float("nan")}, "config, field 'gears.lr': must be a finite number, got nan"),
        ({"graph.threshold": float("nan")}, "config, field 'graph.threshold': must be a finite number, got nan"),
        (
            {"experiment.strategies.acsfw": {"sigma": float("inf")}},
            "config, field 'experiment.strategies.acsfw.sigma': must be a finite number, got inf",
        ),
        ({"experiment.cycles": 10**12}, "config, field 'experiment.cycles': must be at most 1000"),
        ({"gears.hidden_size": 1_000_000}, "config, field 'gears.hidden_size': must be at most 4096"),
        ({"gears.trainer": "batched"}, "config, field 'gears.trainer': 'batched' was renamed 'cells'"),
        ({"junk": _alias_bomb()}, "config: expands to 123,"),
        ({"gears.device": {"x": list(range(20_000))}}, "config, field 'gears.device': {'x': [0, 1, 2,"),
    ],
)
def test_bad_numbers_and_config_text_fail_in_one_line_before_any_job(tmp_path, shared_data, changes, message):
    """Issue 27 (1, 2): NaN, infinity and sizes beyond their maximum, in any block; an alias bomb; a renamed
    value; a schema error quoting a large block: one short line before any job, nothing written."""
    result = _snakemake(tmp_path, _config(shared_data, **changes), "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output
    assert len(output) < 5_000  # the alias bomb's schema error once printed 4 MB
    assert not (tmp_path / "results").exists()


def test_a_dataset_name_with_a_trailing_newline_fails_before_any_job(tmp_path, shared_data):
    config = _config(shared_data)
    config["datasets"]["papalexi2021\n"] = config["datasets"].pop("papalexi2021")
    result = _snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    assert (
        "config, field 'datasets': the key 'papalexi2021\\n' is not a printable name" in result.stdout + result.stderr
    )
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"experiment.strategies.typiclust": {"neighbors": 5}},
            "config, field 'experiment.strategies.typiclust.neighbors': not a parameter of strategy 'typiclust'",
        ),
        (
            {"experiment.strategies.hybrid": {"warmup_cycles": 2}},
            "config, field 'experiment.strategies.hybrid.warmup_cycles': 2 warm-up cycles leave no cycle of 2",
        ),
        (
            {"experiment.cycles": 1},
            "config, field 'experiment.cycles': the active strategy 'uncertainty' needs at least 2",
        ),
    ],
)
def test_bad_active_strategy_blocks_fail_before_any_job(tmp_path, shared_data, changes, message):
    result = _snakemake(tmp_path, _config(shared_data, **changes), "--dry-run", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_seeds_beyond_what_numpy_accepts_fail_in_the_schema(tmp_path, shared_data):
    config = _config(shared_data, **{"experiment.seeds": [1, 2**32]})
    result = _snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "seeds" in output and "4294967296" in output and "maximum" in output


def test_unknown_strategy_is_rejected_by_the_schema(tmp_path, shared_data):
    config = _config(shared_data)
    config["experiment"]["strategies"]["typo"] = {}
    result = _snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    assert "typo" in result.stdout + result.stderr


@pytest.mark.slow
def test_budget_larger_than_the_pool_fails_before_any_job_and_touches_nothing(pipeline_run):
    # It failed at split_test_set, after the graph and preprocessing jobs; the config check now refuses it
    # (the split stage keeps its own check for screens without a local file: tests/test_experiment.py).
    workdir, config = pipeline_run
    before = sorted((p, p.stat().st_mtime_ns) for p in (workdir / "results").rglob("*") if p.is_file())
    changed = _config(Path(config["go"]["mirror"]).parent, **{"experiment.perturbations_per_cycle": 12})
    result = _snakemake(workdir, changed, "--until", "split_test_set", check=False)
    assert result.returncode != 0
    assert "2 cycles x 12 perturbations per cycle = 24, but" in result.stdout + result.stderr
    assert sorted((p, p.stat().st_mtime_ns) for p in (workdir / "results").rglob("*") if p.is_file()) == before


@pytest.mark.slow
def test_design_target_ranks_the_replogle_list(tmp_path, shared_data):
    """`snakemake design` on config/test.yaml: GO files, graph, then the design outputs only."""
    config = _config(shared_data)
    for design_entry in config["design"].values():
        for key in ("genes", "screened"):
            if key in design_entry:
                design_entry[key] = str(shared_data / "genelists" / Path(design_entry[key]).name)
    entry = config["design"]["replogle_k562"]

    bad = yaml.safe_load(yaml.safe_dump(config))
    bad["design"]["replogle_k562"]["method"] = "random"
    result = _snakemake(tmp_path, bad, "design", "--dry-run", check=False)
    assert result.returncode != 0 and "random" in result.stdout + result.stderr
    both = yaml.safe_load(yaml.safe_dump(config))
    both["design"]["k562_after_adamson"]["budget"] = 100  # a budget and a per-cycle plan
    result = _snakemake(tmp_path, both, "design", "--dry-run", check=False)
    assert result.returncode != 0 and "k562_after_adamson" in result.stdout + result.stderr

    _snakemake(tmp_path, config, "design")
    design = tmp_path / "results" / "design"
    assert sorted(p.name for p in design.iterdir()) == sorted(
        f"{name}{suffix}"
        for name in ("replogle_k562", "k562_after_adamson", "norman_doubles")
        for suffix in (".coverage.svg", ".summary.json", ".tsv", ".unresolved.tsv")
    ) + ["summary.tsv"]
    picks = pd.read_csv(design / "replogle_k562.tsv", sep="\t")
    assert picks.columns.tolist() == [
        "rank",
        "gene",
        "query",
        "required",
        "gain",
        "covered_nodes",
        "coverage_fraction",
        "tie",
    ]
    assert picks["rank"].tolist() == list(range(1, entry["budget"] + 1))
    assert picks["covered_nodes"].is_monotonic_increasing
    unresolved = pd.read_csv(design / "replogle_k562.unresolved.tsv", sep="\t")
    assert sorted(unresolved["query"]) == ["C14orf178", "GARS", "MARS", "QARS", "RPS10-NUDT3", "SARS", "SEM1"]
    summary = pd.read_csv(design / "summary.tsv", sep="\t").set_index("design").loc["replogle_k562"]
    assert (summary["queries"], summary["candidates"], summary["alias"]) == (1092, 1085, 19)
    assert (summary["budget"], summary["method"], summary["hops"]) == (entry["budget"], "graphreach", 1)
    assert summary["covered_nodes"] == picks["covered_nodes"].iat[-1]
    assert (design / "replogle_k562.coverage.svg").read_text().startswith("<?xml")
    # the next screen after Adamson: its genes covered from the start, 5 cycles of 20
    after = pd.read_csv(design / "k562_after_adamson.tsv", sep="\t")
    assert after["cycle"].tolist() == [c for c in range(1, 6) for _ in range(20)]
    summary = pd.read_csv(design / "summary.tsv", sep="\t").set_index("design")
    row = summary.loc["k562_after_adamson"]
    assert (row["screened"], row["screened_perturbations"], row["start_covered_nodes"]) == (39, 83, 1186)
    assert (row["budget"], row["cycles"], row["perturbations_per_cycle"]) == (100, 5, 20)
    assert after["covered_nodes"].iat[0] > 1186
    doubles = pd.read_csv(design / "norman_doubles.tsv", sep="\t")
    assert len(doubles) == 20 and doubles["gene"].str.contains("+", regex=False).all()
    assert (summary.loc["norman_doubles", "candidates"], summary.loc["norman_doubles", "method"]) == (128, "maxspec")
    # only what the design needs ran: no dataset, selection or training jobs
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["benchmarks", "design", "graph"]

    too_large = yaml.safe_load(yaml.safe_dump(config))
    too_large["design"]["replogle_k562"]["budget"] = 5000
    result = _snakemake(tmp_path, too_large, "design", check=False)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "design_screen" / "replogle_k562.log").read_text()
    assert "config: design.replogle_k562, field 'budget': budget is 5000 but only 1085 of the 1092" in log
    assert not (design / "replogle_k562.tsv").exists()


@pytest.mark.slow
def test_edited_mirror_file_and_universe_list_rerun_what_depends_on_them(tmp_path, shared_data):
    import os
    import shutil

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("gene2go_human.gz", "go-basic.obo", "Homo_sapiens.gene_info.gz"):
        shutil.copy(shared_data / "go" / name, mirror / name)
    universe = tmp_path / "universe.txt"
    universe.write_text("\n".join(["STAT1", "IRF1", "JAK2", "IFNGR1", "IFNGR2", "SMAD4", "CD86"]) + "\n")
    config = _config(shared_data, **{"go.mirror": str(mirror), "graph.universe": str(universe)})
    work = tmp_path / "work"
    work.mkdir()
    _snakemake(work, config, "--until", "build_go_graph")
    assert _planned_jobs(_snakemake(work, config, "--until", "build_go_graph", "--dry-run")) == {}

    later = time.time() + 10  # newer than the graph however long building it took
    universe.write_text(universe.read_text() + "STAT2\n")
    os.utime(universe, (later, later))
    assert _planned_jobs(_snakemake(work, config, "--until", "build_go_graph", "--dry-run")) == {"build_go_graph": 1}

    os.utime(mirror / "go-basic.obo", (later + 10, later + 10))  # a replaced mirror file
    assert _planned_jobs(_snakemake(work, config, "--until", "build_go_graph", "--dry-run")) == {
        "fetch_go_annotation": 1,
        "build_go_graph": 1,
    }


@pytest.mark.slow
def test_paper_config_plans_its_whole_dag_without_the_data(tmp_path):
    """config/paper.yaml (the paper's protocol on GEARS's Replogle K562 and Adamson files): a dry run in an
    empty folder, where no dataset is present, plans every job."""
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert {name: block["format"] for name, block in config["datasets"].items()} == {
        "replogle_k562_essential": "gears",
        "adamson": "gears",
    }
    assert {name: block["perturbations_per_cycle"] for name, block in config["datasets"].items()} == {
        "replogle_k562_essential": 100,
        "adamson": 8,
    }
    seeds, cycles = len(config["experiment"]["seeds"]), config["experiment"]["cycles"]
    assert (seeds, cycles, config["gears"]["epochs"], config["gears"]["gpus"]) == (10, 5, 20, 1)
    assert sorted(config["experiment"]["strategies"]) == sorted(ONE_SHOT_STRATEGIES + ACTIVE_STRATEGIES)
    config["go"]["mirror"] = str(REPO.parent / "shared" / "data" / "go")
    start = time.perf_counter()
    result = _snakemake(tmp_path, config, "--dry-run")
    seconds = time.perf_counter() - start
    print(f"config/paper.yaml dry run: {seconds:.1f} s")
    jobs = _planned_jobs(result)
    datasets, inits = 2, config["experiment"]["stability"]["inits"]
    # one-shot runs train every cycle; the stability runs of one-shot strategies need no training
    assert jobs["train_gears"] == 3 * datasets * seeds * cycles == 300
    # active: every cycle of the main runs; the extra initialisations train only the models that pick
    # cycles 2..5 (cycles 1..4; hybrid's GraphReach warm-up needs none before cycle 2)
    extra = (3 * (cycles - 1) + (cycles - 2)) * (inits - 1) * datasets
    assert jobs["train_gears_active"] == 4 * datasets * seeds * cycles + extra == 520
    assert (jobs["fetch_dataset"], jobs["preprocess_dataset"], jobs["aggregate_report"]) == (2, 2, 2)
    assert sum(jobs.values()) == 1499  # `all` included


@pytest.mark.slow
def test_conda_envs_hold_what_each_rule_imports(pipeline_run):
    """Every distribution a rule's job imports from our code (traced in the test run: each absolute import
    that perturb_select's modules executed, lazy ones included, mapped to distributions with
    importlib.metadata) is in that rule's envs/*.yaml: pinned there, or a requirement of a pinned
    package (pip installs it with it, and so whatever that package needs)."""
    import importlib.metadata as metadata

    workdir, _ = pipeline_run
    envs = _rule_envs()
    owners = metadata.packages_distributions()
    traced = sorted(p.name for p in (workdir / "import_trace").iterdir())
    assert set(traced) >= {
        "build_go_graph",
        "preprocess_dataset",
        "train_gears",
        "train_gears_active",
        "select",
        "select_active",
        "graph_kernel",
        "aggregate_report",
        "fetch_dataset",
    }
    missing = []
    for rule in traced:
        modules = set()
        for trace in (workdir / "import_trace" / rule).iterdir():
            modules |= set(trace.read_text().split())
        missing += [
            f"{envs[rule]} (rule {rule}) lacks {m}" for m in _missing_distributions(modules, envs[rule], owners)
        ]
    assert not missing, "\n".join(missing)
    # the check can fail: the GO graph's imports against the active-learning environment (no goatools there)
    go_modules = {m for t in (workdir / "import_trace" / "build_go_graph").glob("*.txt") for m in t.read_text().split()}
    assert _missing_distributions(go_modules, "envs/torch-bmdal.yaml", owners) == ["goatools (imports goatools)"]
    # stages import no more than their rules need: split, kernel and report jobs load neither torch nor PyG,
    # training jobs torch alone (GEARS's network on a torch-only SGConv, not PyG; not the gears package)
    for rule in ("graph_kernel", "split_test_set", "aggregate_report"):
        modules = {m for t in (workdir / "import_trace" / rule).glob("*.txt") for m in t.read_text().split()}
        assert not modules & {"torch", "torch_geometric", "gears", "scanpy", "anndata"}, (rule, sorted(modules))
    for rule in ("train_gears", "train_gears_active"):
        modules = {m for t in (workdir / "import_trace" / rule).glob("*.txt") for m in t.read_text().split()}
        assert "torch" in modules and not modules & {"torch_geometric", "gears", "scanpy", "anndata"}, (
            rule,
            sorted(modules),
        )


def _missing_distributions(modules: set[str], env: str, owners: dict) -> list[str]:
    """Distributions of ``modules`` that ``env`` neither pins nor gets through a pinned package."""
    provided = _env_closure(REPO / env)
    missing = []
    for module in sorted(modules):
        if module in sys.stdlib_module_names or module in ("perturb_select", "__main__"):
            continue
        distributions = {_normalise(d) for d in owners.get(module, [])}
        if distributions and not distributions & provided:
            missing.append(f"{'/'.join(sorted(distributions))} (imports {module})")
    return missing


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _rule_envs() -> dict[str, str]:
    """rule -> envs/<name>.yaml, from the rule files (`use rule X as Y` inherits X's environment)."""
    text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    envs = {}
    for block in re.split(r"\n(?=rule \w+:)", text):
        match = re.match(r"rule (\w+):", block)
        env = re.search(r'conda:\s*"\.\./\.\./(envs/[^"]+)"', block)
        if match and env:
            envs[match.group(1)] = env.group(1)
    for base, alias in re.findall(r"use rule (\w+) as (\w+)", text):
        envs[alias] = envs[base]
    return envs


def _env_closure(env_file: Path) -> set[str]:
    """The pip pins of a conda env file and, transitively, what they require (installed metadata)."""
    import importlib.metadata as metadata

    spec = yaml.safe_load(env_file.read_text())
    pins = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    todo = [_normalise(re.split(r"[=<>!~ ]", pin)[0]) for pin in pins]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(_normalise(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)))
    return seen
