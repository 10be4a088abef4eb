import dataclasses
import os
import sys

from snakemake.utils import validate

# the library: the typed configuration, checked before any job
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from perturb_select.config import (
    canonical_params,
    check_before_schema,
    check_schema,
    load_config,
)
from perturb_select.experiment.runs import run_label, run_seeds
from perturb_select.experiment.splits import check_plans_fit
from perturb_select.gears import TRAINER_INPUTS

# No config at all, an alias bomb, a renamed key or value (named with its new name), a key with a control
# character, a NaN or infinite number, an integer above its maximum: before the schema's generic messages.
check_before_schema(config)
# The schema's errors in one line naming the key (snakemake's validate prints the whole block at fault);
# then validate fills in the schema's defaults.
check_schema(
    config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
)
validate(config, schema="../schemas/config.schema.yaml")
CONFIG = load_config(config)
# Rule params are compared as text (their repr): blocks go to rules with sorted keys, so a config with its
# keys in another order plans no job again.
GRAPH_PARAMS = canonical_params(config["graph"])
GEARS_PARAMS = canonical_params(config["gears"])
# A plan larger than a local screen's perturbations, before the graph and preprocessing jobs.
check_plans_fit(CONFIG)

GO_FILES = {"gene2go": "gene2go.gz", "obo": "go-basic.obo", "gene_info": "gene_info.gz"}
GO_FILE_KEYS = {name: key for key, name in GO_FILES.items()}
DATASETS = list(CONFIG.datasets)
SIMULATED_DATASETS = [
    name for name, block in CONFIG.datasets.items() if block.simulated
]
FETCHED_DATASETS = [name for name in DATASETS if name not in SIMULATED_DATASETS]
# SIMULATED datasets with simulation.replicate_screens: one screen per experiment seed, drawn and processed
# under results/data/{dataset}/replicate{seed}/ (rules simulate_replicate, preprocess_replicate); every other
# dataset has one screen in results/data/{dataset}/.
REPLICATED_DATASETS = [
    name
    for name in SIMULATED_DATASETS
    if CONFIG.datasets[name].simulation.replicate_screens
]
SINGLE_SCREEN_DATASETS = [name for name in DATASETS if name not in REPLICATED_DATASETS]
STRATEGIES = list(CONFIG.experiment.strategies)
SEEDS = list(CONFIG.experiment.seeds)
CYCLES = list(range(1, CONFIG.experiment.cycles + 1))
# a variant (experiment.strategies.<name>.variant_of) is of the kind of the strategy it runs
ACTIVE_STRATEGIES = [s for s in STRATEGIES if CONFIG.experiment.is_active(s)]
ONE_SHOT_STRATEGIES = [s for s in STRATEGIES if s not in ACTIVE_STRATEGIES]
# gears.trainer: none (config.NO_TRAINER) trains no GEARS: each run's baselines are scored by rule
# score_baselines instead of train_gears (the config refuses the active strategies then).
TRAINS_GEARS = CONFIG.training.trains_gears
GEARS_STRATEGIES = ONE_SHOT_STRATEGIES if TRAINS_GEARS else []
BASELINE_ONLY_STRATEGIES = [] if TRAINS_GEARS else ONE_SHOT_STRATEGIES
# Stability analysis: R initialisation seeds on one split (the first run is the main run of that seed).
STABILITY_RUNS = [
    run_label(split, init) for split, init in CONFIG.experiment.stability_seeds
]
DESIGNS = list(CONFIG.designs)


def _alternatives(names):
    return "|".join(names) if names else "(?!x)x"  # a regex that matches nothing


wildcard_constraints:
    dataset="|".join(DATASETS),
    strategy="|".join(STRATEGIES),
    seed=r"\d+",  # a split seed (and the initialisation seed of its main run)
    run=r"\d+(?:-\d+)?",  # a run: SEED, or SPLIT-INIT (stability analysis)
    cycle=r"\d+",
    go_file="|".join(GO_FILES.values()),


def go_path(key):
    return f"resources/go/{GO_FILES[key]}"


def go_source(wildcards):
    """Fetch parameters of one GO file: URL, mirror directory and file name, optional sha256."""
    source = config["go"]["sources"][GO_FILE_KEYS[wildcards.go_file]]
    return {
        "url": source["url"],
        "mirror": config["go"].get("mirror"),
        "mirror_name": source.get("mirror_name"),
        "sha256": source.get("sha256"),
    }


def mirror_file(mirror, name):
    """The mirror copy as an input (so a replaced mirror file is fetched again), or none when absent."""
    if mirror and name and os.path.isfile(os.path.join(mirror, name)):
        return [os.path.join(mirror, name)]
    return []


