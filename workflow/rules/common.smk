import dataclasses
import os
import sys

from snakemake.utils import validate

# the library: the typed configuration, checked before any job
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from perturb_select.config import (
    GO_FILE_NAMES,
    TRAINER_REGISTRY,
    canonical_params,
    check_before_schema,
    check_schema,
    load_config,
)
from perturb_select.experiment.runs import RUN_PATTERN, run_label, run_seeds
from perturb_select.experiment.splits import check_plans_fit
from perturb_select.knowledge.fetch import go_source, mirror_copy

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
# Each job gets its typed block once: every field, filled in here by load_config (to_params; keys sorted, as
# rule params are compared as text, so a config with its keys in another order plans no job again), rebuilt in
# the job by from_params, which fills in no default.
GRAPH_PARAMS = CONFIG.graph.to_params()  # with go.taxid
GEARS_PARAMS = CONFIG.training.to_params()
TRAINER = TRAINER_REGISTRY[CONFIG.training.trainer]
# A plan larger than a local screen's perturbations, before the graph and preprocessing jobs.
check_plans_fit(CONFIG)

# the name each GO file is fetched under in resources/go/ (the last of the library's names for it)
GO_FILES = {key: names[-1] for key, names in GO_FILE_NAMES.items()}
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
    run=RUN_PATTERN,  # a run: SEED, or SPLIT-INIT (stability analysis)
    cycle=r"\d+",
    go_file="|".join(GO_FILES.values()),


def go_path(key):
    return f"resources/go/{GO_FILES[key]}"


def get_go_source(wildcards):
    """Fetch parameters of one GO file: URL, mirror directory and file name, optional sha256."""
    return go_source(config["go"], GO_FILE_KEYS[wildcards.go_file])


def get_mirror_input(source):
    """The mirror copy as an input (so a replaced mirror file is fetched again), or none when absent."""
    path = mirror_copy(source["url"], source["mirror"], source["mirror_name"])
    return [str(path)] if path is not None else []


def get_go_mirror(wildcards):
    return get_mirror_input(get_go_source(wildcards))


def get_dataset_mirror(wildcards):
    return get_mirror_input(CONFIG.datasets[wildcards.dataset].source())


def get_universe(wildcards):
    """The optional universe gene list: an input, so editing it rebuilds the graph."""
    return [CONFIG.graph.universe] if CONFIG.graph.universe else []


def get_screen_folder(dataset, split_seed):
    """The folder of the screen a run of split seed ``split_seed`` reads: ``results/data/{dataset}``, or for a
    replicated SIMULATED dataset that seed's own screen, ``results/data/{dataset}/replicate{split_seed}``.
    """
    if dataset in REPLICATED_DATASETS:
        return f"results/data/{dataset}/replicate{split_seed}"
    return f"results/data/{dataset}"


def get_screen(wildcards):
    """The raw or GEARS-layout screen of a dataset: fetched, or drawn (SIMULATED) in its results folder (a
    replicated dataset's replicate ``{seed}``: rule preprocess_replicate)."""
    if wildcards.dataset in SIMULATED_DATASETS:
        return f"{get_screen_folder(wildcards.dataset, wildcards.get('seed'))}/simulated_counts.h5ad"
    return f"resources/datasets/{wildcards.dataset}.h5ad"


def get_dataset_candidates(wildcards):
    """A replicate's processed screen is checked against its dataset's candidates (rule preprocess_replicate);
    nothing for a dataset with one screen."""
    if wildcards.dataset in REPLICATED_DATASETS:
        return {
            "dataset_candidates": f"results/data/{wildcards.dataset}/candidates.tsv"
        }
    return {}


def get_simulation_inputs(wildcards):
    """A simulated dataset's candidate list and reference screen: inputs, so editing either redraws it."""
    block = CONFIG.datasets[wildcards.dataset]
    return {"candidates": block.candidates, "reference": block.reference}


def get_simulation(wildcards):
    """A SIMULATED dataset's simulation settings as a dict (the report names them), else None."""
    block = CONFIG.datasets[wildcards.dataset]
    return dataclasses.asdict(block.simulation) if block.simulated else None


def get_dataset_block(wildcards):
    """The dataset's typed block as its screen's jobs get it (``DatasetConfig.screen_params``: the plan left out;
    ``from_params`` in the stage)."""
    return CONFIG.datasets[wildcards.dataset].screen_params()


def get_perturbations_per_cycle(wildcards):
    """Perturbations added per cycle: the dataset's own value, else experiment.perturbations_per_cycle."""
    return CONFIG.perturbations_per_cycle_of(wildcards.dataset)


def get_strategy_params(wildcards):
    """Only this strategy's block reaches its rules, so editing one selector reruns only its jobs (sorted
    keys: reordering them reruns nothing)."""
    return canonical_params(CONFIG.experiment.strategies[wildcards.strategy])


def get_scoring_inputs(wildcards):
    """What scoring the baselines reads of the screen: its arrays and a SIMULATED screen's truth (the
    oracle); of a replicated SIMULATED dataset, the screen of the run's split seed (a stability run shares
    its split's)."""
    folder = get_screen_folder(wildcards.dataset, get_split_seed(wildcards))
    inputs = {"screen": f"{folder}/screen.npz"}
    if wildcards.dataset in SIMULATED_DATASETS:
        inputs["truth"] = f"{folder}/simulated_truth.npz"
    return inputs


