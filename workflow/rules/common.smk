import os
import sys

from snakemake.utils import validate

# the library: strategy checks before any job
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from perturb_select.io import InputError
from perturb_select.strategies import ACTIVE, ONE_SHOT, active_params, run_label

validate(config, schema="../schemas/config.schema.yaml")

GO_FILES = {"gene2go": "gene2go.gz", "obo": "go-basic.obo", "gene_info": "gene_info.gz"}
GO_FILE_KEYS = {name: key for key, name in GO_FILES.items()}
DATASETS = list(config["datasets"])
STRATEGIES = list(config["experiment"]["strategies"])
SEEDS = [int(s) for s in config["experiment"]["seeds"]]
CYCLES = list(range(1, int(config["experiment"]["cycles"]) + 1))
GRAPH_STRATEGIES = {"graphreach", "maxspec"}
# Active strategies' parameters over their documented defaults; a bad block fails here, before any job.
ACTIVE_PARAMS = {
    name: active_params(
        name,
        block,
        hops=config["gears"]["num_go_gnn_layers"],
        cycles=config["experiment"]["cycles"],
    )
    for name, block in config["experiment"]["strategies"].items()
    if name in ACTIVE
}
if ACTIVE_PARAMS and config["gears"].get("trainer", "batched") != "batched":
    raise InputError(
        "config",
        "gears.trainer",
        f"the active strategies {sorted(ACTIVE_PARAMS)} need the batched trainer (it scores the pool)",
    )
ONE_SHOT_STRATEGIES = [s for s in STRATEGIES if s in ONE_SHOT]
ACTIVE_STRATEGIES = [s for s in STRATEGIES if s in ACTIVE]
# Stability analysis: R initialisation seeds on one split (the first run is the main run of that seed).
STABILITY = config["experiment"].get("stability") or {}
STABILITY_SPLIT = int(
    STABILITY.get("split_seed") if STABILITY.get("split_seed") is not None else SEEDS[0]
)
STABILITY_RUNS = [
    run_label(STABILITY_SPLIT, STABILITY_SPLIT + r)
    for r in range(int(STABILITY.get("inits", 5)))
]


def _alternatives(names):
    return "|".join(names) if names else "(?!x)x"  # a regex that matches nothing


wildcard_constraints:
    dataset="|".join(DATASETS),
    strategy="|".join(STRATEGIES),
    seed=r"\d+(?:-\d+)?",  # a run: SEED (split and initialisation), or SPLIT-INIT (stability analysis)
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
    source = dataset_source(wildcards)
    return mirror_file(
        source["mirror"], source["mirror_name"] or os.path.basename(source["url"] or "")
    )


def graph_universe_input(wildcards):
    """The optional universe gene list: an input, so editing it rebuilds the graph."""
    universe = config["graph"].get("universe")
    return [universe] if universe else []


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def batch_size_of(wildcards):
    """Perturbations added per cycle: the dataset's own batch_size, else experiment.batch_size."""
    return int(
        config["datasets"][wildcards.dataset].get(
            "batch_size", config["experiment"]["batch_size"]
        )
    )


def dataset_source(wildcards):
    ds = dataset_config(wildcards)
    return {
        "url": ds.get("url"),
        "mirror": ds.get("mirror"),
        "mirror_name": ds.get("mirror_name"),
        "sha256": ds.get("sha256"),
        # GEARS-layout datasets come as archives: take their processed file out (gears_data.py)
        "archive_member": (
            ds.get("archive_member", "perturb_processed.h5ad")
            if ds.get("format") == "gears"
            else None
        ),
    }


def strategy_params(wildcards):
    """Only this strategy's block reaches its rules, so editing one selector reruns only its jobs."""
    if wildcards.strategy in ACTIVE_PARAMS:
        return dict(ACTIVE_PARAMS[wildcards.strategy])
    params = dict(config["experiment"]["strategies"][wildcards.strategy] or {})
    if wildcards.strategy in GRAPH_STRATEGIES:
        # K = GEARS's number of GO-graph SGC layers unless the strategy block says otherwise.
        params.setdefault("hops", config["gears"]["num_go_gnn_layers"])
    return params


def training_inputs(wildcards):
    """What a training job reads: the binary screen and graph (batched), or GEARS's own files (cell-gears)."""
    if config["gears"].get("trainer", "batched") == "cell-gears":
        return {
            "adata": f"results/data/{wildcards.dataset}/perturb_processed.h5ad",
            "edges": "results/graph/go_jaccard.tsv",
            "gene2go": "results/graph/gene2go.pkl",
        }
    return {
        "screen": f"results/data/{wildcards.dataset}/screen.npz",
        "edges": "results/graph/go_jaccard.npz",
    }


def split_file(wildcards):
    """The split of a run's split seed (``seed{s}`` or ``seed{s}-{init}``)."""
    return f"results/splits/{wildcards.dataset}/seed{wildcards.seed.split('-')[0]}.json"


def active_picks(wildcards, cycles):
    return [
        f"results/select/{wildcards.dataset}/{wildcards.strategy}/seed{wildcards.seed}/cycle{c}.tsv"
        for c in range(1, cycles + 1)
    ]


def active_select_inputs(wildcards):
    """Cycle c of an active strategy: the picks of cycles 1..c-1 and what cycle c-1's model made of the pool."""
    cycle = int(wildcards.cycle)
    params = ACTIVE_PARAMS[wildcards.strategy]
    inputs = {
        "split": split_file(wildcards),
        "picks": active_picks(wildcards, cycle - 1),
    }
    if cycle > max(1, params.get("warmup_cycles", 0)):
        run = f"{wildcards.dataset}/{wildcards.strategy}/seed{wildcards.seed}"
        inputs["pool_scores"] = f"results/train/{run}/cycle{cycle - 1}/pool_scores.npz"
    if cycle <= params.get("warmup_cycles", 0):
        inputs["edges"] = "results/graph/go_jaccard.npz"
    return inputs


def active_training_picks(wildcards):
    return active_picks(wildcards, int(wildcards.cycle))


def selection_input(wildcards):
    """What a cycle trains on: a one-shot ranking, or an active strategy's pick files of cycles 1..c."""
    if wildcards.strategy in ACTIVE_PARAMS:
        return active_training_picks(wildcards)
    return f"results/select/{wildcards.dataset}/{wildcards.strategy}/seed{wildcards.seed}.tsv"


def stability_runs(wildcards):
    """{strategy: [files of each run]}: a one-shot ranking, or an active run's pick files of every cycle."""
    runs = {}
    for strategy in STRATEGIES:
        runs[strategy] = []
        for run in STABILITY_RUNS:
            base = f"results/select/{wildcards.dataset}/{strategy}/seed{run}"
            if strategy in ACTIVE_PARAMS:
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
    return outputs


def metric_files(wildcards):
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


# optional symbol files of a design entry
DESIGN_LISTS = ("screened", "require", "exclude")


def design_inputs(wildcards):
    """The candidate list and the optional screened/require/exclude files of one design entry."""
    entry = config["design"][wildcards.design]
    return {
        "genes": entry["genes"],
        **{key: entry[key] for key in DESIGN_LISTS if entry.get(key)},
    }