def go_mirror_input(wildcards):
    source = go_source(wildcards)
    return mirror_file(
        source["mirror"], source["mirror_name"] or os.path.basename(source["url"] or "")
    )


def dataset_mirror_input(wildcards):
    source = CONFIG.datasets[wildcards.dataset].source()
    return mirror_file(
        source["mirror"], source["mirror_name"] or os.path.basename(source["url"] or "")
    )


def graph_universe_input(wildcards):
    """The optional universe gene list: an input, so editing it rebuilds the graph."""
    return [CONFIG.graph.universe] if CONFIG.graph.universe else []


def screen_folder(dataset, split_seed):
    """The folder of the screen a run of split seed ``split_seed`` reads: ``results/data/{dataset}``, or for a
    replicated SIMULATED dataset that seed's own screen, ``results/data/{dataset}/replicate{split_seed}``.
    """
    if dataset in REPLICATED_DATASETS:
        return f"results/data/{dataset}/replicate{split_seed}"
    return f"results/data/{dataset}"


def screen_input(wildcards):
    """The raw or GEARS-layout screen of a dataset: fetched, or drawn (SIMULATED) in its results folder (a
    replicated dataset's replicate ``{seed}``: rule preprocess_replicate)."""
    if wildcards.dataset in SIMULATED_DATASETS:
        return f"{screen_folder(wildcards.dataset, wildcards.get('seed'))}/simulated_counts.h5ad"
    return f"resources/datasets/{wildcards.dataset}.h5ad"


def dataset_candidates_input(wildcards):
    """A replicate's processed screen is checked against its dataset's candidates (rule preprocess_replicate);
    nothing for a dataset with one screen."""
    if wildcards.dataset in REPLICATED_DATASETS:
        return {
            "dataset_candidates": f"results/data/{wildcards.dataset}/candidates.tsv"
        }
    return {}


def simulation_inputs(wildcards):
    """A simulated dataset's candidate list and reference screen: inputs, so editing either redraws it."""
    block = CONFIG.datasets[wildcards.dataset]
    return {"candidates": block.candidates, "reference": block.reference}


def simulation_of(wildcards):
    """A SIMULATED dataset's simulation settings as a dict (the report names them), else None."""
    block = CONFIG.datasets[wildcards.dataset]
    return dataclasses.asdict(block.simulation) if block.simulated else None


def dataset_block(wildcards):
    """The dataset's config block with sorted keys (``config.DatasetConfig`` in the stage)."""
    return canonical_params(config["datasets"][wildcards.dataset])


def per_cycle_of(wildcards):
    """Perturbations added per cycle: the dataset's own value, else experiment.perturbations_per_cycle."""
    return CONFIG.per_cycle(wildcards.dataset)


def strategy_params(wildcards):
    """Only this strategy's block reaches its rules, so editing one selector reruns only its jobs (sorted
    keys: reordering them reruns nothing)."""
    return canonical_params(CONFIG.experiment.strategies[wildcards.strategy])


def scoring_inputs(wildcards):
    """What scoring the baselines reads of the screen: its arrays and a SIMULATED screen's truth (the
    oracle); of a replicated SIMULATED dataset, the screen of the run's split seed (a stability run shares
    its split's)."""
    folder = screen_folder(wildcards.dataset, split_seed_of(wildcards))
    inputs = {"screen": f"{folder}/screen.npz"}
    if wildcards.dataset in SIMULATED_DATASETS:
        inputs["truth"] = f"{folder}/simulated_truth.npz"
    return inputs


def training_inputs(wildcards):
    """What a training job reads: the files the configured trainer takes (``gears.TRAINER_INPUTS``), and
    what the baselines scored in the same job read (:func:`scoring_inputs`)."""
    scored = scoring_inputs(wildcards)
    folder = screen_folder(wildcards.dataset, split_seed_of(wildcards))
    files = {
        "screen": scored["screen"],
        "adata": f"{folder}/perturb_processed.h5ad",
        "gene2go": "results/graph/gene2go.pkl",
        # the cell-gears trainer reads the edge table as GEARS would; the others the fast .npz
        "edges": (
            "results/graph/go_jaccard.tsv"
            if CONFIG.training.trainer == "cell-gears"
            else "results/graph/go_jaccard.npz"
        ),
    }
    keys = {"screen", *TRAINER_INPUTS[CONFIG.training.trainer]}
    inputs = {key: files[key] for key in sorted(keys)}
    if "truth" in scored:  # the oracle, scored beside the baselines
        inputs["truth"] = scored["truth"]
    return inputs


def run_of(wildcards):
    """The run label of a job: ``{run}`` (selection and training rules) or ``{seed}`` (a main run)."""
    return wildcards.get("run") or wildcards.seed