def get_training_inputs(wildcards):
    """What a training job reads: the files the configured trainer takes (``config.TRAINER_REGISTRY``), and
    what the baselines scored in the same job read (:func:`get_scoring_inputs`)."""
    scored = get_scoring_inputs(wildcards)
    folder = get_screen_folder(wildcards.dataset, get_split_seed(wildcards))
    files = {
        "screen": scored["screen"],
        "adata": f"{folder}/perturb_processed.h5ad",
        "gene2go": "results/graph/gene2go.pkl",
        # the cell-gears trainer reads the edge table as GEARS would; the others the fast .npz
        "edges": f"results/graph/{TRAINER.edge_file}",
    }
    keys = {"screen", *TRAINER.inputs}
    inputs = {key: files[key] for key in sorted(keys)}
    if "truth" in scored:  # the oracle, scored beside the baselines
        inputs["truth"] = scored["truth"]
    return inputs


def get_run(wildcards):
    """The run label of a job: ``{run}`` (selection and training rules) or ``{seed}`` (a main run)."""
    return wildcards.get("run") or wildcards.seed


def get_init_seed(wildcards):
    """The initialisation seed of a job's run (``{i}`` of ``seed{s}-{i}``; ``{s}`` of a main run)."""
    return run_seeds(get_run(wildcards))[1]


def get_split_seed(wildcards):
    """The split seed of a job's run (``{s}`` of ``seed{s}`` or ``seed{s}-{init}``)."""
    return run_seeds(get_run(wildcards))[0]


def get_split(wildcards):
    """The split of a run's split seed (``seed{s}`` or ``seed{s}-{init}``)."""
    return f"results/splits/{wildcards.dataset}/seed{get_split_seed(wildcards)}.json"


def get_active_picks(wildcards, cycles):
    run = get_run(wildcards)
    return [
        f"results/select/{wildcards.dataset}/{wildcards.strategy}/seed{run}/cycle{c}.tsv"
        for c in range(1, cycles + 1)
    ]


def get_active_select_inputs(wildcards):
    """Cycle c of an active strategy: the picks of cycles 1..c-1 and what cycle c-1's model made of the pool."""
    cycle = int(wildcards.cycle)
    warmup = CONFIG.experiment.strategies[wildcards.strategy].get("warmup_cycles", 0)
    inputs = {
        "split": get_split(wildcards),
        "picks": get_active_picks(wildcards, cycle - 1),
    }
    if cycle > max(1, warmup):
        run = f"{wildcards.dataset}/{wildcards.strategy}/seed{wildcards.run}"
        inputs["pool_scores"] = f"results/train/{run}/cycle{cycle - 1}/pool_scores.npz"
    if cycle <= warmup:
        inputs["edges"] = "results/graph/go_jaccard.npz"
    return inputs


def get_active_training_picks(wildcards):
    return get_active_picks(wildcards, int(wildcards.cycle))


def get_stability_runs(wildcards):
    """{strategy: [files of each run]}: a one-shot ranking, or an active run's pick files of every cycle.
    Strategies in sorted order: the params must not depend on the order the config lists them in.
    """
    runs = {}
    for strategy in sorted(STRATEGIES):
        runs[strategy] = []
        for run in STABILITY_RUNS:
            base = f"results/select/{wildcards.dataset}/{strategy}/seed{run}"
            if strategy in ACTIVE_STRATEGIES:
                runs[strategy].append([f"{base}/cycle{c}.tsv" for c in CYCLES])
            else:
                runs[strategy].append([f"{base}.tsv"])
    return runs


def get_stability_files(wildcards):
    return [
        f
        for runs in get_stability_runs(wildcards).values()
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


def get_simulated_truths():
    """Each SIMULATED dataset's truth, as the map labels it: its mechanism and graph_signal."""
    return {
        name: f"{CONFIG.datasets[name].simulation.mechanism}, graph_signal {CONFIG.datasets[name].simulation.graph_signal:g}"
        for name in SIMULATED_DATASETS
    }


def get_map_cycles():
    """The map's cycles: the first, the middle and the last."""
    last = CONFIG.experiment.cycles
    return sorted({1, (last + 1) // 2, last})


def get_metric_files(wildcards):
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


def get_baseline_files(wildcards):
    return expand(
        "results/baselines/{dataset}/{strategy}/seed{seed}/cycle{cycle}.json",
        dataset=wildcards.dataset,
        strategy=STRATEGIES,
        seed=SEEDS,
        cycle=CYCLES,
    )


def get_design_block(wildcards):
    """One typed design entry, its hops filled in (``DesignConfig.to_params``; ``from_params`` in the stage)."""
    return CONFIG.designs[wildcards.design].to_params()


def get_design_inputs(wildcards):
    """The candidate list and the optional screened/require/exclude files of one design entry (unnamed: the
    stage reads them from the entry)."""
    entry = CONFIG.designs[wildcards.design]
    return [entry.genes, *entry.lists().values()]