def split_seed_of(wildcards):
    """The split seed of a job's run (``{s}`` of ``seed{s}`` or ``seed{s}-{init}``)."""
    return run_seeds(run_of(wildcards))[0]


def split_file(wildcards):
    """The split of a run's split seed (``seed{s}`` or ``seed{s}-{init}``)."""
    return f"results/splits/{wildcards.dataset}/seed{split_seed_of(wildcards)}.json"


def active_picks(wildcards, cycles):
    run = run_of(wildcards)
    return [
        f"results/select/{wildcards.dataset}/{wildcards.strategy}/seed{run}/cycle{c}.tsv"
        for c in range(1, cycles + 1)
    ]


def active_select_inputs(wildcards):
    """Cycle c of an active strategy: the picks of cycles 1..c-1 and what cycle c-1's model made of the pool."""
    cycle = int(wildcards.cycle)
    warmup = CONFIG.experiment.strategies[wildcards.strategy].get("warmup_cycles", 0)
    inputs = {
        "split": split_file(wildcards),
        "picks": active_picks(wildcards, cycle - 1),
    }
    if cycle > max(1, warmup):
        run = f"{wildcards.dataset}/{wildcards.strategy}/seed{wildcards.run}"
        inputs["pool_scores"] = f"results/train/{run}/cycle{cycle - 1}/pool_scores.npz"
    if cycle <= warmup:
        inputs["edges"] = "results/graph/go_jaccard.npz"
    return inputs


def active_training_picks(wildcards):
    return active_picks(wildcards, int(wildcards.cycle))


def stability_runs(wildcards):
    """{strategy: [files of each run]}: a one-shot ranking, or an active run's pick files of every cycle."""
    runs = {}
    for strategy in STRATEGIES:
        runs[strategy] = []
        for run in STABILITY_RUNS:
            base = f"results/select/{wildcards.dataset}/{strategy}/seed{run}"
            if strategy in ACTIVE_STRATEGIES:
                runs[strategy].append([f"{base}/cycle{c}.tsv" for c in CYCLES])
            else:
                runs[strategy].append([f"{base}.tsv"])
    return runs


def stability_files(wildcards):
    return [
        f
        for runs in stability_runs(wildcards).values()
        for files in runs
        for f in files
    ]


def all_outputs():
    outputs = [
        "results/graph/go_jaccard.tsv",
        "results/graph/go_jaccard.stats.json",
    ]
    for dataset in DATASETS:
        outputs += [
            f"results/report/{dataset}/summary.tsv",
            f"results/report/{dataset}/metrics.tsv",
            f"results/report/{dataset}/mse_top20_de.svg",
            f"results/report/{dataset}/pearson_delta.svg",
            f"results/report/{dataset}/learning_curves.svg",
            f"results/report/{dataset}/comparison.tsv",
            f"results/report/{dataset}/conclusions.txt",
        ]
        if len(STABILITY_RUNS) >= 2:
            outputs.append(f"results/report/{dataset}/stability.svg")
    if SIMULATED_DATASETS:
        outputs += [
            "results/report/simulated_map.tsv",
            "results/report/simulated_map.svg",
        ]
    return outputs


def simulated_truths():
    """Each SIMULATED dataset's truth, as the map labels it: its mechanism and graph_signal."""
    return {
        name: f"{CONFIG.datasets[name].simulation.mechanism}, graph_signal {CONFIG.datasets[name].simulation.graph_signal:g}"
        for name in SIMULATED_DATASETS
    }


def map_cycles():
    """The map's cycles: the first, the middle and the last."""
    last = CONFIG.experiment.cycles
    return sorted({1, (last + 1) // 2, last})


def metric_files(wildcards):
    """GEARS's metrics of every run and cycle; none with ``gears.trainer: none``."""
    if not TRAINS_GEARS:
        return []
    return expand(
        "results/metrics/{dataset}/{strategy}/seed{seed}/cycle{cycle}.json",
        dataset=wildcards.dataset,
        strategy=STRATEGIES,
        seed=SEEDS,
        cycle=CYCLES,
    )


def baseline_files(wildcards):
    return expand(
        "results/baselines/{dataset}/{strategy}/seed{seed}/cycle{cycle}.json",
        dataset=wildcards.dataset,
        strategy=STRATEGIES,
        seed=SEEDS,
        cycle=CYCLES,
    )


def design_block(wildcards):
    """One design entry with sorted keys (``config.DesignConfig`` in the stage)."""
    return canonical_params(config["design"][wildcards.design])


def design_inputs(wildcards):
    """The candidate list and the optional screened/require/exclude files of one design entry."""
    entry = CONFIG.designs[wildcards.design]
    return {"genes": entry.genes, **entry.lists()}
